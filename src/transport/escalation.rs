//! Privilege escalation (Ansible's `become`) and a task's `environment`, applied to every
//! command a module runs: the command is wrapped in `sudo`/`su` running `/bin/sh -c`, with
//! the environment exported inside it (sudo resets the environment, so exporting outside
//! would be lost).
//!
//! The become password never appears on a command line: the wrapped command first prints a
//! random marker; until the marker arrives, drover watches stderr for the prompt and answers
//! it on stdin (once: a second prompt means the password was wrong). The command's own stdin
//! is sent only after the marker, so a password can never leak into it, and a cached or
//! `NOPASSWD` sudo that never prompts works the same way.

use std::sync::Arc;

use russh::client::Handle;

use super::session::{self, Answer, HostKeyVerifier, Prelude};
use super::{ExecOutput, TransportError};
use crate::template::shell_quote;

/// How to become another user (Ansible's `become_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BecomeMethod {
    Sudo,
    Su,
}

impl BecomeMethod {
    pub fn parse(name: &str) -> Option<BecomeMethod> {
        match name {
            "sudo" => Some(BecomeMethod::Sudo),
            "su" => Some(BecomeMethod::Su),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BecomeMethod::Sudo => "sudo",
            BecomeMethod::Su => "su",
        }
    }
}

/// A become password, kept out of `Debug` output.
#[derive(Clone)]
pub struct BecomePassword(Arc<String>);

impl BecomePassword {
    pub fn new(password: String) -> BecomePassword {
        BecomePassword(Arc::new(password))
    }
}

impl std::fmt::Debug for BecomePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

/// Whom a command runs as, and how to get there.
#[derive(Debug, Clone)]
pub struct Escalation {
    pub method: BecomeMethod,
    pub user: String,
    pub password: Option<BecomePassword>,
}

impl Escalation {
    /// `become sudo to root`, as `-vvv` shows it (never the password).
    pub fn describe(&self) -> String {
        format!("become {} to {}", self.method.name(), self.user)
    }
}

/// The run's `become` defaults, from the command line (`-b`, `--become-user`,
/// `--become-method`, `-K` / `DROVER_BECOME_PASS`); playbook keywords override them.
#[derive(Debug, Clone)]
pub struct BecomeDefaults {
    pub enabled: bool,
    pub user: String,
    pub method: BecomeMethod,
    pub password: Option<BecomePassword>,
}

impl Default for BecomeDefaults {
    /// Ansible's: off, to root, with sudo.
    fn default() -> Self {
        BecomeDefaults {
            enabled: false,
            user: "root".to_string(),
            method: BecomeMethod::Sudo,
            password: None,
        }
    }
}

/// What a connection's commands run under: an escalation and exported variables.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunAs {
    pub escalation: Option<Escalation>,
    pub environment: Vec<(String, String)>,
}

impl RunAs {
    pub(crate) fn is_plain(&self) -> bool {
        self.escalation.is_none() && self.environment.is_empty()
    }
}

/// `export K='v'; ` for each variable (names were checked by the engine).
pub(crate) fn exports(environment: &[(String, String)]) -> String {
    environment
        .iter()
        .map(|(k, v)| format!("export {k}={}; ", shell_quote(v)))
        .collect()
}

