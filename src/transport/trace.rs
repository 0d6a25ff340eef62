//! The transport's own account of what it does, for `-vvv` and `-vvvv`: level 3 is what
//! ansible-playbook's `-vvv` shows (each command sent, each file moved, each command's exit),
//! level 4 the SSH negotiation (the route taken, the host key and where it is known, each
//! authentication attempt). Lines are built only when their level is asked for.

use std::sync::Arc;

/// Receives `(host, level, line)`; the engine turns them into events.
pub type TraceSink = Arc<dyn Fn(&str, u8, String) + Send + Sync>;

/// `-vvv`: commands sent, file transfers, channel results.
pub const COMMANDS: u8 = 3;
/// `-vvvv`: the SSH negotiation.
pub const NEGOTIATION: u8 = 4;

/// A sink, the verbosity it serves and the host the lines are about.
#[derive(Clone, Default)]
pub struct Trace {
    sink: Option<TraceSink>,
    level: u8,
    host: Arc<str>,
}

impl Trace {
    pub fn new(sink: TraceSink, level: u8) -> Trace {
        Trace {
            sink: Some(sink),
            level,
            host: Arc::from(""),
        }
    }

    /// The same sink, its lines about `host`.
    pub fn for_host(&self, host: &str) -> Trace {
        Trace {
            host: Arc::from(host),
            ..self.clone()
        }
    }

    /// Whether lines of `level` are wanted.
    pub fn wants(&self, level: u8) -> bool {
        self.sink.is_some() && self.level >= level
    }

    /// Delivers the line `line()` builds, if its level is wanted.
    pub fn say(&self, level: u8, line: impl FnOnce() -> String) {
        if let Some(sink) = &self.sink
            && self.level >= level
        {
            sink(&self.host, level, line());
        }
    }
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("level", &self.level)
            .field("host", &self.host)
            .finish()
    }
}

/// A command as `-vvv` shows it: one line, long ones cut (the whole script is rarely what
/// an operator needs to see, and a heredoc of file content would flood the screen).
pub fn command_line(command: &str) -> String {
    const LIMIT: usize = 400;
    let flat: String = command
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    if flat.chars().count() <= LIMIT {
        return flat;
    }
    let cut: String = flat.chars().take(LIMIT).collect();
    format!("{cut}… ({} bytes)", command.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn lines_are_built_only_for_wanted_levels() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink_seen = seen.clone();
        let trace = Trace::new(
            Arc::new(move |host: &str, level: u8, line: String| {
                sink_seen
                    .lock()
                    .unwrap()
                    .push(format!("{host}/{level}/{line}"));
            }),
            COMMANDS,
        )
        .for_host("web1");
        trace.say(COMMANDS, || "EXEC true".into());
        trace.say(NEGOTIATION, || panic!("built a line nobody asked for"));
        assert!(trace.wants(COMMANDS) && !trace.wants(NEGOTIATION));
        assert!(!Trace::default().wants(1));
        assert_eq!(*seen.lock().unwrap(), vec!["web1/3/EXEC true".to_string()]);
    }

    #[test]
    fn long_commands_are_cut_to_one_line() {
        assert_eq!(command_line("a\nb"), "a b");
        let long = "x".repeat(1000);
        let shown = command_line(&long);
        assert!(shown.ends_with("… (1000 bytes)"), "{shown}");
        assert!(shown.len() < 500);
    }
}
