//! Recursive `copy`: a directory from the control machine (`src: dir`) or from the node
//! itself (`remote_src: yes`) into a directory on the node. One command lists the whole
//! destination tree with every file's checksum (never a round trip per file); which
//! directories to make and which files to write is decided here, and each file that differs
//! then goes through `copy`'s single-file path ([`put_known`]) with its node state already
//! known: streamed, written to a temp file beside it and renamed. Check mode stops after
//! the listing. Nothing is ever deleted from `dest`, as in Ansible.

use super::file::{FileFacts, FileWanted, Payload, Remote, put_known};
use super::sources::Sources;
use super::{Args, Context, ModuleError, Outcome};
use crate::template::shell_quote;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to copy, by path relative to the tree's root (`""` is the root itself).
pub(super) struct Source {
    /// Each directory, with the mode a new copy of it gets when `directory_mode` is not
    /// given: the source's on the node (`cp -a`), the node's default (`None`) for local trees.
    dirs: BTreeMap<String, Option<u32>>,
    files: BTreeMap<String, Payload>,
}

impl Source {
    /// A directory on the control machine, walked and hashed here. Symlinks are followed, as
    /// Ansible's `local_follow` default does.
    pub(super) async fn local(root: &Path, sources: &Sources) -> Result<Source, ModuleError> {
        let mut walk = LocalWalk::default();
        walk.visit(root, String::new())?;
        let mut files = BTreeMap::new();
        for (rel, path) in walk.files {
            if let Some(plain) = super::sources::vault_plaintext(&path)? {
                files.insert(rel, Payload::Bytes(plain));
                continue;
            }
            // Read and hashed once for all hosts; a large file is never held whole.
            let source = sources.get(&path).await?;
            files.insert(rel, Payload::File { path, source });
        }
        Ok(Source {
            dirs: walk.dirs.into_iter().map(|d| (d, None)).collect(),
            files,
        })
    }

    /// A directory on the node, listed with its checksums in one command.
    pub(super) async fn on_node(ctx: &Context<'_>, root: &str) -> Result<Source, ModuleError> {
        let root = trim_root(root);
        let Listing::Tree(tree) = list(ctx, &root).await? else {
            return Err(ModuleError::Remote {
                message: format!("{root} is not a directory on the node"),
            });
        };
        if let Some(odd) = tree.others.first() {
            return Err(ModuleError::Remote {
                message: format!(
                    "{} is neither a file nor a directory (a dangling symlink, a fifo or a \
                     socket); copy does not copy it",
                    join(&root, odd)
                ),
            });
        }
        Ok(Source {
            dirs: tree.dirs.into_iter().map(|(d, m)| (d, Some(m))).collect(),
            files: tree
                .files
                .into_iter()
                .map(|(rel, facts)| {
                    let path = join(&root, &rel);
                    (rel, Payload::Remote { path, facts })
                })
                .collect(),
        })
    }
}

#[derive(Default)]
struct LocalWalk {
    dirs: Vec<String>,
    files: Vec<(String, PathBuf)>,
    /// The directories being walked (canonical), to stop at a symlink that loops back.
    ancestors: Vec<PathBuf>,
}

impl LocalWalk {
    fn visit(&mut self, dir: &Path, rel: String) -> Result<(), ModuleError> {
        let canonical = std::fs::canonicalize(dir).map_err(|e| local_error(dir, e))?;
        if self.ancestors.contains(&canonical) {
            return Err(local_error(
                dir,
                std::io::Error::other("a symlink loops back to a directory above it"),
            ));
        }
        self.ancestors.push(canonical);
        self.dirs.push(rel.clone());
        let mut entries = std::fs::read_dir(dir)
            .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
            .map_err(|e| local_error(dir, e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(local_error(
                    &path,
                    std::io::Error::other("the name is not UTF-8; copy cannot name it on the node"),
                ));
            };
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            // Follows symlinks; a dangling one is an error here, as in Ansible.
            let meta = std::fs::metadata(&path).map_err(|e| local_error(&path, e))?;
            if meta.is_dir() {
                self.visit(&path, child)?;
            } else if meta.is_file() {
                self.files.push((child, path));
            } else {
                return Err(local_error(
                    &path,
                    std::io::Error::other("neither a file nor a directory; copy does not copy it"),
                ));
            }
        }
        self.ancestors.pop();
        Ok(())
    }
}

/// A local file that could not be read, named by its path.
pub(super) fn local_error(path: &Path, source: std::io::Error) -> ModuleError {
    ModuleError::Local {
        path: path.display().to_string(),
        source,
    }
}

