//! The lab's stand-in for systemd on every node: `NODE_ROOT/lab/bin/systemctl` (host var
//! `lab_bin`), a small POSIX sh script over the units in `NODE_ROOT/lab/units/<unit>/`, each a
//! directory of `start`, `stop` and `status` scripts. The lab writes its own units (`redis`)
//! with [`write_unit`]; product stand-ins add theirs the same way. Everything here belongs to
//! the lab user, so playbooks logging in as that user can run and add units.

use std::path::{Path, PathBuf};

use super::files::{make_dir, write_atomic};
use super::sshd::Account;
use super::{LabError, Node};

const SYSTEMCTL: &str = include_str!("systemctl.sh");

impl Node {
    /// `NODE_ROOT/lab/bin`: stand-ins for system commands (`systemctl`, …), host var `lab_bin`.
    pub fn lab_bin(&self) -> PathBuf {
        self.root.join("lab/bin")
    }

    /// `NODE_ROOT/lab/units/<name>`: the unit's `start`, `stop` and `status` scripts.
    pub fn unit_dir(&self, name: &str) -> PathBuf {
        self.root.join("lab/units").join(name)
    }
}

/// The three scripts of a unit, each a complete POSIX sh script.
pub(super) struct Unit<'a> {
    pub name: &'a str,
    pub start: &'a str,
    pub stop: &'a str,
    /// Exits 0 when the unit is active, 3 when it is not.
    pub status: &'a str,
}

/// Writes `lab/bin/systemctl` and the (possibly empty) `lab/units/` directory of `node`.
pub(super) fn write_systemctl(account: &Account, node: &Node) -> Result<(), LabError> {
    let units = node.root.join("lab/units");
    for dir in [node.root.join("lab"), node.lab_bin(), units.clone()] {
        make_dir(&dir)?;
        account.chown(&dir)?;
    }
    // Lab paths never contain a single quote (`check_quotable`).
    let script = SYSTEMCTL.replace("@UNITS@", &format!("'{}'", units.display()));
    write_script(account, &node.lab_bin().join("systemctl"), &script)
}

/// Writes (or rewrites) one unit of `node`; [`write_systemctl`] must have run.
pub(super) fn write_unit(account: &Account, node: &Node, unit: &Unit) -> Result<(), LabError> {
    let dir = node.unit_dir(unit.name);
    make_dir(&dir)?;
    account.chown(&dir)?;
    for (name, text) in [
        ("start", unit.start),
        ("stop", unit.stop),
        ("status", unit.status),
    ] {
        write_script(account, &dir.join(name), text)?;
    }
    Ok(())
}

fn write_script(account: &Account, path: &Path, text: &str) -> Result<(), LabError> {
    write_atomic(path, text.as_bytes(), 0o755)?;
    account.chown(path)
}
