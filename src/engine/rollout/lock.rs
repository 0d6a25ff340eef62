//! A lock per host, on the host: before a rollout changes a host, it makes the lock directory
//! there (`mkdir` is atomic on every POSIX filesystem), with an `owner` file saying which run
//! holds it, from which control machine and user, since when, and until when its lease runs.
//! The run renews the lease while it works; another run finding the lock is refused, naming
//! the holder. A lock whose lease ran out (its run died) is stale: it is broken only when the
//! operator says so (`--break-lock`, or `drover unlock HOST --run ID`), never reused silently.
//! A resume of the same run takes its own locks back. Nothing is shared between control
//! machines but the hosts themselves.
//!
//! Host variables: `drover_lock_path` (default `/var/tmp/drover.lock`: it survives a reboot,
//! so a host left mid-upgrade stays marked) and `drover_lock_lease` (seconds, default 600).
//! Times are the host's clock (`date +%s`), so control machines' clocks never disagree.

use super::Rollout;
use crate::engine::HostState;
use crate::engine::events::Event;
use crate::template::{Origin, shell_quote};
use crate::transport::Connection;
use std::collections::BTreeMap;
use std::time::Duration;

pub const DEFAULT_PATH: &str = "/var/tmp/drover.lock";
pub const DEFAULT_LEASE: u64 = 600;

/// Who takes the locks: this run.
#[derive(Debug, Clone)]
pub struct LockOwner {
    pub run_id: String,
    /// `--break-lock`: a stale lock (its lease ran out) of another run is broken.
    pub break_stale: bool,
}

/// A lock's `owner` file, as read back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Holder {
    pub run: String,
    pub control: String,
    pub user: String,
    pub since: u64,
    pub expires: u64,
    /// The host's clock when it was read.
    pub now: u64,
}

impl Holder {
    fn parse(text: &str, now: u64) -> Holder {
        let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                fields.insert(k.trim(), v.trim());
            }
        }
        let field = |k: &str| fields.get(k).copied().unwrap_or_default().to_string();
        let number = |k: &str| fields.get(k).and_then(|v| v.parse().ok()).unwrap_or(0);
        Holder {
            run: field("run"),
            control: field("control"),
            user: field("user"),
            since: number("since"),
            expires: number("expires"),
            now,
        }
    }

    /// Its lease ran out: the run that holds it is gone (or stopped renewing). An owner file
    /// not written yet (a lock being taken this instant) is never stale.
    pub fn stale(&self) -> bool {
        !self.run.is_empty() && self.expires > 0 && self.expires < self.now
    }

    pub fn describe(&self) -> String {
        if self.run.is_empty() {
            return "a run that is taking it right now (no owner written yet)".to_string();
        }
        let since = self.now.saturating_sub(self.since);
        let lease = if self.stale() {
            format!(
                "its lease ran out {} ago: stale",
                human(self.now - self.expires)
            )
        } else {
            format!(
                "lease renewed, {} left",
                human(self.expires.saturating_sub(self.now))
            )
        };
        format!(
            "run {} of {}@{}, since {} ago ({lease})",
            self.run,
            self.user,
            self.control,
            human(since)
        )
    }
}

fn human(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

/// What taking a lock gave.
pub enum Taken {
    /// Ours now (fresh, taken back by a resume, or a stale one broken with `--break-lock`).
    Ours {
        lock: HostLock,
        broke: Option<Holder>,
    },
    /// Another run holds it.
    Refused(Holder),
    /// The host could not be asked.
    Error(String),
}

/// One lock on one host, as this run holds it.
#[derive(Clone)]
pub struct HostLock {
    pub host: String,
    conn: Connection,
    path: String,
    lease: u64,
    run: String,
}

fn owner_script(path: &str, run: &str, lease: u64, since: &str) -> String {
    let control = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string());
    // Written beside and renamed: a reader never sees half an owner file.
    format!(
        "printf 'run=%s\\ncontrol=%s\\nuser=%s\\nsince=%s\\nexpires=%s\\n' {run} {control} {user} {since} \"$((now + {lease}))\" > {owner}.tmp && mv -f {owner}.tmp {owner}",
        run = shell_quote(run),
        control = shell_quote(&control),
        user = shell_quote(&user),
        owner = shell_quote(&format!("{path}/owner")),
    )
}

