//! Files over SFTP: one session per connection, uploads made atomic (temp file in the same
//! directory, mode set, then renamed over the target) and transfers streamed with pipelined
//! requests so neither side holds a whole file. Built on `RawSftpSession` because the
//! high-level session hides the `posix-rename@openssh.com` extension.

use std::collections::VecDeque;
use std::sync::Arc;

use russh::client::Handle;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::TransportError;
use super::session::{HostKeyVerifier, lost_or, open_session};

const POSIX_RENAME: &str = "posix-rename@openssh.com";
const LIMITS: &str = "limits@openssh.com";
/// Bytes per read/write request; OpenSSH accepts up to 255 KiB, any server at least 32 KiB.
/// 32 KiB, not more: russh keeps its per-connection write buffer at the largest message it
/// had to send, for the rest of the connection (at 64 KiB: 110 KB per host after one copy).
const CHUNK: u64 = 32 * 1024;
/// The largest SSH channel packet OpenSSH's sshd accepts (its default; RFC 4254 lets a server
/// choose). A write request that does not fit is sent as two packets, and russh then doubles
/// its per-connection write buffer for the rest of the connection (64 KiB instead of 32 KiB
/// per host).
const CHANNEL_PACKET: u64 = 32 * 1024;
/// A write request's bytes besides its data: length, type, id, handle length, offset, data
/// length (25), plus the handle itself.
const WRITE_OVERHEAD: u64 = 25;
/// Requests in flight per transfer at most: 512 KiB, a quarter of the default SSH channel
/// window. A transfer starts with one and doubles after each reply (see [`Window`]).
const IN_FLIGHT: usize = 16;
/// Seconds an SFTP request may take before it fails (a slow disk on a busy node).
const REQUEST_TIMEOUT_SECS: u64 = 60;

pub(crate) struct Sftp {
    raw: Arc<RawSftpSession>,
    posix_rename: bool,
    chunk: u64,
    budget: Budget,
}

/// File data in flight over SFTP to and from all hosts together, counted in KiB. Past it a
/// transfer waits for another's chunk to be answered before sending its own, so a thousand
/// hosts copying at once hold a bounded amount of memory instead of a window each.
#[derive(Clone)]
pub(crate) struct Budget {
    room: Arc<Semaphore>,
    /// The whole budget in KiB: one chunk never asks for more, or it would wait forever.
    total: u32,
}

impl Budget {
    pub(crate) fn new(bytes: usize) -> Budget {
        let total = kib(bytes);
        Budget {
            room: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    fn kib(&self, bytes: usize) -> u32 {
        kib(bytes).min(self.total)
    }

    /// Room for `bytes` (at least 1 KiB), waiting for it; given back when the permit drops.
    async fn take(&self, bytes: usize) -> Permit {
        // An error would mean a closed semaphore, which this one never is.
        Permit {
            _held: self
                .room
                .clone()
                .acquire_many_owned(self.kib(bytes))
                .await
                .ok(),
        }
    }

    /// Room for `bytes` if there is some now. A transfer that already holds room must not
    /// wait for more while what it holds waits on it (a download's data until written out):
    /// every host doing that at once would wait forever.
    fn try_take(&self, bytes: usize) -> Option<Permit> {
        match self.room.clone().try_acquire_many_owned(self.kib(bytes)) {
            Ok(permit) => Some(Permit {
                _held: Some(permit),
            }),
            Err(tokio::sync::TryAcquireError::NoPermits) => None,
            Err(tokio::sync::TryAcquireError::Closed) => Some(Permit { _held: None }),
        }
    }
}

fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX)
}

/// Room in the [`Budget`], held while a chunk is in flight.
struct Permit {
    _held: Option<OwnedSemaphorePermit>,
}

