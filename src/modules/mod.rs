//! Modules: what a task does on a host. Each module is a handful of POSIX shell commands and
//! SFTP transfers composed on the control machine — nothing is shipped to the node. A module
//! first queries the node's state, then acts only if needed, so `ok`/`changed` is truthful
//! and check mode stops after the query.
//!
//! The playbook layer uses only the [`ModuleSpec`]s (names and arguments, for validation); the
//! engine calls [`Module::run`] with rendered arguments.

/// Implements [`Module`] for a unit type from its spec and an `async fn(ctx, args)`; with
/// `runs_on_delegate`, a `local` module that, delegated to a node, runs there (`uri`
/// through the node's curl).
macro_rules! module {
    ($ty:ident, $spec:expr, $run:expr) => {
        module!(@impl $ty, $spec, $run, false);
    };
    ($ty:ident, $spec:expr, $run:expr, runs_on_delegate) => {
        module!(@impl $ty, $spec, $run, true);
    };
    (@impl $ty:ident, $spec:expr, $run:expr, $on_delegate:expr) => {
        impl $crate::modules::Module for $ty {
            fn spec(&self) -> &'static $crate::modules::ModuleSpec {
                &$spec
            }
            fn runs_on_delegate(&self) -> bool {
                $on_delegate
            }
            fn run<'a>(
                &'a self,
                ctx: &'a $crate::modules::Context<'a>,
                args: $crate::modules::Args,
            ) -> $crate::modules::BoxFuture<
                'a,
                Result<$crate::modules::Outcome, $crate::modules::ModuleError>,
            > {
                Box::pin($run(ctx, args))
            }
        }
    };
}

mod accounts;
mod archive;
mod blockinfile;
mod command;
mod control;
mod cron;
mod database;
mod edit;
mod facts;
mod file;
mod filesystem;
mod include_vars;
mod inspect;
mod lineinfile;
mod mode;
mod node;
mod reboot;
mod script;
pub mod sources;
mod sysctl;
mod system;
mod transfer;
mod tree;
mod uri;
mod wait;

use crate::template::{TemplateError, Templates};
use crate::transport::{Connection, TransportError};
use serde_json::{Map, Value};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

/// A module's name and arguments, as the playbook validator sees them.
#[derive(Debug)]
pub struct ModuleSpec {
    pub name: &'static str,
    pub args: &'static [&'static str],
    pub required: &'static [&'static str],
    /// Groups of arguments of which exactly one must be given.
    pub one_of: &'static [&'static [&'static str]],
    /// Takes a free-form string (`shell: echo hi`), kept as `_raw_params`.
    pub free_form: bool,
    /// Runs on the control machine only; no connection needed.
    pub local: bool,
    /// Takes any argument name (`set_fact: {name: value}`); `args` lists only the fixed ones.
    pub any_args: bool,
}

impl ModuleSpec {
    /// Whether the playbook may pass the argument `name` to this module.
    pub fn takes(&self, name: &str) -> bool {
        self.any_args || self.args.contains(&name)
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Module: Sync {
    fn spec(&self) -> &'static ModuleSpec;
    /// For a `local` module: whether `delegate_to` a node runs it on that node's connection
    /// (it gets no connection otherwise, and runs on the control machine).
    fn runs_on_delegate(&self) -> bool {
        false
    }
    fn run<'a>(
        &'a self,
        ctx: &'a Context<'a>,
        args: Args,
    ) -> BoxFuture<'a, Result<Outcome, ModuleError>>;
}

static MODULES: &[&dyn Module] = &[
    &command::Command,
    &command::Shell,
    &file::Copy,
    &file::Template,
    &control::Debug,
    &control::Fail,
    &control::Assert,
    &control::SetFact,
    &facts::Setup,
    &include_vars::IncludeVars,
    &control::Pause,
    &control::Meta,
    &filesystem::File,
    &inspect::Stat,
    &inspect::Slurp,
    &inspect::Find,
    &lineinfile::LineInFile,
    &blockinfile::BlockInFile,
    &edit::Replace,
    &script::Raw,
    &script::Script,
    &transfer::Fetch,
    &transfer::GetUrl,
    &wait::WaitFor,
    &wait::WaitForConnection,
    &uri::Uri,
    &system::Service,
    &system::Systemd,
    &system::Package,
    &system::Apt,
    &system::Dnf,
    &archive::Archive,
    &archive::Unarchive,
    &database::DbBackup,
    &database::DbRestore,
    &node::Ping,
    &node::TempFile,
    &accounts::User,
    &accounts::Group,
    &cron::Cron,
    &sysctl::Sysctl,
    &reboot::Reboot,
];

/// Ansible modules drover will grow (see the README); named so a playbook using one is told
/// "not supported yet" rather than "unknown".
const PLANNED: &[&str] = &[];

pub fn all() -> Vec<&'static ModuleSpec> {
    MODULES.iter().map(|m| m.spec()).collect()
}

