//! The control machine as a host (Ansible's `connection: local`, what `delegate_to:
//! localhost` reaches): commands run under `/bin/sh -c` as child processes, files are read and
//! written on the local filesystem with the guarantees of an SFTP upload (temp file in the
//! same directory, mode set, then renamed over the target). No SSH and no `become`.

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::process::Command;

use super::escalation::{RunAs, exports};
use super::{ExecOutput, TransportError};

/// Why a local connection does not run `become`: sudo's password dialogue would need the
/// marker protocol of [`super::escalation`] over a child process.
pub(crate) const NO_BECOME: &str =
    "`become` is not supported on the control machine (delegate_to: localhost) by drover yet";

pub(crate) struct Local {
    /// The name the playbook used (`localhost`, `127.0.0.1`, or an inventory host with
    /// `ansible_connection: local`), for messages.
    pub(crate) host: String,
}

impl Local {
    fn file_error(&self, path: &Path, reason: String) -> TransportError {
        TransportError::LocalFile {
            host: self.host.clone(),
            path: path.to_path_buf(),
            reason,
        }
    }

    /// Runs `command` with `/bin/sh -c` (the local stand-in for a login shell), `environment`
    /// exported, `stdin` fed while stdout and stderr are read.
    pub(crate) async fn exec(
        &self,
        run_as: &RunAs,
        command: &str,
        stdin: Option<Vec<u8>>,
    ) -> Result<ExecOutput, TransportError> {
        if let Some(escalation) = &run_as.escalation {
            return Err(TransportError::Become {
                host: self.host.clone(),
                method: escalation.method.name(),
                user: escalation.user.clone(),
                reason: NO_BECOME.to_string(),
            });
        }
        let script = format!("{}{command}", exports(&run_as.environment));
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A task abandoned by Ctrl-C must not leave its command running.
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Channel {
                host: self.host.clone(),
                reason: format!("cannot start /bin/sh: {e}"),
            })?;
        let input = child.stdin.take();
        // Written while output is read, as over SSH: a command that echoes its input would
        // otherwise fill both pipes and deadlock. A command may exit without reading it all.
        let feed = async move {
            if let (Some(mut pipe), Some(data)) = (input, stdin) {
                let _ = pipe.write_all(&data).await;
                let _ = pipe.shutdown().await;
            }
        };
        let (_, output) = tokio::join!(feed, child.wait_with_output());
        let output = output.map_err(|e| TransportError::Channel {
            host: self.host.clone(),
            reason: format!("waiting for /bin/sh: {e}"),
        })?;
        use std::os::unix::process::ExitStatusExt;
        Ok(ExecOutput {
            stdout: output.stdout,
            stderr: output.stderr,
            exit_status: output.status.code().map(|c| c as u32),
            exit_signal: output.status.signal().map(signal_name),
        })
    }

    /// Streams `source` into `path` atomically; `mode` None keeps an existing file's mode
    /// (a new file gets the umask's default, as over SFTP).
    pub(crate) async fn upload<R: AsyncRead + Unpin>(
        &self,
        path: &str,
        mut source: R,
        mode: Option<u32>,
    ) -> Result<(), TransportError> {
        use std::os::unix::fs::PermissionsExt;
        let target = Path::new(path);
        let temp = super::sftp::temp_path(path)
            .ok_or_else(|| self.file_error(target, "not a file path".into()))?;
        let temp = Path::new(&temp);
        let mode = match mode {
            Some(mode) => Some(mode),
            None => tokio::fs::metadata(target)
                .await
                .ok()
                .map(|m| m.permissions().mode() & 0o7777),
        };
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        if mode.is_some() {
            // Private until the final mode is set, so a secret is never briefly readable.
            options.mode(0o600);
        }
        let mut file = options
            .open(temp)
            .await
            .map_err(|e| self.file_error(temp, format!("cannot create: {e}")))?;
        let written = async {
            tokio::io::copy(&mut source, &mut file).await?;
            file.flush().await?;
            if let Some(mode) = mode {
                file.set_permissions(std::fs::Permissions::from_mode(mode))
                    .await?;
            }
            drop(file);
            tokio::fs::rename(temp, target).await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(temp).await;
            return Err(self.file_error(target, e.to_string()));
        }
        Ok(())
    }

    /// Streams `path` into `sink`; returns its size.
    pub(crate) async fn download<W: AsyncWrite + Unpin>(
        &self,
        path: &str,
        mut sink: W,
    ) -> Result<u64, TransportError> {
        let error = |e: std::io::Error| self.file_error(Path::new(path), e.to_string());
        let mut file = tokio::fs::File::open(path).await.map_err(error)?;
        let copied = tokio::io::copy(&mut file, &mut sink).await.map_err(error)?;
        sink.flush().await.map_err(error)?;
        Ok(copied)
    }
}

