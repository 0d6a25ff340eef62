//! Reporters: the only code that writes run output. Each consumes [`Event`]s from the engine
//! and renders them whole (one write per event), so concurrent hosts never tear a line.

pub mod adhoc;
mod human;
mod json;
mod live;
pub mod plan;
pub mod run;

pub use human::Human;
pub use json::JsonLines;

use crate::engine::Event;

pub trait Reporter: Send {
    fn event(&mut self, event: &Event);
}

/// Output format chosen with `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    /// The `ansible` command's lines (`drover exec`).
    AdHoc,
}

/// A reporter writing to stdout in `format`; `verbosity` is `-v`'s count, `run_id` names
/// the run in JSON lines. Everything it writes passes the run's redactor: a secret's
/// plaintext never reaches the terminal or a JSON consumer. On a terminal (and without
/// `NO_COLOR`) the human output is coloured and carries the live progress view.
pub fn stdout(format: Format, verbosity: u8, run_id: &str) -> Box<dyn Reporter> {
    let out = || Box::new(crate::sensitive::Redacting::new(std::io::stdout()));
    match format {
        Format::Human => match human::Style::detect() {
            human::Style::Color => Box::new(live::Live::new(
                Human::new(out(), human::Style::Color).with_verbosity(verbosity),
            )),
            human::Style::Plain => {
                Box::new(Human::new(out(), human::Style::Plain).with_verbosity(verbosity))
            }
        },
        Format::Json => Box::new(JsonLines::new(out(), run_id)),
        Format::AdHoc => Box::new(adhoc::AdHoc::new(out())),
    }
}
