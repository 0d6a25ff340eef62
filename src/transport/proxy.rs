//! `ProxyCommand`: a child process (`/bin/sh -c COMMAND`, as ssh runs it) whose stdin and
//! stdout carry the SSH stream. Its stderr is kept (the last few KiB) to explain a failed
//! handshake; the process is killed when the connection it carries is dropped.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::process::{ChildStdin, ChildStdout};

/// What russh's handshake reads and writes: a TCP socket, a tunnel through a jump host, or a
/// proxy command's pipes.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

const STDERR_KEPT: usize = 4096;

/// The running proxy command.
pub(crate) struct Child {
    process: tokio::process::Child,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Child {
    /// The end of what the command wrote to stderr, on one line.
    pub(crate) fn stderr_tail(&self) -> String {
        let kept = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&kept)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(crate) fn into_process(self) -> tokio::process::Child {
        self.process
    }
}

pub(crate) fn spawn(
    command: &str,
) -> std::io::Result<(tokio::io::Join<ChildStdout, ChildStdin>, Child)> {
    let mut process = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let missing = || std::io::Error::other("the child's pipes were not created");
    let stdout = process.stdout.take().ok_or_else(missing)?;
    let stdin = process.stdin.take().ok_or_else(missing)?;
    let kept = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut stderr) = process.stderr.take() {
        let kept = kept.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            // Ends when the child closes stderr (it exits or is killed).
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                kept.extend_from_slice(&buf[..n]);
                let excess = kept.len().saturating_sub(STDERR_KEPT);
                kept.drain(..excess);
            }
        });
    }
    Ok((
        tokio::io::join(stdout, stdin),
        Child {
            process,
            stderr: kept,
        },
    ))
}
