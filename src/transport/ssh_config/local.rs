//! The local side as OpenSSH sees it: the user, home and uid from the password database
//! (`getpwuid_r`, so NSS/LDAP accounts work too), `$HOME` only when the database has no entry,
//! and the local host name — for `~`, `%u`, `%d`, `%i`, `%l`, `Match localuser`.

use std::ffi::{CStr, CString};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    pub user: String,
    pub home: PathBuf,
    pub uid: u32,
    pub hostname: String,
}

impl Local {
    pub fn current() -> Local {
        // SAFETY: getuid has no preconditions and cannot fail.
        let uid = unsafe { libc::getuid() };
        let entry = passwd_by_uid(uid);
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (user, home) = match entry {
            Some((user, home)) => (user, PathBuf::from(home)),
            None => (
                env("USER")
                    .or_else(|| env("LOGNAME"))
                    .unwrap_or_else(|| uid.to_string()),
                env("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/")),
            ),
        };
        Local {
            user,
            home,
            uid,
            hostname: hostname(),
        }
    }

    /// `~`, `~/…` and `~user/…` expanded; anything else as is.
    pub fn expand_tilde(&self, path: &str) -> PathBuf {
        let Some(rest) = path.strip_prefix('~') else {
            return PathBuf::from(path);
        };
        let (name, tail) = match rest.split_once('/') {
            Some((name, tail)) => (name, tail),
            None => (rest, ""),
        };
        let home = if name.is_empty() {
            Some(self.home.clone())
        } else {
            passwd_home_by_name(name).map(PathBuf::from)
        };
        match home {
            Some(home) if tail.is_empty() => home,
            Some(home) => home.join(tail),
            None => PathBuf::from(path),
        }
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn passwd_by_uid(uid: u32) -> Option<(String, String)> {
    lookup(|pwd, buf, len, result| {
        // SAFETY: every pointer is valid for the call; buf has `len` bytes.
        unsafe { libc::getpwuid_r(uid, pwd, buf, len, result) }
    })
}

fn passwd_home_by_name(name: &str) -> Option<String> {
    let name = CString::new(name).ok()?;
    lookup(|pwd, buf, len, result| {
        // SAFETY: as above; `name` outlives the call.
        unsafe { libc::getpwnam_r(name.as_ptr(), pwd, buf, len, result) }
    })
    .map(|(_, home)| home)
}

fn lookup(
    call: impl Fn(*mut libc::passwd, *mut libc::c_char, usize, *mut *mut libc::passwd) -> i32,
) -> Option<(String, String)> {
    let mut size = 1024usize;
    // Bounded: the buffer grows to at most 1 MiB.
    while size <= 1 << 20 {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: zeroed passwd is a valid out-parameter for getpw*_r.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = call(&mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == libc::ERANGE {
            size *= 4;
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() || pwd.pw_dir.is_null() {
            return None;
        }
        // SAFETY: on success both fields point to NUL-terminated strings inside `buf`.
        let (name, dir) = unsafe { (CStr::from_ptr(pwd.pw_name), CStr::from_ptr(pwd.pw_dir)) };
        return Some((
            name.to_string_lossy().into_owned(),
            dir.to_string_lossy().into_owned(),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_user_comes_from_the_password_database() {
        let local = Local::current();
        assert!(!local.user.is_empty());
        assert_eq!(local.expand_tilde("~/.ssh/id"), local.home.join(".ssh/id"));
        assert_eq!(local.expand_tilde("~"), local.home);
        assert_eq!(local.expand_tilde("/abs"), PathBuf::from("/abs"));
        // root exists everywhere; its home is found by name.
        assert_eq!(local.expand_tilde("~root/x"), PathBuf::from("/root/x"));
        assert_eq!(
            local.expand_tilde("~no-such-user-xyz/x"),
            PathBuf::from("~no-such-user-xyz/x")
        );
    }
}