/// What the node has at a tree's root.
enum Listing {
    Absent,
    NotDirectory,
    Tree(Tree),
}

/// A directory tree on the node, by relative path (`""` is the root).
#[derive(Default)]
struct Tree {
    /// Directory → mode.
    dirs: BTreeMap<String, u32>,
    files: BTreeMap<String, FileFacts>,
    /// Anything else: dangling symlinks, fifos, sockets, devices.
    others: Vec<String>,
}

/// Lists `root` on the node in one command: every path's type, mode, owner, group and size,
/// then every regular file's SHA-1. Records end in NUL, so any file name survives. Symlinks
/// are followed (a symlinked directory in `dest` is written through, as `mkdir -p` would).
async fn list(ctx: &Context<'_>, root: &str) -> Result<Listing, ModuleError> {
    let script = format!(
        "r={}\n\
         if [ -d \"$r\" ]; then cd -- \"$r\" || exit 1\n\
         elif [ -e \"$r\" ] || [ -L \"$r\" ]; then echo file; exit 0\n\
         else echo absent; exit 0; fi\n\
         echo tree\n\
         find -L . -printf '%y %m %u %g %s %P\\0' || exit 1\n\
         printf '\\0'\n\
         find -L . -type f -exec sha1sum -z -- {{}} + || exit 1\n",
        shell_quote(root)
    );
    let out = ctx.sh_ok(&script, &format!("listing {root}")).await?;
    let (head, rest) = match out.stdout.iter().position(|b| *b == b'\n') {
        Some(i) => (&out.stdout[..i], &out.stdout[i + 1..]),
        None => (&out.stdout[..], &[][..]),
    };
    match head {
        b"absent" => Ok(Listing::Absent),
        b"file" => Ok(Listing::NotDirectory),
        b"tree" => parse_tree(rest)
            .map(Listing::Tree)
            .ok_or_else(|| ModuleError::Remote {
                message: format!("cannot read the listing of {root} on the host"),
            }),
        _ => Err(ModuleError::Remote {
            message: format!(
                "cannot read the state of {root} on the host: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }),
    }
}

/// Parses [`list`]'s output after its first line: `TYPE MODE OWNER GROUP SIZE PATH` records,
/// an empty record, then `sha1sum -z` records (`SUM  ./PATH`).
fn parse_tree(bytes: &[u8]) -> Option<Tree> {
    let mut records = bytes.split(|b| *b == 0);
    let mut tree = Tree::default();
    let mut stats = BTreeMap::new();
    for record in records.by_ref() {
        if record.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(record);
        let mut fields = text.splitn(6, ' ');
        let (kind, mode, owner, group, size, path) = (
            fields.next()?,
            u32::from_str_radix(fields.next()?, 8).ok()?,
            fields.next()?,
            fields.next()?,
            fields.next()?.parse::<u64>().ok()?,
            fields.next()?.to_string(),
        );
        match kind {
            "d" => {
                tree.dirs.insert(path, mode);
            }
            "f" => {
                stats.insert(path, (mode, owner.to_string(), group.to_string(), size));
            }
            _ => tree.others.push(path),
        }
    }
    for record in records.filter(|r| !r.is_empty()) {
        let text = String::from_utf8_lossy(record);
        let (sha1, path) = text.split_once("  ")?;
        let path = path.strip_prefix("./")?;
        // A file that appeared between the two `find`s has no stat: leave it out, as if it
        // came after the listing. One that vanished has no checksum: it stays absent.
        if let Some((mode, owner, group, size)) = stats.remove(path) {
            let sha1 = sha1.to_string();
            let facts = FileFacts {
                mode,
                owner,
                group,
                size,
                sha1,
            };
            tree.files.insert(path.to_string(), facts);
        }
    }
    Some(tree)
}

fn trim_root(path: &str) -> String {
    match path.trim_end_matches('/') {
        "" => "/".to_string(),
        trimmed => trimmed.to_string(),
    }
}

fn join(root: &str, rel: &str) -> String {
    match (root, rel) {
        (_, "") => root.to_string(),
        ("/", _) => format!("/{rel}"),
        _ => format!("{root}/{rel}"),
    }
}

/// Copies `source` into the directory `dest` (created when missing): new directories get
/// `directory_mode` (existing ones are left as they are, as in Ansible); each file that
/// differs is written as a single `copy` would write it, with `mode`, `owner`, `group`,
/// `force`, `backup` and `validate`.
pub(super) async fn copy_tree(
    ctx: &Context<'_>,
    args: &Args,
    source: Source,
    dest: &str,
) -> Result<Outcome, ModuleError> {
    let want = FileWanted::from_args(args)?;
    let directory_mode = args.file_mode("directory_mode")?;
    let root = trim_root(dest);
    let have = match list(ctx, &root).await? {
        Listing::NotDirectory => {
            return Ok(Outcome::failed(format!(
                "{root} exists and is not a directory; a directory `src` needs a directory `dest`"
            )));
        }
        Listing::Absent => Tree::default(),
        Listing::Tree(tree) => tree,
    };

    let mut new_dirs = Vec::new();
    for (rel, source_mode) in &source.dirs {
        if have.dirs.contains_key(rel) {
            continue;
        }
        let path = join(&root, rel);
        if have.files.contains_key(rel) || have.others.contains(rel) {
            return Ok(Outcome::failed(format!(
                "{path} exists and is not a directory; the source has a directory there"
            )));
        }
        let mode = match &directory_mode {
            Some(m) => Some(m.resolve(source_mode.unwrap_or(0o755), true)),
            None => *source_mode,
        };
        new_dirs.push((path, mode));
    }
    let mut outcome = Outcome::default();
    outcome.data.insert("dest".into(), json!(root));
    if !new_dirs.is_empty() {
        outcome.changed = true;
        if !ctx.check {
            make_dirs(ctx, &new_dirs, &want).await?;
        }
    }

    let mut changed_files = Vec::new();
    for (rel, payload) in &source.files {
        let path = join(&root, rel);
        let remote = match have.files.get(rel) {
            Some(facts) => Remote::File(facts.clone()),
            None if have.dirs.contains_key(rel) => {
                return Ok(Outcome::failed(format!(
                    "{path} is a directory; the source has a file there"
                )));
            }
            None => Remote::Absent,
        };
        let file = put_known(ctx, &want, &path, &remote, payload).await?;
        if file.failed {
            return Ok(file);
        }
        if file.changed {
            outcome.changed = true;
            outcome.diffs.extend(file.diffs);
            changed_files.push(path);
        }
    }
    let created: Vec<&str> = new_dirs.iter().map(|(p, _)| p.as_str()).collect();
    outcome
        .data
        .insert("created_directories".into(), json!(created));
    outcome
        .data
        .insert("changed_files".into(), json!(changed_files));
    Ok(outcome)
}

/// Creates the missing directories (parents sort before their children) in one command,
/// with their modes and the wanted owner.
async fn make_dirs(
    ctx: &Context<'_>,
    dirs: &[(String, Option<u32>)],
    want: &FileWanted,
) -> Result<(), ModuleError> {
    let quoted: Vec<String> = dirs.iter().map(|(p, _)| shell_quote(p)).collect();
    let mut script = format!("mkdir -p -- {}", quoted.join(" "));
    for ((_, mode), q) in dirs.iter().zip(&quoted) {
        if let Some(mode) = mode {
            script.push_str(&format!(" && chmod {mode:04o} -- {q}"));
        }
    }
    if let Some(spec) = want.chown_spec() {
        script.push_str(&format!(
            " && chown {} -- {}",
            shell_quote(&spec),
            quoted.join(" ")
        ));
    }
    ctx.sh_ok(&script, "creating directories").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_parses_types_stats_and_checksums_with_odd_names() {
        let sum = "a".repeat(40);
        let listing = format!(
            "d 755 u g 4096 \0d 750 u g 4096 sub dir\0f 644 u g 3 sub dir/a  b\n\0\
             l 777 u g 5 dangling\0\0{sum}  ./sub dir/a  b\n\0"
        );
        let tree = parse_tree(listing.as_bytes()).expect("parses");
        assert_eq!(tree.dirs.get(""), Some(&0o755));
        assert_eq!(tree.dirs.get("sub dir"), Some(&0o750));
        let file = tree.files.get("sub dir/a  b\n").expect("file");
        assert_eq!(
            (file.mode, file.size, file.sha1.as_str()),
            (0o644, 3, &*sum)
        );
        assert_eq!(tree.others, vec!["dangling".to_string()]);
    }

    #[test]
    fn paths_join_under_the_root_and_slash() {
        assert_eq!(join("/srv/app", ""), "/srv/app");
        assert_eq!(join("/srv/app", "a/b"), "/srv/app/a/b");
        assert_eq!(join("/", "etc"), "/etc");
        assert_eq!(trim_root("/srv/app//"), "/srv/app");
        assert_eq!(trim_root("/"), "/");
    }
}
