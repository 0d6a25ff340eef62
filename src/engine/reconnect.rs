//! The engine's side of a module that outlives its connection ([`HostLink`]): `reboot` and
//! `wait_for_connection` reconnect through the same [`Job::connect`] as the task's first
//! connection (same target, host-key checks, bastions), and the fresh connection replaces
//! the old one for every holder ([`Connection::adopt`]). `reboot` also records itself in
//! the journal before it reboots, keyed by play, host, task location and hop, so a resume
//! that reaches the same task can tell whether the reboot already happened.

use super::task::Job;
use super::vars::HostVars;
use crate::journal::Record;
use crate::modules::{BoxFuture, HostLink};
use crate::transport::Connection;

pub(super) struct TaskLink<'a> {
    pub job: &'a Job,
    pub vars: &'a HostVars,
    /// The host's connection (the one tasks and the lock renewal hold).
    pub conn: Connection,
    pub play: usize,
    pub host: String,
    /// The task's `file:line:col`.
    pub task: String,
    pub hop: Option<String>,
}

impl HostLink for TaskLink<'_> {
    fn reconnect(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let fresh = self
                .job
                .connect(self.vars)
                .await
                .map_err(|stop| stop.message())?;
            if self.conn.adopt(fresh).await {
                Ok(())
            } else {
                Err(format!("{}: not an SSH connection", self.host))
            }
        })
    }

    fn recorded_reboot(&self) -> Option<String> {
        let key = (
            self.play,
            self.host.clone(),
            self.task.clone(),
            self.hop.clone(),
        );
        self.job
            .shared
            .config
            .resume
            .as_ref()?
            .reboots
            .get(&key)
            .cloned()
    }

    fn record_reboot(&self, boot_id: &str) {
        self.job.shared.record(Record::Reboot {
            play: self.play,
            host: self.host.clone(),
            task: self.task.clone(),
            hop: self.hop.clone(),
            boot_id: boot_id.to_string(),
            at: crate::journal::now_rfc3339(),
        });
    }
}