/// The module for a task key, accepting Ansible's fully qualified names.
pub fn module(name: &str) -> Option<&'static dyn Module> {
    let short = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    MODULES.iter().copied().find(|m| m.spec().name == short)
}

pub fn find(name: &str) -> Option<&'static ModuleSpec> {
    module(name).map(|m| m.spec())
}

/// Arguments that are booleans in every drover module that takes them.
const BOOLEAN_ARGS: &[&str] = &[
    "append",
    "backrefs",
    "backup",
    "copy",
    "create",
    "create_home",
    "daemon_reload",
    "decrypt",
    "disabled",
    "enabled",
    "env",
    "fail_on_missing",
    "firstmatch",
    "flat",
    "follow",
    "force",
    "get_checksum",
    "hidden",
    "ignore_unknown_extensions",
    "ignoreerrors",
    "keep_newer",
    "list_files",
    "move_home",
    "non_unique",
    "password_lock",
    "recurse",
    "reload",
    "remote_src",
    "remove",
    "return_content",
    "stdin_add_newline",
    "strip_empty_ends",
    "sysctl_set",
    "system",
    "update_cache",
    "use_proxy",
    "use_regex",
    "validate_certs",
    "validate_checksum",
];

/// Arguments that are numbers (whole numbers for `port` and `depth`) wherever they appear.
const NUMBER_ARGS: &[&str] = &["port", "depth", "timeout", "seconds", "minutes"];

/// Whether a literal argument value (not a template, which is only known when the task runs)
/// has the wrong type for its name, by the same rules modules apply when they run.
pub fn literal_type_error(name: &str, value: &Value) -> Option<String> {
    if let Value::String(s) = value
        && crate::template::has_template_syntax(s)
    {
        return None;
    }
    let args = Args::from_value(Value::Object(Map::from_iter([(
        name.to_string(),
        value.clone(),
    )])));
    let result = if BOOLEAN_ARGS.contains(&name) {
        args.bool(name, false).map(|_| ())
    } else if matches!(name, "port" | "depth") {
        args.int(name).map(|_| ())
    } else if NUMBER_ARGS.contains(&name) {
        args.float(name).map(|_| ())
    } else {
        Ok(())
    };
    result.err().map(|e| e.to_string())
}

pub use database::ArgProblem;

/// Mistakes in a task's literal arguments that depend on each other (`type: sqlite` needs
/// `path`, `data_dir` is for `type: redis`), for the modules that have such rules; the
/// module applies the same rules to its rendered arguments.
pub fn literal_args_problems(module: &str, args: &Value) -> Vec<ArgProblem> {
    let short = module.strip_prefix("ansible.builtin.").unwrap_or(module);
    match args {
        Value::Object(map) => database::literal_problems(short, map),
        _ => Vec::new(),
    }
}

pub fn is_planned(name: &str) -> bool {
    let short = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    PLANNED.contains(&short)
}