impl HostLock {
    /// Takes the lock on `conn`'s host for `owner`'s run: fresh, taken back (the same run
    /// resumed), or breaking a stale one when `--break-lock` says so.
    pub async fn take(
        host: &str,
        conn: &Connection,
        path: &str,
        lease: u64,
        owner: &LockOwner,
    ) -> Taken {
        let lock = HostLock {
            host: host.to_string(),
            conn: conn.clone(),
            path: path.to_string(),
            lease,
            run: owner.run_id.clone(),
        };
        let d = shell_quote(path);
        let write = owner_script(path, &owner.run_id, lease, "$now");
        let script = format!(
            "now=$(date +%s); mkdir -p \"$(dirname {d})\" 2>/dev/null; \
             if mkdir {d} 2>/dev/null; then {write} && echo taken; \
             else echo \"held $now\"; cat {d}/owner 2>/dev/null; fi"
        );
        let (first, rest) = match lock.sh(&script).await {
            Ok(out) => out,
            Err(why) => return Taken::Error(why),
        };
        if first == "taken" {
            return Taken::Ours { lock, broke: None };
        }
        let Some(now) = first.strip_prefix("held ").and_then(|n| n.parse().ok()) else {
            return Taken::Error(format!("unexpected answer: {first}"));
        };
        let holder = Holder::parse(&rest, now);
        if holder.run == owner.run_id {
            // This run's own lock, from before it was interrupted: take it back.
            return match lock.renew().await {
                Ok(()) => Taken::Ours { lock, broke: None },
                Err(why) => Taken::Error(why),
            };
        }
        if !(holder.stale() && owner.break_stale) {
            return Taken::Refused(holder);
        }
        match lock.break_and_take(&rest).await {
            Ok(true) => Taken::Ours {
                lock,
                broke: Some(holder),
            },
            // Someone else took or renewed it meanwhile: ask again next time.
            Ok(false) => Taken::Refused(holder),
            Err(why) => Taken::Error(why),
        }
    }

    /// Runs a script; its first line of output and the rest.
    async fn sh(&self, script: &str) -> Result<(String, String), String> {
        let out = self
            .conn
            .sh(script, None)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.exit_status != Some(0) {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!(
                "the lock script failed ({}): {}",
                out.exit_status
                    .map_or("signal".to_string(), |s| s.to_string()),
                err.trim()
            ));
        }
        let (first, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        Ok((first.trim().to_string(), rest.to_string()))
    }

    /// Moves the stale lock aside only if its owner is still the one seen (two breakers
    /// cannot both win), then takes a fresh one.
    async fn break_and_take(&self, seen: &str) -> Result<bool, String> {
        let d = shell_quote(&self.path);
        let write = owner_script(&self.path, &self.run, self.lease, "$now");
        let script = format!(
            "now=$(date +%s); aside={d}.broken-$$; \
             if [ \"$(cat {d}/owner 2>/dev/null)\" = {seen} ] && mv {d} \"$aside\" 2>/dev/null; then \
             rm -rf \"$aside\"; if mkdir {d} 2>/dev/null; then {write} && echo taken; else echo lost; fi; \
             else echo lost; fi",
            seen = shell_quote(seen.trim_end_matches('\n')),
        );
        let (first, _) = self.sh(&script).await?;
        Ok(first == "taken")
    }

    /// Extends the lease from now, if the lock is still this run's.
    pub async fn renew(&self) -> Result<(), String> {
        let d = shell_quote(&self.path);
        let write = owner_script(&self.path, &self.run, self.lease, "\"$since\"");
        let script = format!(
            "now=$(date +%s); since=$(sed -n 's/^since=//p' {d}/owner 2>/dev/null); \
             [ -n \"$since\" ] || since=$now; \
             if grep -qx {mine} {d}/owner 2>/dev/null; then {write} && echo renewed; else echo lost; fi",
            mine = shell_quote(&format!("run={}", self.run)),
        );
        match self.sh(&script).await?.0.as_str() {
            "renewed" => Ok(()),
            _ => Err(format!("the lock at {} is no longer this run's", self.path)),
        }
    }

    /// Removes the lock if it is still this run's.
    pub async fn release(&self) -> Result<(), String> {
        release(&self.conn, &self.path, &self.run).await.map(|_| ())
    }
}

/// What `release` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Released {
    Released,
    NotLocked,
    /// Another run holds it: left alone.
    Held(Holder),
}

