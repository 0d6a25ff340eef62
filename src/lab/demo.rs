//! The demo service on the lab nodes: rendering `templates/demo-service.sh.j2`, installing
//! version 1.0 with a seeded database on every node, and stopping the daemons on `lab down`.
//! Seeding works on the node directories directly (the lab is local), running the script as the
//! lab user so the files and processes belong to whoever logs in over SSH later.

use std::path::Path;
use std::process::{Child, Stdio};

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior, context};

use super::sshd::{self, Account};
use super::{Lab, LabError, Node};

/// The demo service's source: a Jinja template of a POSIX `sh` script, rendered with
/// `demo_version` and `node_root`. The CLI copies it next to the demo playbook.
pub const DEMO_SERVICE_TEMPLATE: &str = include_str!("../../templates/demo-service.sh.j2");
/// The version `seed_demo` installs; the demo playbook upgrades it to 2.0.
const SEED_VERSION: &str = "1.0";

/// Renders the demo service script for one node.
pub fn render_demo_service(version: &str, node_root: &Path) -> Result<String, LabError> {
    // Both values land inside single quotes in the script.
    let version_ok = version.starts_with(|c: char| c.is_ascii_digit())
        && version.chars().all(|c| c.is_ascii_digit() || c == '.');
    if !version_ok {
        return Err(LabError::DemoVersion {
            version: version.to_string(),
        });
    }
    super::files::check_quotable(node_root)?;
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A shell script should end with a newline, as the template does.
    env.set_syntax(
        SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()?,
    );
    env.add_template("demo-service.sh.j2", DEMO_SERVICE_TEMPLATE)?;
    let template = env.get_template("demo-service.sh.j2")?;
    Ok(template.render(context! {
        demo_version => version,
        node_root => node_root.display().to_string(),
    })?)
}

pub(super) fn seed(lab: &Lab) -> Result<(), LabError> {
    sshd::find_sqlite()?;
    let account = Account::named(&lab.user)?;
    for node in &lab.nodes {
        // A node with a database keeps its data and installed version: it may be mid-upgrade.
        if !node.root.join("var/demo/demo.db").exists() {
            install(&account, node)?;
            let out = demo_command(&account, node, "init")
                .output()
                .map_err(super::files::io_err("run", &node.demo_service()))?;
            check(node, "init", &out)?;
        }
    }
    // Each `start` waits for its daemon's pid file: start all nodes, then collect.
    let mut starts: Vec<(&Node, Child)> = Vec::new();
    for node in &lab.nodes {
        let child = demo_command(&account, node, "start")
            .spawn()
            .map_err(super::files::io_err("run", &node.demo_service()))?;
        starts.push((node, child));
    }
    let mut first_error = None;
    for (node, child) in starts {
        let result = child
            .wait_with_output()
            .map_err(super::files::io_err("run", &node.demo_service()))
            .and_then(|out| check(node, "start", &out));
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Stops the demo daemon running from `node_root`, if any; true if one was running.
pub(super) fn stop_daemon(node_root: &Path) -> Result<bool, LabError> {
    let Some(pid) = sshd::read_pid(&node_root.join("run/demo-service.pid")) else {
        return Ok(false);
    };
    let script = node_root.join("opt/demo/bin/demo-service");
    sshd::terminate(pid, &script, "demo-service")
}

fn install(account: &Account, node: &Node) -> Result<(), LabError> {
    let script = node.demo_service();
    for dir in ["opt", "opt/demo", "opt/demo/bin"] {
        let dir = node.root.join(dir);
        super::files::make_dir(&dir)?;
        account.chown(&dir)?;
    }
    let text = render_demo_service(SEED_VERSION, &node.root)?;
    super::files::write_atomic(&script, text.as_bytes(), 0o755)?;
    account.chown(&script)
}

fn demo_command(account: &Account, node: &Node, action: &str) -> std::process::Command {
    let mut command = account.command("/bin/sh");
    command
        .arg(node.demo_service())
        .arg(action)
        .current_dir(&node.root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn check(node: &Node, action: &'static str, out: &std::process::Output) -> Result<(), LabError> {
    if out.status.success() {
        return Ok(());
    }
    Err(LabError::Demo {
        node: node.name.clone(),
        action,
        output: super::sshd::combined_output(out),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_version_and_root_into_the_script() {
        let text = render_demo_service("2.0", Path::new("/tmp/lab/nodes/node1"));
        let text = text.unwrap_or_default();
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.contains("VERSION='2.0'\n"));
        assert!(text.contains("ROOT='/tmp/lab/nodes/node1'\n"));
        assert!(text.ends_with("exit $?\n"));
        assert!(!text.contains("{{"));
    }

    #[test]
    fn refuses_values_that_would_break_the_quoting() {
        let root = Path::new("/tmp/lab");
        assert!(render_demo_service("2.0'; rm -rf /", root).is_err());
        assert!(render_demo_service("", root).is_err());
        assert!(render_demo_service("1.0", Path::new("/tmp/it's")).is_err());
    }
}