impl Sftp {
    pub(crate) async fn open(
        host: &str,
        handle: &Handle<HostKeyVerifier>,
        budget: Budget,
    ) -> Result<Sftp, TransportError> {
        let failed = |reason: String| TransportError::Sftp {
            host: host.to_string(),
            path: "(session)".to_string(),
            reason,
        };
        let channel = open_session(host, handle).await?;
        channel
            .request_subsystem(true, "sftp")
            .await
            .map_err(|e| lost_or(host, handle, e))?;
        let raw = RawSftpSession::new(channel.into_stream());
        raw.set_timeout(REQUEST_TIMEOUT_SECS);
        let version = raw
            .init()
            .await
            .map_err(|e| failed(format!("cannot start the sftp subsystem: {e}")))?;
        let has = |name: &str| version.extensions.contains_key(name);
        let mut chunk = CHUNK;
        if has(LIMITS)
            && let Ok(limits) = raw.limits().await
        {
            for limit in [limits.max_read_len, limits.max_write_len] {
                if limit > 0 {
                    chunk = chunk.min(limit);
                }
            }
        }
        Ok(Sftp {
            raw: Arc::new(raw),
            posix_rename: has(POSIX_RENAME),
            chunk,
            budget,
        })
    }

    /// Streams `source` into `path` atomically; `mode` None keeps an existing file's mode.
    pub(crate) async fn upload<R: AsyncRead + Unpin>(
        &self,
        host: &str,
        path: &str,
        source: R,
        mode: Option<u32>,
    ) -> Result<(), TransportError> {
        let failed = |reason: String| TransportError::Sftp {
            host: host.to_string(),
            path: path.to_string(),
            reason,
        };
        let temp = temp_path(path).ok_or_else(|| failed("not a file path".to_string()))?;
        let mode = match mode {
            Some(mode) => Some(mode),
            None => match self.raw.stat(path).await {
                Ok(attrs) => attrs.attrs.permissions.map(|p| p & 0o7777),
                Err(_) => None,
            },
        };
        let mut attrs = FileAttributes::empty();
        if mode.is_some() {
            // Private until the final mode is set, so a secret is never briefly readable.
            attrs.permissions = Some(0o600);
        }
        let handle = self
            .raw
            .open(
                temp.as_str(),
                OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE | OpenFlags::TRUNCATE,
                attrs,
            )
            .await
            .map_err(|e| failed(format!("cannot create {temp}: {}", describe(&e))))?
            .handle;

        let written = self.write_all(&handle, source, mode).await;
        let closed = self.raw.close(handle.as_str()).await;
        let result = match (written, closed) {
            (Err(reason), _) => Err(reason),
            (Ok(()), Err(e)) => Err(format!("closing {temp}: {}", describe(&e))),
            (Ok(()), Ok(_)) => self.rename_over(&temp, path).await,
        };
        if let Err(reason) = result {
            let _ = self.raw.remove(temp.as_str()).await;
            return Err(failed(reason));
        }
        Ok(())
    }

    async fn write_all<R: AsyncRead + Unpin>(
        &self,
        handle: &str,
        mut source: R,
        mode: Option<u32>,
    ) -> Result<(), String> {
        let mut pending: VecDeque<JoinHandle<Result<(), SftpError>>> = VecDeque::new();
        let mut window = Window::default();
        let mut offset: u64 = 0;
        let overhead = WRITE_OVERHEAD + handle.len() as u64;
        let chunk = self
            .chunk
            .min(CHANNEL_PACKET.saturating_sub(overhead))
            .max(1) as usize;
        let result = loop {
            let permit = self.budget.take(chunk).await;
            match read_chunk(&mut source, chunk).await {
                Err(e) => break Err(format!("reading the source: {e}")),
                Ok(buffer) if buffer.is_empty() => break Ok(()),
                Ok(buffer) => {
                    let raw = self.raw.clone();
                    let handle = handle.to_string();
                    let at = offset;
                    offset += buffer.len() as u64;
                    pending.push_back(tokio::spawn(async move {
                        let written = raw.write(handle, at, buffer).await.map(|_| ());
                        drop(permit);
                        written
                    }));
                }
            }
            if pending.len() >= window.size()
                && let Some(oldest) = pending.pop_front()
            {
                if let Err(reason) = joined(oldest).await {
                    break Err(reason);
                }
                window.grow();
            }
        };
        let mut result = result;
        for write in pending {
            if result.is_err() {
                write.abort();
            } else if let Err(reason) = joined(write).await {
                result = Err(reason);
            }
        }
        result?;
        if let Some(mode) = mode {
            let mut attrs = FileAttributes::empty();
            attrs.permissions = Some(mode);
            self.raw
                .fsetstat(handle, attrs)
                .await
                .map_err(|e| format!("setting mode {mode:o}: {}", describe(&e)))?;
        }
        Ok(())
    }