/// What a module may use while it runs on one host.
pub struct Context<'a> {
    pub host: &'a str,
    /// `None` for modules that run on the control machine only.
    pub conn: Option<&'a Connection>,
    pub check: bool,
    pub diff: bool,
    /// The directory of the task's play's file (the main playbook's, or an imported one's).
    pub playbook_dir: &'a Path,
    /// The task's role directory: its `files/`, `templates/`, `vars/` come first.
    pub role_dir: Option<&'a Path>,
    pub templates: &'a Templates,
    /// The run's local source files, read once for all hosts.
    pub sources: &'a sources::Sources,
    /// The task's variables, for `template` and for expressions (`assert`, `debug: var=`).
    pub vars: &'a minijinja::Value,
    /// `file:line:col` of the task, for errors in expressions the module evaluates.
    pub location: &'a str,
    /// The engine's side of the host's connection (reconnecting, the journal's reboot
    /// records); `None` for delegated and control-machine tasks.
    pub link: Option<&'a dyn HostLink>,
}

/// What a module that outlives its connection (`reboot`, `wait_for_connection`) asks of the
/// engine.
pub trait HostLink: Sync {
    /// Opens a fresh connection to the host, with the same target, host-key and bastion
    /// rules as the first, and makes the task's connection (every clone of it) use it.
    fn reconnect(&self) -> BoxFuture<'_, Result<(), String>>;
    /// The boot id an earlier, interrupted attempt of this run recorded for this `reboot`
    /// task on this host (from the journal, when resuming).
    fn recorded_reboot(&self) -> Option<String>;
    /// Records in the journal (fsynced) that this task reboots the host from `boot_id`.
    fn record_reboot(&self, boot_id: &str);
}

impl Context<'_> {
    /// Prefixes an argument error with the task's `file:line:col`: arguments that are only
    /// found wrong at run time (a `src` that does not exist) still point at the playbook.
    fn at_task(&self, err: ModuleError) -> ModuleError {
        match err {
            ModuleError::Args { message } => ModuleError::Args {
                message: format!("{}: {message}", self.location),
            },
            other => other,
        }
    }

    fn conn(&self) -> Result<&Connection, ModuleError> {
        self.conn.ok_or_else(|| ModuleError::Args {
            message: "this module needs a connection to the host".to_string(),
        })
    }

    /// Runs a command through `/bin/sh -c`, independent of the user's login shell.
    async fn sh(&self, script: &str) -> Result<crate::transport::ExecOutput, ModuleError> {
        Ok(self.conn()?.sh(script, None).await?)
    }

    /// Like [`Context::sh`] for a step of a change: a non-zero exit is the task's failure,
    /// naming `what` failed and the command's stderr.
    async fn sh_ok(
        &self,
        script: &str,
        what: &str,
    ) -> Result<crate::transport::ExecOutput, ModuleError> {
        let out = self.sh(script).await?;
        if out.exit_status == Some(0) {
            return Ok(out);
        }
        Err(remote_failure(what, &out))
    }
}

/// Prefixed to scripts that call system tools (`useradd`, `sysctl`): a login user's PATH
/// often lacks the sbin directories, which Ansible's `get_bin_path` searches too.
pub(super) const SBIN_PATH: &str = "PATH=\"$PATH:/usr/local/sbin:/usr/sbin:/sbin\"; export PATH; ";

/// `{what} failed: {stderr}`, or the exit status when the command said nothing.
pub(super) fn remote_failure(what: &str, out: &crate::transport::ExecOutput) -> ModuleError {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    ModuleError::Remote {
        message: if stderr.is_empty() {
            format!("{what} failed (exit status {:?})", out.exit_status)
        } else {
            format!("{what} failed: {stderr}")
        },
    }
}

/// What a module did on one host.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub changed: bool,
    pub failed: bool,
    /// The module did nothing because of check mode or a `creates`/`removes` condition.
    pub skipped: bool,
    pub msg: Option<String>,
    /// Module return values (`rc`, `stdout`, `dest`, …), registered with the task.
    pub data: Map<String, Value>,
    /// One per file changed (a recursive `copy` changes several).
    pub diffs: Vec<FileDiff>,
}

