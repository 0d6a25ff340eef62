//! Ansible's `yaml` inventory format: top-level keys are groups, each a mapping of `hosts`
//! (host -> vars mapping or empty), `vars` and `children` (group -> the same shape, to any
//! depth). Unlike Ansible, which warns and skips, an unknown key in a group or a group that is
//! not a mapping is an error pointing at it: a typo there silently drops hosts or vars.

use super::InventoryError;
use super::build::Builder;
use super::error::SourceFile;
use super::host_range;
use crate::suggest::did_you_mean;
use crate::yaml::{Node, to_json};
use miette::SourceSpan;
use serde_saphyr::Spanned;

const GROUP_KEYS: [&str; 3] = ["hosts", "vars", "children"];

/// What a file of unknown format turned out to be when read as YAML.
pub(crate) enum Probe {
    /// A mapping of group-shaped values: read it as a YAML inventory.
    Inventory(Spanned<Node>),
    /// Valid YAML of another shape, or not YAML at all: try INI.
    NotInventory,
    /// Invalid YAML in a file that looks like YAML (`---` or a first line ending in `:`): if
    /// INI fails too, this is the error to show.
    LooksLikeBrokenYaml(Box<InventoryError>),
}

/// Reads the YAML text in `builder.source` into `builder`.
pub(crate) fn read(builder: Builder) -> Result<Builder, InventoryError> {
    let root = parse(&builder.source)?;
    read_parsed(builder, &root)
}

pub(crate) fn probe(source: &SourceFile) -> Probe {
    match parse(source) {
        Ok(root) => match &root.value {
            Node::Map(entries)
                if !entries.is_empty()
                    && entries
                        .iter()
                        .all(|(_, v)| matches!(v.value, Node::Map(_) | Node::Null)) =>
            {
                Probe::Inventory(root)
            }
            _ => Probe::NotInventory,
        },
        Err(err) => {
            let first = source
                .text
                .lines()
                .map(str::trim_end)
                .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
            match first {
                Some(line) if line.starts_with("---") || line.ends_with(':') => {
                    Probe::LooksLikeBrokenYaml(Box::new(err))
                }
                _ => Probe::NotInventory,
            }
        }
    }
}

fn parse(source: &SourceFile) -> Result<Spanned<Node>, InventoryError> {
    crate::yaml::parse(&source.text).map_err(|err| {
        let (message, offset) = crate::yaml::error_at(&err, &source.text);
        let span = match offset {
            Some(offset) => SourceSpan::new(offset.into(), 1),
            None => SourceSpan::new(0.into(), 0),
        };
        InventoryError::YamlSyntax {
            message,
            src: source.named(),
            span,
        }
    })
}

pub(crate) fn read_parsed(
    builder: Builder,
    root: &Spanned<Node>,
) -> Result<Builder, InventoryError> {
    let mut reader = Reader { builder };
    match &root.value {
        // An empty file is an empty inventory (Ansible then reads it as an empty INI file).
        Node::Null => {}
        Node::Map(groups) => {
            if groups.iter().any(|(k, _)| k.value == "plugin") {
                let key = groups
                    .iter()
                    .find(|(k, _)| k.value == "plugin")
                    .map(|(k, _)| k);
                return Err(reader.structure(
                    key.map_or_else(|| span_of(&reader.builder.source, root), |k| reader.span(k)),
                    "this is an inventory plugin configuration, not an inventory".into(),
                    "`plugin:` files need Ansible's inventory plugins".into(),
                    Some("drover reads static YAML and INI inventories; export a dynamic one with `ansible-inventory --list -y`".into()),
                ));
            }
            for (name, data) in groups {
                reader.group(name, data)?;
            }
        }
        other => {
            return Err(reader.structure(
                span_of(&reader.builder.source, root),
                format!(
                    "a YAML inventory must be a mapping of groups, found {}",
                    other.kind()
                ),
                "expected `all:` or another group name here".into(),
                Some("start with `all:` and put `hosts:`, `vars:` and `children:` under it".into()),
            ));
        }
    }
    Ok(reader.builder)
}

struct Reader {
    builder: Builder,
}

impl Reader {
    fn span<T>(&self, node: &Spanned<T>) -> SourceSpan {
        span_of(&self.builder.source, node)
    }

    fn structure(
        &self,
        span: SourceSpan,
        message: String,
        label: String,
        help: Option<String>,
    ) -> InventoryError {
        InventoryError::Structure {
            message,
            label,
            help,
            src: self.builder.source.named(),
            span,
        }
    }