    async fn rename_over(&self, temp: &str, path: &str) -> Result<(), String> {
        if self.posix_rename {
            let mut data = Vec::with_capacity(8 + temp.len() + path.len());
            for part in [temp, path] {
                data.extend_from_slice(&(part.len() as u32).to_be_bytes());
                data.extend_from_slice(part.as_bytes());
            }
            return match self.raw.extended(POSIX_RENAME, data).await {
                Ok(russh_sftp::protocol::Packet::Status(s)) if s.status_code == StatusCode::Ok => {
                    Ok(())
                }
                Ok(russh_sftp::protocol::Packet::Status(s)) => {
                    Err(format!("renaming {temp}: {}", s.error_message))
                }
                Ok(_) => Err(format!("renaming {temp}: unexpected reply")),
                Err(e) => Err(format!("renaming {temp}: {}", describe(&e))),
            };
        }
        // Plain SFTP rename refuses to replace: remove first (briefly no file at `path`).
        if self.raw.rename(temp, path).await.is_ok() {
            return Ok(());
        }
        let _ = self.raw.remove(path).await;
        self.raw
            .rename(temp, path)
            .await
            .map(|_| ())
            .map_err(|e| format!("renaming {temp}: {}", describe(&e)))
    }

    /// Streams `path` into `sink`, reading ahead with pipelined requests.
    pub(crate) async fn download<W: AsyncWrite + Unpin>(
        &self,
        host: &str,
        path: &str,
        mut sink: W,
    ) -> Result<u64, TransportError> {
        let failed = |reason: String| TransportError::Sftp {
            host: host.to_string(),
            path: path.to_string(),
            reason,
        };
        let handle = self
            .raw
            .open(path, OpenFlags::READ, FileAttributes::empty())
            .await
            .map_err(|e| failed(describe(&e)))?
            .handle;
        let copied = self.read_all(&handle, &mut sink).await;
        let _ = self.raw.close(handle.as_str()).await;
        let total = copied.map_err(failed)?;
        sink.flush()
            .await
            .map_err(|e| failed(format!("writing the copy: {e}")))?;
        Ok(total)
    }

    async fn read_all<W: AsyncWrite + Unpin>(
        &self,
        handle: &str,
        sink: &mut W,
    ) -> Result<u64, String> {
        type Read = (JoinHandle<Result<Option<Vec<u8>>, SftpError>>, Permit);
        let chunk = self.chunk;
        let request = |offset: u64, permit: Permit| -> Read {
            let raw = self.raw.clone();
            let handle = handle.to_string();
            let task = tokio::spawn(async move {
                match raw.read(handle, offset, chunk as u32).await {
                    Ok(data) => Ok(Some(data.data)),
                    Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => Ok(None),
                    Err(e) => Err(e),
                }
            });
            // The permit is held until the data is written to the sink.
            (task, permit)
        };
        let mut pending: VecDeque<(u64, Read)> = VecDeque::new();
        let mut window = Window::default();
        let mut next: u64 = 0;
        let mut done: u64 = 0;
        let result = loop {
            while pending.len() < window.size() {
                let permit = if pending.is_empty() {
                    self.budget.take(chunk as usize).await
                } else {
                    match self.budget.try_take(chunk as usize) {
                        Some(permit) => permit,
                        None => break,
                    }
                };
                pending.push_back((next, request(next, permit)));
                next += chunk;
            }
            let Some((offset, (read, _permit))) = pending.pop_front() else {
                break Ok(done);
            };
            let data = match read.await {
                Ok(Ok(data)) => data,
                Ok(Err(e)) => break Err(describe(&e)),
                Err(e) => break Err(format!("read task failed: {e}")),
            };
            let Some(data) = data.filter(|d| !d.is_empty()) else {
                break Ok(done);
            };
            window.grow();
            if let Err(e) = sink.write_all(&data).await {
                break Err(format!("writing the copy: {e}"));
            }
            done = offset + data.len() as u64;
            if (data.len() as u64) < chunk {
                // A short read leaves a gap before the reads already queued: drop them and
                // continue from where this one ended (a plain EOF is seen on the next read).
                for (_, (stale, _)) in pending.drain(..) {
                    stale.abort();
                }
                next = done;
            }
        };
        for (_, (read, _)) in pending {
            read.abort();
        }
        result
    }
}

