//! Stand-ins of the five products whose upgrades drover ships playbooks for (Headscale, Apache
//! DevLake, GitLab, Nakama, The Things Stack), and `drover lab seed <product>`, which installs
//! one at a version on lab nodes with demo data.
//!
//! A stand-in is a test tool: a small POSIX sh script per product and version (`*.sh` here,
//! embedded in drover) that keeps its schema migrations in the lab's real database, refuses a
//! schema from a skipped or a newer version, and reports the running version and health
//! truthfully. Seeding writes every version into `$LAB/releases/<product>/` (what an operator
//! downloads: binaries, the GitLab package repository, the image store of the `docker`
//! stand-in), then runs the product's seed script on each node as the lab user: the product
//! at its real paths under the node root, its config pointing at the lab's PostgreSQL and
//! Redis, its lab unit, demo data, started. /work/notes/standins.md lists each product's
//! commands and paths.

mod releases;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;

use super::files::{io_err, make_dir, read_to_string, write_atomic};
use super::sshd::{self, Account};
use super::{Lab, LabError, Node};

/// The products `drover lab seed` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    Headscale,
    Devlake,
    Gitlab,
    Nakama,
    TheThingsStack,
}

impl Product {
    pub const ALL: [Product; 5] = [
        Product::Headscale,
        Product::Devlake,
        Product::Gitlab,
        Product::Nakama,
        Product::TheThingsStack,
    ];

    /// The name on the command line and in `$LAB/releases/`.
    pub fn name(self) -> &'static str {
        match self {
            Product::Headscale => "headscale",
            Product::Devlake => "devlake",
            Product::Gitlab => "gitlab",
            Product::Nakama => "nakama",
            Product::TheThingsStack => "thethingsstack",
        }
    }

    /// Every version the lab's releases hold, oldest first; the first is seeded by default.
    pub fn versions(self) -> &'static [&'static str] {
        match self {
            Product::Headscale => &["0.26.0", "0.26.1", "0.27.0", "0.27.1", "0.28.0"],
            Product::Devlake => &["v0.20.0", "v0.21.0", "v1.0.0", "v1.0.1"],
            Product::Gitlab => &["16.3.9", "16.7.10", "16.9.2", "16.11.10", "17.1.8"],
            Product::Nakama => &["3.20.0", "3.20.1", "3.21.0", "3.21.1", "3.22.0"],
            Product::TheThingsStack => &["3.30.2", "3.31.1", "3.32.0"],
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Product {
    type Err = LabError;

    fn from_str(name: &str) -> Result<Product, LabError> {
        Product::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| LabError::UnknownProduct {
                name: name.to_string(),
            })
    }
}

/// What `seed_product` installs where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedOptions {
    /// One of [`Product::versions`]; `None`: the oldest.
    pub version: Option<String>,
    /// Node names; empty: every node of the lab. GitLab on several nodes is one cluster: the
    /// first runs the migrations (`deploy`), the last is the `sidekiq` worker, any between are
    /// app nodes.
    pub nodes: Vec<String>,
    /// The Things Stack Enterprise (`thethingsindustries/lorawan-stack`, with `as-db` and
    /// `dcs-db`) instead of Open Source.
    pub enterprise: bool,
}

/// What `seed_product` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeded {
    pub product: Product,
    pub version: String,
    pub nodes: Vec<String>,
    /// `$LAB/releases/<product>`.
    pub releases: PathBuf,
}

/// Where a node records what was seeded on it: `lab/seeded/<product>` holds the version.
fn seeded_marker(node: &Node, product: Product) -> PathBuf {
    node.root.join("lab/seeded").join(product.name())
}

impl Lab {
    /// `$LAB/releases`: what an operator would have downloaded, per product and version.
    pub fn releases_dir(&self) -> PathBuf {
        self.dir.join("releases")
    }