impl Outcome {
    /// A command-like module under `--check`: skipped, registered as Ansible registers it
    /// (`rc` 0, empty output), so `changed_when`, `until` and guards that read it still work.
    pub fn skipped_in_check() -> Outcome {
        let mut data = Map::new();
        data.insert("rc".into(), Value::from(0));
        for stream in ["stdout", "stderr"] {
            data.insert(stream.into(), Value::from(""));
            data.insert(format!("{stream}_lines"), Value::Array(Vec::new()));
        }
        Outcome {
            skipped: true,
            msg: Some("Command would have run if not in check mode".to_string()),
            data,
            ..Outcome::default()
        }
    }

    pub fn failed(msg: impl Into<String>) -> Outcome {
        Outcome {
            failed: true,
            msg: Some(msg.into()),
            ..Outcome::default()
        }
    }
}

/// A file a module changed (or would change), for `--diff`.
#[derive(Debug, Clone)]
pub struct FileDiff {
    pub path: String,
    pub before: Option<String>,
    pub after: String,
}

/// What `--diff` shows for a file that holds a secret.
pub const DIFF_HIDDEN: &str = "diff not shown: the file holds a secret (a vault value)";

impl FileDiff {
    /// The diff as a module's result holds it (Ansible's `diff` entries).
    pub fn to_json(&self) -> serde_json::Value {
        let before = self.before.as_deref().unwrap_or("");
        let header = serde_json::json!({
            "before_header": self.path,
            "after_header": self.path,
        });
        let mut entry = header.as_object().cloned().unwrap_or_default();
        if crate::sensitive::contains_secret(before)
            || crate::sensitive::contains_secret(&self.after)
        {
            entry.insert("prepared".into(), DIFF_HIDDEN.into());
        } else {
            entry.insert("before".into(), before.into());
            entry.insert("after".into(), self.after.clone().into());
        }
        serde_json::Value::Object(entry)
    }

    /// The unified diff, as `diff -u` prints it.
    /// A file holding a secret (a vault value, or text computed from one) has no diff shown,
    /// only a note, as Ansible hides the diff of a `no_log` task.
    pub fn unified(&self) -> String {
        let before = self.before.as_deref().unwrap_or("");
        if crate::sensitive::contains_secret(before)
            || crate::sensitive::contains_secret(&self.after)
        {
            return format!("{}: {DIFF_HIDDEN}\n", self.path);
        }
        let old_name = if self.before.is_some() {
            format!("before: {}", self.path)
        } else {
            "before: /dev/null".to_string()
        };
        similar::TextDiff::from_lines(before, self.after.as_str())
            .unified_diff()
            .context_radius(3)
            .header(&old_name, &format!("after: {}", self.path))
            .to_string()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("{message}")]
    Args { message: String },
    /// A command of the module failed on the host.
    #[error("{message}")]
    Remote { message: String },
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{path}: {source}")]
    Local {
        path: String,
        source: std::io::Error,
    },
}

/// Rendered module arguments with typed accessors that explain what was wrong.
#[derive(Debug, Clone, Default)]
pub struct Args(pub Map<String, Value>);

impl Args {
    pub fn from_value(value: Value) -> Args {
        match value {
            Value::Object(map) => Args(map),
            Value::Null => Args(Map::new()),
            other => {
                let mut map = Map::new();
                map.insert("_raw_params".to_string(), other);
                Args(map)
            }
        }
    }

