//! The `ansible` command's output for `drover exec`: one block per host and result,
//! `host | CHANGED | rc=0 >>` and the command's output for `command`/`shell`/`raw`,
//! `host | SUCCESS => {…}` (the result as indented JSON) for other modules, `FAILED!`,
//! `UNREACHABLE!`, `SKIPPED`; warnings as `[WARNING]:` lines; no play banners or recap.

use std::io::Write;

use serde_json::Value;

use super::Reporter;
use crate::engine::{Event, Status};

pub struct AdHoc {
    out: Box<dyn Write + Send>,
}

impl AdHoc {
    pub fn new(out: Box<dyn Write + Send>) -> AdHoc {
        AdHoc { out }
    }
}

/// Modules whose output `ansible` prints as text after `rc=N >>`.
const TEXT_MODULES: &[&str] = &["command", "shell", "raw"];

/// Keys sorted, as Ansible's callbacks dump results (`sort_keys=True`).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn pretty(result: &Value) -> String {
    let result = &sorted(result);
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    if serde::Serialize::serialize(result, &mut ser).is_err() {
        return result.to_string();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// One host's result as `ansible` prints it.
pub fn render(host: &str, module: &str, status: Status, result: &Value) -> String {
    let text = |key: &str| result.get(key).and_then(Value::as_str).unwrap_or_default();
    match status {
        Status::Unreachable => format!("{host} | UNREACHABLE! => {}\n", pretty(result)),
        Status::Skipped => format!("{host} | SKIPPED\n"),
        _ if TEXT_MODULES.contains(&module) && result.get("rc").is_some() => {
            let label = match status {
                Status::Failed => "FAILED",
                Status::Changed => "CHANGED",
                _ => "SUCCESS",
            };
            let rc = result.get("rc").map(Value::to_string).unwrap_or_default();
            let mut body = text("stdout").to_string();
            if !text("stderr").is_empty() {
                if !body.is_empty() {
                    body.push('\n');
                }
                body.push_str(text("stderr"));
            }
            if status == Status::Failed && !text("msg").is_empty() {
                if !body.is_empty() {
                    body.push('\n');
                }
                body.push_str(text("msg"));
            }
            format!("{host} | {label} | rc={rc} >>\n{body}\n")
        }
        Status::Failed => format!("{host} | FAILED! => {}\n", pretty(result)),
        Status::Changed => format!("{host} | CHANGED => {}\n", pretty(result)),
        Status::Ok => format!("{host} | SUCCESS => {}\n", pretty(result)),
    }
}

impl Reporter for AdHoc {
    fn event(&mut self, event: &Event) {
        let text = match event {
            Event::HostResult {
                host,
                module,
                status,
                result,
                ..
            } => render(host, module, *status, result),
            Event::Warning { message } => format!("[WARNING]: {message}\n"),
            _ => return,
        };
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_as_ansible_prints_them() {
        assert_eq!(
            render(
                "web1",
                "command",
                Status::Changed,
                &json!({"rc": 0, "stdout": "hi", "stderr": "", "changed": true})
            ),
            "web1 | CHANGED | rc=0 >>\nhi\n"
        );
        assert_eq!(
            render(
                "web1",
                "shell",
                Status::Failed,
                &json!({"rc": 2, "stdout": "", "stderr": "boom", "msg": "non-zero return code"})
            ),
            "web1 | FAILED | rc=2 >>\nboom\nnon-zero return code\n"
        );
        assert_eq!(
            render(
                "db",
                "ping",
                Status::Ok,
                &json!({"changed": false, "ping": "pong"})
            ),
            "db | SUCCESS => {\n    \"changed\": false,\n    \"ping\": \"pong\"\n}\n"
        );
        assert!(
            render("db", "ping", Status::Unreachable, &json!({}))
                .starts_with("db | UNREACHABLE! => ")
        );
    }
}
