//! A source file's text kept for diagnostics: turning spans into `file:line:col` and into
//! miette sources with a caret.

use super::yaml::Span;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user gave it, shown in messages.
    pub name: String,
    pub text: Arc<str>,
}

impl Source {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Source {
        Source {
            name: name.into(),
            text: text.into(),
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }

    /// `file:line:col` of a span, as editors and terminals link it.
    pub fn location(&self, span: Span) -> String {
        let (line, col) = self.line_col(span.offset);
        format!("{}:{line}:{col}", self.name)
    }

    pub fn named(&self) -> miette::NamedSource<String> {
        miette::NamedSource::new(self.name.clone(), self.text.to_string()).with_language("yaml")
    }

    /// The source line holding `span`, for one-line excerpts in host failure messages.
    pub fn line_text(&self, span: Span) -> &str {
        let offset = floor_char_boundary(&self.text, span.offset.min(self.text.len()));
        let start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        &self.text[start..end]
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let src = Source::new("p.yml", "a: 1\nbb: 2\n");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(5), (2, 1));
        assert_eq!(src.line_col(9), (2, 5));
        assert_eq!(src.location(Span { offset: 5, len: 2 }), "p.yml:2:1");
        assert_eq!(src.line_text(Span { offset: 6, len: 0 }), "bb: 2");
    }
}