/// The command line that runs `command` escalated, printing `marker` once the user switch
/// succeeded; `prompt` is the sudo prompt drover answers.
fn wrap(escalation: &Escalation, command: &str, marker: &str, prompt: &str) -> String {
    let script = format!("echo {marker}; {command}");
    let user = shell_quote(&escalation.user);
    match escalation.method {
        BecomeMethod::Sudo => {
            let ask = match escalation.password {
                Some(_) => format!("-p {}", shell_quote(prompt)),
                // Without a password, fail at once rather than wait for one.
                None => "-n".to_string(),
            };
            format!(
                "sudo -H -S {ask} -u {user} /bin/sh -c {}",
                shell_quote(&script)
            )
        }
        // LC_ALL=C: su's prompt is "Password:" in every locale.
        BecomeMethod::Su => format!(
            "LC_ALL=C su {user} -c {}",
            shell_quote(&format!("/bin/sh -c {}", shell_quote(&script)))
        ),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Runs `command` under `run_as` on `handle`.
pub(crate) async fn exec(
    host: &str,
    handle: &Handle<HostKeyVerifier>,
    permits: &tokio::sync::Semaphore,
    run_as: &RunAs,
    command: &str,
    stdin: Option<Vec<u8>>,
) -> Result<ExecOutput, TransportError> {
    let command = format!("{}{command}", exports(&run_as.environment));
    let Some(escalation) = &run_as.escalation else {
        return session::exec(host, handle, permits, &command, stdin).await;
    };
    let tag: u64 = rand::random();
    let marker = format!("DROVER-BECOME-SUCCESS-{tag:016x}");
    let prompt = format!("[drover become {tag:016x}] password:");
    let asked = match escalation.method {
        BecomeMethod::Sudo => prompt.as_bytes().to_vec(),
        BecomeMethod::Su => b"Password:".to_vec(),
    };
    let line = wrap(escalation, &command, &marker, &prompt);
    let mut gate = Gate {
        marker: format!("{marker}\n"),
        prompt: asked,
        password: escalation.password.clone(),
        before: Vec::new(),
        before_err: Vec::new(),
        scanned: 0,
        prompts: 0,
        escalated: false,
    };
    let ran = session::run(host, handle, permits, &line, stdin, &mut gate).await?;
    let ended = ran.ended();
    if gate.escalated || (ran.refused && !ended) {
        return ran.finish(host, handle).await;
    }
    if !ended && handle.is_closed() {
        return Err(TransportError::Disconnected {
            host: host.to_string(),
        });
    }
    Err(TransportError::Become {
        host: host.to_string(),
        method: escalation.method.name(),
        user: escalation.user.clone(),
        reason: refusal(
            escalation,
            gate.prompts,
            &gate.before_err,
            &gate.prompt,
            &gate.before,
        ),
    })
}

/// Reads the become tool's output until the success marker: answers its password prompt
/// once, ends stdin when asked again (wrong password) or with nothing to answer.
struct Gate {
    /// The marker line the wrapper prints once the user switch happened.
    marker: String,
    /// The prompt the tool prints on stderr when it wants the password.
    prompt: Vec<u8>,
    password: Option<BecomePassword>,
    /// Output before the marker: the tool's own (prompts, refusals).
    before: Vec<u8>,
    before_err: Vec<u8>,
    scanned: usize,
    prompts: usize,
    escalated: bool,
}

impl Prelude for Gate {
    fn started(&self) -> bool {
        self.escalated
    }

    fn stdout(&mut self, data: &[u8]) -> Vec<u8> {
        self.before.extend_from_slice(data);
        match find(&self.before, self.marker.as_bytes()) {
            Some(at) => {
                self.escalated = true;
                self.before[at + self.marker.len()..].to_vec()
            }
            None => Vec::new(),
        }
    }

    fn stderr(&mut self, data: &[u8]) -> Vec<Answer> {
        self.before_err.extend_from_slice(data);
        let mut answers = Vec::new();
        while let Some(at) = find(&self.before_err[self.scanned..], &self.prompt) {
            self.scanned += at + self.prompt.len();
            self.prompts += 1;
            answers.push(match (&self.password, self.prompts) {
                (Some(password), 1) => Answer::Send(format!("{}\n", password.0).into_bytes()),
                _ => Answer::EndInput,
            });
        }
        answers
    }
}

/// Why the user switch did not happen, in one line, from the tool's own words.
fn refusal(
    escalation: &Escalation,
    prompts: usize,
    stderr: &[u8],
    prompt: &[u8],
    stdout: &[u8],
) -> String {
    let text = String::from_utf8_lossy(stderr).replace(&*String::from_utf8_lossy(prompt), "");
    let said: Vec<&str> = text
        .lines()
        .chain(std::str::from_utf8(stdout).unwrap_or_default().lines())
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Sorry, try again"))
        .collect();
    let said = said.join("; ");
    let wrong = prompts > 1
        || said.contains("incorrect password")
        || said.contains("Authentication failure");
    match (&escalation.password, wrong) {
        (Some(_), true) => format!("incorrect become password ({said})"),
        (None, _) if prompts > 0 || said.contains("password is required") => format!(
            "a password is required ({said}); pass -K/--ask-become-pass or set DROVER_BECOME_PASS"
        ),
        _ if said.is_empty() => "the user switch failed without a message".to_string(),
        _ => said,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escalation(method: BecomeMethod, password: bool) -> Escalation {
        Escalation {
            method,
            user: "root".into(),
            password: password.then(|| BecomePassword::new("hunter2".into())),
        }
    }

    #[test]
    fn the_password_is_never_on_the_command_line() {
        for method in [BecomeMethod::Sudo, BecomeMethod::Su] {
            let line = wrap(&escalation(method, true), "id -u", "MARK", "PROMPT:");
            assert!(!line.contains("hunter2"), "{line}");
            assert!(line.contains("MARK"), "{line}");
        }
        let debug = format!("{:?}", escalation(BecomeMethod::Sudo, true));
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn sudo_without_a_password_does_not_wait_for_one() {
        let line = wrap(&escalation(BecomeMethod::Sudo, false), "true", "M", "P");
        assert!(
            line.starts_with("sudo -H -S -n -u root /bin/sh -c "),
            "{line}"
        );
    }

    #[test]
    fn environment_is_exported_with_quoted_values() {
        let env = vec![("A".to_string(), "x y'z".to_string())];
        assert_eq!(exports(&env), "export A='x y'\"'\"'z'; ");
    }
}