/// A signal's name as sshd reports it (`TERM`, `KILL`, …).
fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGABRT => "ABRT",
        libc::SIGALRM => "ALRM",
        libc::SIGFPE => "FPE",
        libc::SIGHUP => "HUP",
        libc::SIGILL => "ILL",
        libc::SIGINT => "INT",
        libc::SIGKILL => "KILL",
        libc::SIGPIPE => "PIPE",
        libc::SIGQUIT => "QUIT",
        libc::SIGSEGV => "SEGV",
        libc::SIGTERM => "TERM",
        libc::SIGUSR1 => "USR1",
        libc::SIGUSR2 => "USR2",
        other => return format!("SIG{other}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::super::{BecomeMethod, Connection, Escalation};
    use std::os::unix::fs::PermissionsExt;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    fn mode_of(path: &std::path::Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn exec_captures_stdout_stderr_the_exit_status_and_feeds_stdin() {
        let conn = Connection::local("localhost");
        let out = block_on(conn.exec("echo out; echo err >&2; exit 3", None)).expect("exec");
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.exit_status, Some(3));
        assert_eq!(out.exit_signal, None);

        // More than a pipe buffer each way: stdin must be fed while output is read.
        let big = vec![b'x'; 256 * 1024];
        let out = block_on(conn.sh("cat", Some(big.clone()))).expect("cat");
        assert_eq!(out.stdout.len(), big.len());
        assert_eq!(out.exit_status, Some(0));

        // No stdin: the command sees end of file at once instead of waiting.
        let out = block_on(conn.exec("wc -c", None)).expect("wc");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");

        let out = block_on(conn.exec("kill -TERM $$", None)).expect("kill");
        assert_eq!(out.exit_status, None);
        assert_eq!(out.exit_signal.as_deref(), Some("TERM"));
    }

    #[test]
    fn environment_is_exported_and_become_is_refused() {
        let conn = Connection::local("localhost");
        let with_env = conn.run_as(None, vec![("GREETING".into(), "a b'c".into())]);
        let out = block_on(with_env.exec("printf %s \"$GREETING\"", None)).expect("exec");
        assert_eq!(out.stdout, b"a b'c");

        let escalated = conn.run_as(
            Some(Escalation {
                method: BecomeMethod::Sudo,
                user: "root".into(),
                password: None,
            }),
            Vec::new(),
        );
        let err = block_on(escalated.exec("id", None)).expect_err("become refused");
        assert!(
            err.to_string()
                .contains("not supported on the control machine"),
            "{err}"
        );
        assert!(!err.is_unreachable());
    }

    #[test]
    fn upload_is_atomic_sets_the_mode_and_otherwise_keeps_the_replaced_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let conn = Connection::local("localhost");
        let path = dir.path().join("config");
        let name = path.to_string_lossy().into_owned();

        block_on(conn.upload(&name, b"one\n", Some(0o640))).expect("upload");
        assert_eq!(std::fs::read(&path).expect("read"), b"one\n");
        assert_eq!(mode_of(&path), 0o640);

        // No mode: the replaced file's mode stays.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).expect("chmod");
        block_on(conn.upload(&name, b"two\n", None)).expect("upload");
        assert_eq!(std::fs::read(&path).expect("read"), b"two\n");
        assert_eq!(mode_of(&path), 0o604);

        // Streamed from a local file, then read back both ways.
        let source = dir.path().join("source");
        std::fs::write(&source, b"three\n").expect("write");
        block_on(conn.upload_file(&source, &name, None)).expect("upload_file");
        assert_eq!(
            block_on(conn.download(&name)).expect("download"),
            b"three\n"
        );
        let copy = dir.path().join("copy");
        let size = block_on(conn.download_to_file(&name, &copy)).expect("download_to_file");
        assert_eq!(size, 6);
        assert_eq!(std::fs::read(&copy).expect("read"), b"three\n");

        // Only the three files: no temp file left behind.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("ls")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn a_failed_upload_leaves_the_target_alone_and_names_the_path() {
        let dir = tempfile::tempdir().expect("tmp");
        let conn = Connection::local("localhost");
        let missing = dir.path().join("no-such-dir/file");
        let err = block_on(conn.upload(&missing.to_string_lossy(), b"x", None))
            .expect_err("no directory");
        assert!(
            err.to_string().starts_with("localhost: local file "),
            "{err}"
        );
        assert!(err.to_string().contains("no-such-dir"), "{err}");
        let err = block_on(conn.download(&missing.to_string_lossy())).expect_err("no file");
        assert!(err.to_string().contains("no-such-dir"), "{err}");
    }
}
