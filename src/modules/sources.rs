//! Local files a run sends to its hosts (`copy`'s `src`, a directory's files), each read and
//! hashed once however many hosts receive it. A small file's bytes are kept for the run, so
//! a hundred hosts copying the same file cost one read instead of a hundred streams from
//! disk (each with its own buffers and blocking-pool thread). A file changed during the run
//! (a local task rewrote it) is seen by its size and modification time and read again.

use super::ModuleError;
use super::tree::local_error;
use sha1::{Digest as _, Sha1};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio::sync::OnceCell;

/// Files up to this size are kept in memory for the run.
const KEEP_FILE: u64 = 1024 * 1024;
/// Bytes kept in memory in all; later files are streamed from disk to every host.
const KEEP_TOTAL: usize = 32 * 1024 * 1024;

/// One local file as read: what every host compares and receives.
#[derive(Debug)]
pub struct Source {
    pub size: u64,
    pub sha1: String,
    /// The content, when small enough to keep; `None` means stream it from the path.
    pub bytes: Option<Arc<[u8]>>,
    stamp: Stamp,
}

/// What tells a file changed since it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    fn of(path: &Path) -> Result<Stamp, ModuleError> {
        let meta = std::fs::metadata(path).map_err(|source| local_error(path, source))?;
        Ok(Stamp {
            size: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

type Slot = Arc<OnceCell<Arc<Source>>>;

/// The run's local sources, shared by every host's tasks.
#[derive(Default)]
pub struct Sources {
    files: Mutex<HashMap<PathBuf, Slot>>,
    kept: AtomicUsize,
}

impl Sources {
    /// `path`'s size, checksum and (small files) content; read once, by the first host to
    /// ask, while the others wait for it.
    pub async fn get(&self, path: &Path) -> Result<Arc<Source>, ModuleError> {
        let stamp = Stamp::of(path)?;
        let source = self.read_once(path, stamp).await?;
        if source.stamp == stamp {
            return Ok(source);
        }
        // Another host read it before a change this one has seen: its slot is stale now.
        self.read_once(path, Stamp::of(path)?).await
    }

    async fn read_once(&self, path: &Path, stamp: Stamp) -> Result<Arc<Source>, ModuleError> {
        let slot = self.slot(path, stamp);
        let source = slot
            .get_or_try_init(|| async { self.read(path, stamp).await.map(Arc::new) })
            .await?;
        Ok(source.clone())
    }

    /// The slot for `path`, replacing one whose file has changed since it was read.
    fn slot(&self, path: &Path, stamp: Stamp) -> Slot {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        let stale = files
            .get(path)
            .and_then(|slot| slot.get())
            .is_some_and(|source| source.stamp != stamp);
        if stale && let Some(old) = files.remove(path) {
            self.release(&old);
        }
        files.entry(path.to_path_buf()).or_default().clone()
    }

    fn release(&self, slot: &Slot) {
        if let Some(bytes) = slot.get().and_then(|s| s.bytes.as_ref()) {
            self.kept.fetch_sub(bytes.len(), Ordering::Relaxed);
        }
    }

    /// Hashes the file in chunks on the blocking pool, keeping its bytes when it is small
    /// and the run's budget allows.
    async fn read(&self, path: &Path, stamp: Stamp) -> Result<Source, ModuleError> {
        let reserved = (stamp.size <= KEEP_FILE)
            .then_some(stamp.size as usize)
            .filter(|&n| self.reserve(n));
        // `stamp` was taken before reading: a write during the read shows as a change on the
        // next request, never as stale content passing for current.
        let read = digest(path, reserved.is_some()).await;
        // The budget was taken at the stat's size; settle it at what was read (or nothing).
        if let Some(n) = reserved {
            self.kept.fetch_sub(n, Ordering::Relaxed);
        }
        let Digest { size, sha1, bytes } = read.map_err(|source| local_error(path, source))?;
        if let Some(bytes) = &bytes {
            self.kept.fetch_add(bytes.len(), Ordering::Relaxed);
        }
        Ok(Source {
            size,
            sha1,
            bytes: bytes.map(Arc::from),
            stamp,
        })
    }

    /// Takes `n` bytes of the keep budget; false (nothing taken) when it would overflow.
    fn reserve(&self, n: usize) -> bool {
        if self.kept.fetch_add(n, Ordering::Relaxed) + n <= KEEP_TOTAL {
            return true;
        }
        self.kept.fetch_sub(n, Ordering::Relaxed);
        false
    }
}

/// A local file's size, SHA-1 and (when asked) content.
pub(super) struct Digest {
    pub size: u64,
    pub sha1: String,
    pub bytes: Option<Vec<u8>>,
}

/// Reads `path` in 64 KiB chunks on the blocking pool (a large file is never held whole
/// unless `keep` asks for its content).
pub(super) async fn digest(path: &Path, keep: bool) -> std::io::Result<Digest> {
    let path = path.to_path_buf();
    match tokio::task::spawn_blocking(move || digest_blocking(&path, keep)).await {
        Ok(result) => result,
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }
}

fn digest_blocking(path: &Path, keep: bool) -> std::io::Result<Digest> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha1::new();
    let mut kept = Vec::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buffer[..n];
        hasher.update(chunk);
        if keep {
            kept.extend_from_slice(chunk);
        }
        size += n as u64;
    }
    Ok(Digest {
        size,
        sha1: super::transfer::hex(&hasher.finalize()),
        bytes: keep.then_some(kept),
    })
}