    /// Installs `product` at `options.version` on the chosen nodes (see [`SeedOptions`]) and
    /// starts it, after writing every version into [`Lab::releases_dir`]. A node that already
    /// has the product keeps its installed version and data (it may be mid-upgrade) and is
    /// only started; asking it for another version than it was seeded with is an error.
    pub fn seed_product(
        &self,
        product: &Product,
        options: &SeedOptions,
    ) -> Result<Seeded, LabError> {
        let product = *product;
        let version = match &options.version {
            None => product.versions()[0].to_string(),
            Some(v) if product.versions().contains(&v.as_str()) => v.clone(),
            Some(v) => {
                return Err(LabError::UnknownVersion {
                    product: product.name(),
                    version: v.clone(),
                    known: product.versions().join(", "),
                });
            }
        };
        let nodes: Vec<&Node> = if options.nodes.is_empty() {
            self.nodes.iter().collect()
        } else {
            options
                .nodes
                .iter()
                .map(|n| self.node(n))
                .collect::<Result<_, _>>()?
        };
        let account = Account::named(&self.user)?;
        let releases = self.releases_dir();
        make_dir(&releases)?;
        let release_dir = releases::write_releases(&releases, product)?;
        let tools = self.dir.join("standins/bin");
        releases::write_tools(&tools, &releases)?;
        let script = self.dir.join("standins").join(format!("seed-{product}.sh"));
        write_atomic(
            &script,
            releases::seed_script(product, &version).as_bytes(),
            0o755,
        )?;

        let first_root = nodes.first().map(|n| n.root.clone()).unwrap_or_default();
        for (index, node) in nodes.iter().enumerate() {
            let marker = seeded_marker(node, product);
            let seeded = match read_to_string(&marker) {
                Ok(text) => Some(text.trim().to_string()),
                Err(_) if !marker.exists() => None,
                Err(e) => return Err(e),
            };
            if let Some(had) = &seeded
                && options.version.is_some()
                && *had != version
            {
                return Err(LabError::AlreadySeeded {
                    node: node.name.clone(),
                    product: product.name(),
                    version: had.clone(),
                });
            }
            let role = gitlab_role(index, nodes.len());
            self.run_seed(
                &account,
                &script,
                node,
                &first_root,
                role,
                options,
                seeded.is_some(),
            )?;
        }
        Ok(Seeded {
            product,
            version,
            nodes: nodes.iter().map(|n| n.name.clone()).collect(),
            releases: release_dir,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn run_seed(
        &self,
        account: &Account,
        script: &Path,
        node: &Node,
        first_root: &Path,
        role: &str,
        options: &SeedOptions,
        seeded: bool,
    ) -> Result<(), LabError> {
        let mut command = account.command("/bin/sh");
        command
            .arg(script)
            .current_dir(&node.root)
            .env("NODE_ROOT", &node.root)
            .env("NODE_NAME", &node.name)
            .env("NODE_ADDRESS", node.address.to_string())
            .env("RELEASES", self.releases_dir())
            .env("TOOLS", self.dir.join("standins/bin"))
            .env("FIRST_ROOT", first_root)
            .env("ROLE", role)
            .env(
                "EDITION",
                if options.enterprise {
                    "enterprise"
                } else {
                    "open-source"
                },
            )
            .env("SEEDED", if seeded { "1" } else { "0" })
            .stdin(Stdio::null());
        if let Some(pg) = &self.postgresql {
            command
                .env("PG_HOST", pg.host.to_string())
                .env("PG_PORT", pg.port.to_string())
                .env("PG_USER", &pg.user)
                .env(
                    "PATH",
                    format!("{}:/usr/local/bin:/usr/bin:/bin", pg.bin.display()),
                );
        }
        if let Some(port) = node.redis_port {
            command.env("REDIS_PORT", port.to_string());
        }
        let out = command.output().map_err(io_err("run", script))?;
        if out.status.success() {
            return Ok(());
        }
        Err(LabError::Seed {
            node: node.name.clone(),
            product: script
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("seed")
                .trim_start_matches("seed-")
                .to_string(),
            output: sshd::combined_output(&out),
        })
    }
}

/// GitLab's role of the `index`th of `count` seeded nodes: one node runs everything; in a
/// cluster the first runs the migrations, the last is the sidekiq worker.
fn gitlab_role(index: usize, count: usize) -> &'static str {
    match (index, count) {
        (_, 1) => "single",
        (0, _) => "deploy",
        (i, n) if i + 1 == n => "sidekiq",
        _ => "app",
    }
}

/// Stops every stand-in daemon recorded under `node_root/run/standins/` (`NAME.pid`, and
/// `NAME.exe`, the script its command line must name); returns how many were running.
pub(super) fn stop_daemons(node_root: &Path) -> Result<usize, LabError> {
    let dir = node_root.join("run/standins");
    let mut stopped = 0;
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(LabError::Io {
                action: "list",
                path: dir,
                source,
            });
        }
    };
    for entry in entries {
        let path = entry.map_err(io_err("list", &dir))?.path();
        if path.extension().is_none_or(|e| e != "pid") {
            continue;
        }
        let Some(pid) = sshd::read_pid(&path) else {
            continue;
        };
        let Ok(exe) = read_to_string(&path.with_extension("exe")) else {
            continue;
        };
        if sshd::terminate(pid, Path::new(exe.trim()), "stand-in daemon")? {
            stopped += 1;
        }
    }
    Ok(stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_parse_by_name_and_list_their_versions_oldest_first() {
        for product in Product::ALL {
            assert_eq!(product.name().parse::<Product>().ok(), Some(product));
            assert!(product.versions().len() >= 3);
        }
        assert!("mysql".parse::<Product>().is_err());
        assert_eq!(Product::Headscale.versions()[0], "0.26.0");
    }

    #[test]
    fn gitlab_clusters_have_a_deploy_node_first_and_a_sidekiq_worker_last() {
        assert_eq!(gitlab_role(0, 1), "single");
        let roles: Vec<&str> = (0..4).map(|i| gitlab_role(i, 4)).collect();
        assert_eq!(roles, ["deploy", "app", "app", "sidekiq"]);
    }
}