    pub fn str(&self, name: &str) -> Result<Option<String>, ModuleError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(ModuleError::Args {
                message: format!("argument `{name}` must be a string, not {other}"),
            }),
        }
    }

    pub fn required_str(&self, name: &str) -> Result<String, ModuleError> {
        self.str(name)?.ok_or_else(|| ModuleError::Args {
            message: format!("argument `{name}` is required"),
        })
    }

    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ModuleError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(true),
            Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(false),
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "1" | "y" => Ok(true),
                "no" | "false" | "off" | "0" | "n" => Ok(false),
                _ => Err(ModuleError::Args {
                    message: format!("argument `{name}` must be a boolean, not `{s}`"),
                }),
            },
            Some(other) => Err(ModuleError::Args {
                message: format!("argument `{name}` must be a boolean, not {other}"),
            }),
        }
    }

    /// A mode that may also be symbolic (`u=rw,g=r`), for modules that resolve it per path.
    pub fn file_mode(&self, name: &str) -> Result<Option<mode::FileMode>, ModuleError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => mode::FileMode::parse(name, v),
        }
    }

    /// The first of several alias names that is given (`path`, `dest`, `name`).
    pub fn first_str(&self, names: &[&str]) -> Result<Option<String>, ModuleError> {
        for name in names {
            if let Some(v) = self.str(name)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Like [`Args::first_str`], failing with every alias named when none is given.
    pub fn required_first(&self, names: &[&str]) -> Result<String, ModuleError> {
        self.first_str(names)?.ok_or_else(|| ModuleError::Args {
            message: format!("argument `{}` is required", names.join("` (or `")) + "`)",
        })
    }

    /// A number (seconds, sizes, ports); strings of digits are accepted as Ansible does.
    pub fn float(&self, name: &str) -> Result<Option<f64>, ModuleError> {
        let bad = |v: &dyn std::fmt::Display| ModuleError::Args {
            message: format!("argument `{name}` must be a number, not {v}"),
        };
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| bad(n)),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad(s)),
            Some(other) => Err(bad(other)),
        }
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ModuleError> {
        match self.float(name)? {
            Some(f) if f.fract() == 0.0 => Ok(Some(f as i64)),
            Some(f) => Err(ModuleError::Args {
                message: format!("argument `{name}` must be a whole number, not {f}"),
            }),
            None => Ok(None),
        }
    }

    /// A list of strings; a single string is a one-item list, a comma-separated string is
    /// split (Ansible's `type='list'`).
    pub fn list(&self, name: &str) -> Result<Vec<String>, ModuleError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(ModuleError::Args {
                        message: format!(
                            "argument `{name}` must be a list of strings, not {other}"
                        ),
                    }),
                })
                .collect(),
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()),
            Some(Value::Number(n)) => Ok(vec![n.to_string()]),
            Some(other) => Err(ModuleError::Args {
                message: format!("argument `{name}` must be a list, not {other}"),
            }),
        }
    }

    /// One of a fixed set of words (`state: present|absent`), defaulting when not given.
    pub fn choice(
        &self,
        name: &str,
        choices: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, ModuleError> {
        match self.str(name)? {
            None => Ok(default),
            Some(v) => choices
                .iter()
                .copied()
                .find(|c| *c == v)
                .ok_or_else(|| ModuleError::Args {
                    message: format!(
                        "argument `{name}` must be one of {}, not `{v}`",
                        choices.join(", ")
                    ),
                }),
        }
    }

    /// File modes as Ansible reads them: an integer as is (YAML `0644` is already 420), a
    /// string as octal (`"0644"`, `"644"`).
    pub fn mode(&self, name: &str) -> Result<Option<u32>, ModuleError> {
        let bad = |v: &dyn std::fmt::Display| ModuleError::Args {
            message: format!("argument `{name}` must be an octal mode such as \"0644\", not {v}"),
        };
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|m| *m <= 0o7777)
                .map(|m| Some(m as u32))
                .ok_or_else(|| bad(n)),
            Some(Value::String(s)) => u32::from_str_radix(s.trim(), 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .map(Some)
                .ok_or_else(|| bad(s)),
            Some(other) => Err(bad(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Misspelt new modules still get a "did you mean" at load time (the loader suggests
    /// from these names).
    #[test]
    fn the_upgrade_modules_are_known_and_suggested() {
        for name in ["reboot", "user", "group", "cron", "sysctl", "ping", "uri"] {
            assert!(find(name).is_some(), "{name}");
            assert!(find(&format!("ansible.builtin.{name}")).is_some(), "{name}");
        }
        let names = || all().into_iter().map(|m| m.name);
        assert_eq!(
            crate::suggest::did_you_mean("rebot", names()),
            Some("reboot")
        );
        assert_eq!(
            crate::suggest::did_you_mean("sysctrl", names()),
            Some("sysctl")
        );
        assert_eq!(crate::suggest::did_you_mean("usr", names()), Some("user"));
    }
}