/// How many requests a transfer keeps in flight: one at first, twice as many after each
/// reply, up to [`IN_FLIGHT`]. A small file (most configs) then costs russh no more than one
/// chunk of its per-connection write buffer, which keeps its largest size for the rest of
/// the connection (16 chunks queued at once: 512 KiB per host); a large one still streams
/// with the full window after a few round trips.
struct Window(usize);

impl Default for Window {
    fn default() -> Self {
        Window(1)
    }
}

impl Window {
    fn size(&self) -> usize {
        self.0
    }

    fn grow(&mut self) {
        self.0 = (self.0 * 2).min(IN_FLIGHT);
    }
}

/// Up to `size` bytes of `source`, fewer only at its end (empty there). Allocated at exactly
/// `size` (`read_to_end` would double the buffer to look for more). Each read fills what is
/// left of the buffer: from a file, every read is a trip to the blocking pool.
async fn read_chunk<R: AsyncRead + Unpin>(source: &mut R, size: usize) -> std::io::Result<Vec<u8>> {
    let mut buffer = vec![0u8; size];
    let mut filled = 0;
    while filled < size {
        match source.read(&mut buffer[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    buffer.truncate(filled);
    Ok(buffer)
}

/// `.<name>.drover-tmp-<random>` beside `path`.
pub(crate) fn temp_path(path: &str) -> Option<String> {
    let (dir, name) = match path.rsplit_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, path),
    };
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    let suffix: u64 = rand::random();
    let temp = format!(".{name}.drover-tmp-{suffix:016x}");
    Some(match dir {
        Some(dir) => format!("{dir}/{temp}"),
        None => temp,
    })
}

fn describe(e: &SftpError) -> String {
    match e {
        SftpError::Status(status) => match status.status_code {
            StatusCode::NoSuchFile => "no such file or directory".to_string(),
            StatusCode::PermissionDenied => "permission denied".to_string(),
            _ if !status.error_message.is_empty() => status.error_message.clone(),
            code => format!("{code:?}"),
        },
        SftpError::Timeout => format!("no reply within {REQUEST_TIMEOUT_SECS}s"),
        other => other.to_string(),
    }
}

async fn joined(task: JoinHandle<Result<(), SftpError>>) -> Result<(), String> {
    match task.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(describe(&e)),
        Err(e) => Err(format!("write task failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::temp_path;

    #[test]
    fn temp_file_sits_beside_the_target_and_is_hidden() {
        let temp = temp_path("/etc/app/config.yml").unwrap_or_default();
        assert!(
            temp.starts_with("/etc/app/.config.yml.drover-tmp-"),
            "{temp}"
        );
        let relative = temp_path("notes.txt").unwrap_or_default();
        assert!(relative.starts_with(".notes.txt.drover-tmp-"), "{relative}");
        assert_eq!(temp_path("/etc/app/"), None);
    }
}
