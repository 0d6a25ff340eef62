//! ansible-core's source distribution from PyPI: downloaded once into `target/conformance/`,
//! checked against the sha256 PyPI publishes for it, and its `test/integration/` unpacked
//! beside it. Nothing of it is copied into the repository.

use crate::common::ansible::{ANSIBLE_CORE_VERSION, dump, output_within};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `https://pypi.org/pypi/ansible-core/<version>/json`, `urls[]` of the `.tar.gz`: its
/// address and digest. A new ANSIBLE_CORE_VERSION needs both updated (the test says so).
pub const SDIST_URL: &str = "https://files.pythonhosted.org/packages/c6/c7/\
    e426d9955a69be0c4fd9d62fa756ef0cea6a7aa5467274ed46ea3316e1b3/ansible_core-2.19.14.tar.gz";
pub const SDIST_SHA256: &str = "1e7612788eaa6b3c87a3670ce86c64b830eba0ae2b3fcb25a772f276704163b4";

const DOWNLOAD_LIMIT: Duration = Duration::from_secs(300);

fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/conformance")
}

/// `test/integration` of the pinned release, unpacked (once) under `target/conformance/`.
pub fn integration_dir() -> PathBuf {
    assert!(
        SDIST_URL.ends_with(&format!("ansible_core-{ANSIBLE_CORE_VERSION}.tar.gz")),
        "tests/conformance/sdist.rs pins the sdist of another release than \
         ANSIBLE_CORE_VERSION {ANSIBLE_CORE_VERSION}: update SDIST_URL and SDIST_SHA256 from \
         https://pypi.org/pypi/ansible-core/{ANSIBLE_CORE_VERSION}/json"
    );
    let dir = cache_dir();
    fs::create_dir_all(&dir).expect("mkdir target/conformance");
    let root = dir.join(format!("ansible_core-{ANSIBLE_CORE_VERSION}"));
    let done = root.join(".unpacked");
    if done.is_file() {
        return root.join("test/integration");
    }
    let lock = fs::File::create(dir.join("sdist.lock")).expect("create the sdist lock file");
    lock.lock().expect("lock target/conformance/sdist.lock");
    if !done.is_file() {
        let archive = dir.join(format!("ansible_core-{ANSIBLE_CORE_VERSION}.tar.gz"));
        if !archive.is_file() || sha256(&archive) != SDIST_SHA256 {
            download(&archive);
        }
        unpack(&archive, &dir, &root);
        fs::write(&done, SDIST_SHA256).expect("write .unpacked");
    }
    root.join("test/integration")
}

fn sha256(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn download(archive: &Path) {
    let part = archive.with_extension("part");
    let mut curl = Command::new("curl");
    curl.args(["-fsSL", "--retry", "3", "-o"])
        .arg(&part)
        .arg(SDIST_URL);
    let out = output_within(curl, DOWNLOAD_LIMIT, "curl");
    assert!(
        out.status.success(),
        "cannot download {SDIST_URL} (is curl installed, is PyPI reachable?)\n{}",
        dump(&out)
    );
    let got = sha256(&part);
    if got != SDIST_SHA256 {
        let _ = fs::remove_file(&part);
        panic!("{SDIST_URL} has sha256 {got}, not the pinned {SDIST_SHA256}: refusing it");
    }
    fs::rename(&part, archive).expect("keep the downloaded sdist");
}

fn unpack(archive: &Path, dir: &Path, root: &Path) {
    let _ = fs::remove_dir_all(root);
    let member = format!("ansible_core-{ANSIBLE_CORE_VERSION}/test/integration");
    let mut tar = Command::new("tar");
    tar.arg("-xzf").arg(archive).arg("-C").arg(dir).arg(&member);
    let out = output_within(tar, DOWNLOAD_LIMIT, "tar");
    assert!(
        out.status.success(),
        "cannot unpack {member} from {}\n{}",
        archive.display(),
        dump(&out)
    );
}
