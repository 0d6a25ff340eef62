//! Opt-in `become` rules for the lab, for testing `become` against real sudo and su. Never
//! done implicitly: a caller asks for it (the test helper `Fleet::up_with_become`), and only
//! as root. It changes this machine, so it says exactly what it writes:
//!
//! - `/etc/sudoers.d/drover-lab`: the lab login user may run anything as root without a
//!   password, and anything as [`BECOME_USER`] with *that* user's password (`targetpw`);
//! - the local account [`BECOME_USER`] with the password [`BECOME_PASSWORD`]. sshd's lab
//!   config allows only the lab user (`AllowUsers`) and no password logins, so this account
//!   cannot log in over SSH.
//!
//! Remove both with `rm /etc/sudoers.d/drover-lab; userdel -r drover-lab-become`.

use super::LabError;
use super::sshd::{ensure_user, run, running_as_root};
use std::path::Path;
use std::process::{Command, Stdio};

/// The second lab account, the target of password-protected `become`.
pub const BECOME_USER: &str = "drover-lab-become";
/// Its password: known on purpose, this account exists for tests only.
pub const BECOME_PASSWORD: &str = "drover-lab-become-pw";
const SUDOERS: &str = "/etc/sudoers.d/drover-lab";

/// Writes the sudoers rule and the second account (idempotent).
pub fn enable_become() -> Result<(), LabError> {
    let refuse = |message: &str| LabError::LabUser {
        user: BECOME_USER.into(),
        message: message.into(),
    };
    if !running_as_root() {
        return Err(refuse("become rules can only be set up as root"));
    }
    if !Path::new("/usr/bin/sudo").exists() {
        return Err(refuse("sudo is not installed (apt-get install sudo)"));
    }
    ensure_user(BECOME_USER, "/bin/sh")?;
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| refuse(&format!("cannot run chpasswd: {e}")))?;
    if let Some(mut stdin) = chpasswd.stdin.take() {
        use std::io::Write;
        writeln!(stdin, "{BECOME_USER}:{BECOME_PASSWORD}")
            .map_err(|e| refuse(&format!("chpasswd: {e}")))?;
    }
    let status = chpasswd
        .wait()
        .map_err(|e| refuse(&format!("chpasswd: {e}")))?;
    if !status.success() {
        return Err(refuse("chpasswd failed"));
    }
    let user = super::LAB_USER;
    let rules = format!(
        "# Written by drover's lab for tests of `become`; see src/lab/escalation.rs.\n\
         Defaults:{user} targetpw\n\
         {user} ALL=(root) NOPASSWD: ALL\n\
         {user} ALL=({BECOME_USER}) ALL\n"
    );
    let staged = format!("{SUDOERS}.drover-staged{}", std::process::id());
    super::files::write_atomic(Path::new(&staged), rules.as_bytes(), 0o440)?;
    // A broken sudoers file would lock sudo for everyone: check it before it goes live.
    let checked = run(Command::new("visudo").args(["-cf", &staged]));
    if checked.is_err() {
        let _ = std::fs::remove_file(&staged);
        return Err(refuse("visudo rejected the lab's sudoers rules"));
    }
    std::fs::rename(&staged, SUDOERS).map_err(|source| LabError::Io {
        action: "rename",
        path: SUDOERS.into(),
        source,
    })
}
