//! `--output json`: one JSON object per event per line, for machines.

use super::Reporter;
use crate::engine::Event;
use std::io::Write;

pub struct JsonLines {
    out: Box<dyn Write + Send>,
}

impl JsonLines {
    pub fn new(out: Box<dyn Write + Send>) -> JsonLines {
        JsonLines { out }
    }
}

impl Reporter for JsonLines {
    fn event(&mut self, event: &Event) {
        // `-v` details are for terminals; the JSON stream keeps its shape.
        if matches!(event, Event::Detail { .. }) {
            return;
        }
        if let Ok(mut line) = serde_json::to_string(event) {
            line.push('\n');
            // A closed pipe (`drover … | head`) must not abort the run.
            let _ = self.out.write_all(line.as_bytes());
            let _ = self.out.flush();
        }
    }
}
