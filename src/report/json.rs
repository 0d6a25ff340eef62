//! `--output json`: one JSON object per event per line, for machines. The stream opens with
//! `{"event":"stream_start","schema":N,…}`; every line carries `time` (RFC 3339, UTC, to the
//! millisecond) and `run_id`, so lines from several runs can be merged and ordered.

use super::Reporter;
use crate::engine::Event;
use serde_json::Value;
use std::io::Write;

/// The version of the event stream's shape; raised when a field changes meaning or goes.
pub const SCHEMA: u32 = 1;

pub struct JsonLines {
    out: Box<dyn Write + Send>,
    run_id: String,
    started: bool,
}

impl JsonLines {
    pub fn new(out: Box<dyn Write + Send>, run_id: &str) -> JsonLines {
        JsonLines {
            out,
            run_id: run_id.to_string(),
            started: false,
        }
    }

    fn line(&mut self, mut value: Value) {
        if let Value::Object(map) = &mut value {
            map.insert("time".into(), crate::journal::now_rfc3339().into());
            map.insert("run_id".into(), self.run_id.clone().into());
        }
        let mut line = value.to_string();
        line.push('\n');
        // A closed pipe (`drover … | head`) must not abort the run.
        let _ = self.out.write_all(line.as_bytes());
        let _ = self.out.flush();
    }
}

impl Reporter for JsonLines {
    fn event(&mut self, event: &Event) {
        // `-v` details are for terminals; the JSON stream keeps its shape.
        if matches!(event, Event::Detail { .. }) {
            return;
        }
        if !self.started {
            self.started = true;
            self.line(serde_json::json!({"event": "stream_start", "schema": SCHEMA}));
        }
        if let Ok(value) = serde_json::to_value(event) {
            self.line(value);
        }
    }
}