/// The plaintext of a vault-encrypted control-side file (`copy`/`template` sources), `None`
/// when the file is not vault data. Decrypting needs the run's vault password; without it
/// the task fails naming the file, never sending the ciphertext.
pub fn vault_plaintext(path: &Path) -> Result<Option<Vec<u8>>, ModuleError> {
    let local = |source| ModuleError::Local {
        path: path.display().to_string(),
        source,
    };
    let mut head = [0u8; 14];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(local)?;
    if !crate::vault::is_encrypted(&head[..n]) || n < head.len() {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(local)?;
    crate::vault::read_maybe_encrypted(bytes, &path.display().to_string())
        .map(Some)
        .map_err(|err| ModuleError::Args {
            message: err.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        match tokio::runtime::Builder::new_current_thread().build() {
            Ok(rt) => rt,
            Err(e) => panic!("runtime: {e}"),
        }
    }

    #[test]
    fn reads_once_and_sees_a_change() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("blob");
        std::fs::write(&path, b"hello\n").unwrap_or_else(|e| panic!("{e}"));
        let sources = Sources::default();
        let rt = runtime();
        let first = rt
            .block_on(sources.get(&path))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.sha1, "f572d396fae9206628714fb2ce00f72e94f2258f");
        assert_eq!(first.bytes.as_deref(), Some(&b"hello\n"[..]));
        let again = rt
            .block_on(sources.get(&path))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(Arc::ptr_eq(&first, &again), "read twice");

        // Rewritten with another size: read again, and the budget follows.
        std::fs::write(&path, b"hello, world\n").unwrap_or_else(|e| panic!("{e}"));
        let changed = rt
            .block_on(sources.get(&path))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(changed.size, 13);
        assert_eq!(changed.bytes.as_deref(), Some(&b"hello, world\n"[..]));
        assert_eq!(sources.kept.load(Ordering::Relaxed), 13);
    }

    #[test]
    fn a_large_file_is_hashed_but_not_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("big");
        let data = vec![7u8; KEEP_FILE as usize + 1];
        std::fs::write(&path, &data).unwrap_or_else(|e| panic!("{e}"));
        let sources = Sources::default();
        let got = runtime()
            .block_on(sources.get(&path))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.size, data.len() as u64);
        assert_eq!(
            got.sha1,
            crate::modules::transfer::hex(&Sha1::digest(&data))
        );
        assert!(got.bytes.is_none());
        assert_eq!(sources.kept.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_missing_file_is_a_local_error() {
        let sources = Sources::default();
        let err = runtime().block_on(sources.get(Path::new("/nonexistent/drover-src")));
        assert!(matches!(err, Err(ModuleError::Local { .. })));
    }
}