/// Removes the lock at `path` if run `run` holds it (`drover unlock`, and a run's end).
pub async fn release(conn: &Connection, path: &str, run: &str) -> Result<Released, String> {
    let d = shell_quote(path);
    let script = format!(
        "now=$(date +%s); if grep -qx {mine} {d}/owner 2>/dev/null; then \
         rm -rf {d} && echo released; elif [ -d {d} ]; then echo \"held $now\"; cat {d}/owner 2>/dev/null; \
         else echo none; fi",
        mine = shell_quote(&format!("run={run}")),
    );
    let out = conn.sh(&script, None).await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (first, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    match first.trim() {
        "released" => Ok(Released::Released),
        "none" => Ok(Released::NotLocked),
        held => match held.strip_prefix("held ").and_then(|n| n.parse().ok()) {
            Some(now) => Ok(Released::Held(Holder::parse(rest, now))),
            None => Err(format!(
                "unexpected answer: {held} {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        },
    }
}

/// The locks a rollout holds, renewed in the background while it runs.
#[derive(Default)]
pub(super) struct Locks {
    held: Vec<HostLock>,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

impl Locks {
    /// Starts renewing every held lock at a third of its lease.
    fn start_renewing(&mut self, events: crate::engine::EventSink) {
        let locks = self.held.clone();
        let Some(lease) = locks.iter().map(|l| l.lease).min() else {
            return;
        };
        let every = Duration::from_secs((lease / 3).max(1));
        self.renewer = Some(tokio::spawn(async move {
            let mut warned = std::collections::HashSet::new();
            loop {
                tokio::time::sleep(every).await;
                for lock in &locks {
                    if let Err(why) = lock.renew().await
                        && warned.insert(lock.host.clone())
                    {
                        let _ = events.send(Event::Warning {
                            message: format!("{}: could not renew its lock: {why}", lock.host),
                        });
                    }
                }
            }
        }));
    }

    /// Releases the locks of `hosts` (the others stay, their lease running out: a host left
    /// for `drover resume` stays marked as this run's).
    pub(super) async fn release(&mut self, hosts: &[String], events: &crate::engine::EventSink) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
        for lock in self.held.iter().filter(|l| hosts.contains(&l.host)) {
            if let Err(why) = lock.release().await {
                let _ = events.send(Event::Warning {
                    message: format!("{}: could not release its lock: {why}", lock.host),
                });
            }
        }
        self.held.clear();
    }
}

impl Drop for Locks {
    fn drop(&mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
    }
}

impl Rollout {
    /// A host variable, rendered for `host` (as a string), or `default`.
    fn lock_setting(&self, host: &HostState, name: &str, default: &str) -> String {
        let job = self.host_job();
        let vars = job.context_for(host);
        let ctx = crate::engine::vars::jinja(&self.scope, &vars);
        let expr = format!("{{{{ {name} | default({default:?}) }}}}");
        self.shared
            .templates
            .render_str(&expr, &ctx, Origin::At(name))
            .unwrap_or_else(|_| default.to_string())
    }

    /// Takes the lock of every host in `hosts` (in order) before any of them changes. On
    /// refusal, what holds which host (every lock taken is released again).
    pub(super) async fn lock(
        &self,
        state: &mut crate::engine::RunState,
        hosts: &[String],
    ) -> Result<Locks, Vec<(String, String)>> {
        let mut locks = Locks::default();
        let Some(owner) = self.shared.config.lock.clone() else {
            return Ok(locks);
        };
        let mut refused = Vec::new();
        for name in hosts {
            let Some(host) = state.hosts.get_mut(name) else {
                continue;
            };
            let path = self.lock_setting(host, "drover_lock_path", DEFAULT_PATH);
            let job = self.host_job();
            let conn = match job.connection(host).await {
                Ok(conn) => conn,
                Err(why) => {
                    refused.push((
                        name.clone(),
                        format!("cannot take its lock at {path}: {why}"),
                    ));
                    continue;
                }
            };
            let lease = self
                .lock_setting(host, "drover_lock_lease", &DEFAULT_LEASE.to_string())
                .trim()
                .parse()
                .unwrap_or(DEFAULT_LEASE)
                .max(3);
            match HostLock::take(name, &conn, &path, lease, &owner).await {
                Taken::Ours { lock, broke } => {
                    if let Some(holder) = broke {
                        self.shared.emit(Event::Warning {
                            message: format!(
                                "{name}: broke the stale lock at {path} held by {} (--break-lock)",
                                holder.describe()
                            ),
                        });
                    }
                    locks.held.push(lock);
                }
                Taken::Refused(holder) => {
                    let hint = if holder.stale() {
                        format!(
                            "; if that run is gone: drover unlock {name} --run {} (or --break-lock)",
                            holder.run
                        )
                    } else {
                        String::new()
                    };
                    refused.push((
                        name.clone(),
                        format!("locked at {path} by {}{hint}", holder.describe()),
                    ));
                }
                Taken::Error(why) => {
                    refused.push((
                        name.clone(),
                        format!("cannot take its lock at {path}: {why}"),
                    ));
                }
            }
        }
        if !refused.is_empty() {
            let all: Vec<String> = locks.held.iter().map(|l| l.host.clone()).collect();
            locks.release(&all, &self.shared.events).await;
            return Err(refused);
        }
        locks.start_renewing(self.shared.events.clone());
        Ok(locks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_file_reads_back_and_knows_when_it_is_stale() {
        let text = "run=20261203T000000Z-00ab\ncontrol=ops1\nuser=alice\nsince=100\nexpires=700\n";
        let live = Holder::parse(text, 400);
        assert_eq!(live.run, "20261203T000000Z-00ab");
        assert_eq!(live.user, "alice");
        assert!(!live.stale());
        assert!(
            live.describe().contains("alice@ops1"),
            "{}",
            live.describe()
        );
        let stale = Holder::parse(text, 701);
        assert!(stale.stale());
        assert!(stale.describe().contains("stale"));
        // Being written this instant: never stale.
        assert!(!Holder::parse("", 10_000).stale());
    }
}