    fn group(
        &mut self,
        name: &Spanned<String>,
        data: &Spanned<Node>,
    ) -> Result<(), InventoryError> {
        let group = name.value.as_str();
        self.builder.add_group(group);
        let entries = match &data.value {
            Node::Null => return Ok(()),
            Node::Map(entries) => entries,
            other => {
                return Err(self.structure(
                    self.span(data),
                    format!(
                        "group `{group}` must be a mapping or empty, found {}",
                        other.kind()
                    ),
                    format!(
                        "{} where `hosts:`, `vars:` or `children:` belong",
                        other.kind()
                    ),
                    Some(format!(
                        "write `{group}:` followed by indented `hosts:`, `vars:` or `children:`"
                    )),
                ));
            }
        };
        for (key, value) in entries {
            let section = match key.value.as_str() {
                s @ ("hosts" | "vars" | "children") => s,
                unknown => {
                    let suggestion = did_you_mean(unknown, GROUP_KEYS);
                    let help = match suggestion {
                        Some(s) => format!(
                            "did you mean `{s}`? A group holds only `hosts`, `vars` and `children`"
                        ),
                        None => "a group holds only `hosts`, `vars` and `children`; a variable goes under `vars:`, a host under `hosts:`, a subgroup under `children:`"
                            .to_string(),
                    };
                    return Err(InventoryError::UnknownGroupKey {
                        group: group.to_string(),
                        key: unknown.to_string(),
                        suggestion,
                        help,
                        src: self.builder.source.named(),
                        span: self.span(key),
                    });
                }
            };
            // Ansible accepts a single name as shorthand for a one-entry mapping.
            let single;
            let entries: &[(Spanned<String>, Spanned<Node>)] = match &value.value {
                Node::Null => continue,
                Node::Map(entries) => entries,
                Node::Str(s) => {
                    single = [(
                        Spanned::new(s.clone(), value.referenced, value.defined),
                        Spanned::new(Node::Null, value.referenced, value.defined),
                    )];
                    &single
                }
                other => {
                    let help = match (section, other) {
                        ("hosts", Node::Seq(_)) => {
                            "hosts are mapping keys, not list items: write `web1:` rather than `- web1`"
                        }
                        ("children", Node::Seq(_)) => {
                            "child groups are mapping keys, not list items: write `web:` rather than `- web`"
                        }
                        _ => "write one `name: value` per line, indented under the key",
                    };
                    return Err(self.structure(
                        self.span(value),
                        format!(
                            "`{section}` of group `{group}` must be a mapping, found {}",
                            other.kind()
                        ),
                        format!("{} is not a mapping", other.kind()),
                        Some(help.to_string()),
                    ));
                }
            };
            match section {
                "vars" => {
                    for (var, val) in entries {
                        let val = to_json(val, &self.builder.source.text);
                        self.builder.set_group_var(group, &var.value, val);
                    }
                }
                "children" => {
                    for (child, child_data) in entries {
                        self.group(child, child_data)?;
                        let at = self.span(child);
                        self.builder.add_child(group, &child.value, at)?;
                    }
                }
                _ => {
                    for (entry, vars) in entries {
                        self.hosts(group, entry, vars)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn hosts(
        &mut self,
        group: &str,
        entry: &Spanned<String>,
        vars: &Spanned<Node>,
    ) -> Result<(), InventoryError> {
        let (pattern, port) = host_range::split_port(&entry.value);
        let names = host_range::expand(pattern).map_err(|e| InventoryError::HostRange {
            entry: entry.value.clone(),
            reason: e.0,
            src: self.builder.source.named(),
            span: self.span(entry),
        })?;
        let vars = match &vars.value {
            Node::Null => &[][..],
            Node::Map(vars) => &vars[..],
            other => {
                return Err(self.structure(
                    self.span(vars),
                    format!(
                        "variables of host `{}` must be a mapping, found {}",
                        entry.value,
                        other.kind()
                    ),
                    format!("{} is not a mapping", other.kind()),
                    Some(format!(
                        "leave it empty (`{}:`) or indent `name: value` pairs under it",
                        entry.value
                    )),
                ));
            }
        };
        for name in names {
            self.builder.add_host(&name, group, port);
            for (key, value) in vars {
                let value = to_json(value, &self.builder.source.text);
                self.builder.set_host_var(&name, &key.value, value);
            }
        }
        Ok(())
    }
}

/// The source span of a node: its byte span when the parser recorded one, else its line and
/// column.
fn span_of<T>(source: &SourceFile, node: &Spanned<T>) -> SourceSpan {
    let loc = node.referenced;
    let span = loc.span();
    match (span.byte_offset(), span.byte_len()) {
        (Some(offset), Some(len)) => SourceSpan::new(
            usize::try_from(offset).unwrap_or(0).into(),
            usize::try_from(len).unwrap_or(0),
        ),
        _ => SourceSpan::new(source.offset_of(loc.line(), loc.column()).into(), 0),
    }
}
