//! The stand-ins as files: each script rendered at a version (a header naming the product and
//! version, `lib.sh`, the product's part), written into the lab's releases, `$LAB/releases/`,
//! laid out as what an operator downloads, and the node tools (`docker`, `apt-get`) into
//! `$LAB/standins/bin/`, which seeding installs into each node's `lab/bin/`.

use std::path::{Path, PathBuf};

use super::Product;
use crate::lab::LabError;
use crate::lab::files::{make_dir, write_atomic};

const LIB: &str = include_str!("lib.sh");
const HEADSCALE: &str = include_str!("headscale.sh");
const HEADSCALE_CONFIG: &str = include_str!("headscale-config-example.yaml");
const DEVLAKE: &str = include_str!("devlake.sh");
const GITLAB: &str = include_str!("gitlab.sh");
const NAKAMA: &str = include_str!("nakama.sh");
const TTS: &str = include_str!("tts.sh");
const DOCKER: &str = include_str!("docker.sh");
const APT: &str = include_str!("apt.sh");
const SEED: &str = include_str!("seed.sh");

/// The Things Stack's two image repositories: Open Source and Enterprise.
pub(super) const TTS_OPEN_SOURCE: &str = "thethingsnetwork/lorawan-stack";
pub(super) const TTS_ENTERPRISE: &str = "thethingsindustries/lorawan-stack";

/// A stand-in script: the header bakes in `PRODUCT`, `VERSION` and `extra` variables, then
/// the shared library and `parts`. Values come from drover's own tables and lab paths, which
/// never contain a single quote (`check_quotable`).
pub(super) fn render(
    product: &str,
    version: &str,
    extra: &[(&str, &str)],
    parts: &[&str],
) -> String {
    let mut out = format!(
        "#!/bin/sh\n# {product} {version}: a drover lab stand-in, a test tool (not the real product).\n\
         # Rendered by drover from src/lab/standins/; edit those, not this copy.\n\
         PRODUCT='{product}'\nVERSION='{version}'\n"
    );
    for (name, value) in extra {
        out.push_str(&format!("{name}='{value}'\n"));
    }
    out.push_str(LIB);
    for part in parts {
        out.push_str(part);
    }
    out
}

/// The seed script of `product` at `version` (see `seed.sh`).
pub(super) fn seed_script(product: Product, version: &str) -> String {
    let part = match product {
        Product::Headscale => include_str!("seed-headscale.sh"),
        Product::Devlake => include_str!("seed-devlake.sh"),
        Product::Gitlab => include_str!("seed-gitlab.sh"),
        Product::Nakama => include_str!("seed-nakama.sh"),
        Product::TheThingsStack => include_str!("seed-thethingsstack.sh"),
    };
    render(
        &format!("seed-{}", product.name()),
        version,
        &[],
        &[SEED, part],
    )
}

/// Headscale's `config-example.yaml` of a version: 0.27.0 renamed a key; 0.28.0 added one.
pub(super) fn headscale_config_example(version: &str) -> String {
    let renamed = !matches!(version, "0.26.0" | "0.26.1");
    let key = if renamed {
        "ephemeral_node_expiry"
    } else {
        "ephemeral_node_inactivity_timeout"
    };
    let extra = if version == "0.28.0" {
        "\n# Taildrop lets nodes send files to each other (new in 0.28.0).\ntaildrop:\n  enabled: true\n"
    } else {
        ""
    };
    HEADSCALE_CONFIG
        .replace("@VERSION@", version)
        .replace("@EPHEMERAL_KEY@", key)
        .replace("@EXTRA@\n", extra)
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), LabError> {
    if let Some(parent) = path.parent() {
        make_dir(parent)?;
    }
    write_atomic(path, text.as_bytes(), mode)
}

/// Writes every version of `product` into `releases/<product>/` and returns that directory.
pub(super) fn write_releases(releases: &Path, product: Product) -> Result<PathBuf, LabError> {
    let dir = releases.join(product.name());
    for &version in product.versions() {
        match product {
            Product::Headscale => {
                let v = dir.join(version);
                let binary = render("headscale", version, &[], &[HEADSCALE]);
                write(
                    &v.join(format!("headscale_{version}_linux_amd64")),
                    &binary,
                    0o755,
                )?;
                write(
                    &v.join("config-example.yaml"),
                    &headscale_config_example(version),
                    0o644,
                )?;
            }
            Product::Nakama => {
                let binary = render("nakama", version, &[], &[NAKAMA]);
                write(&dir.join(version).join("nakama"), &binary, 0o755)?;
            }
            Product::Gitlab => write_gitlab_package(&dir.join("packages"), version)?,
            Product::Devlake => {
                let image = dir.join("images/apache/devlake").join(version);
                let lake = render("devlake", version, &[], &[DEVLAKE]);
                write_image(&image, "lake", "serve", &lake)?;
            }
            Product::TheThingsStack => {
                for (repo, edition) in [
                    (TTS_OPEN_SOURCE, "open-source"),
                    (TTS_ENTERPRISE, "enterprise"),
                ] {
                    let image = dir.join("images").join(repo).join(version);
                    let stack = render("ttn-lw-stack", version, &[("EDITION", edition)], &[TTS]);
                    write_image(&image, "ttn-lw-stack", "start", &stack)?;
                }
            }
        }
    }
    Ok(dir)
}

/// An image of the lab's store: `image.conf` and the entrypoint in `bin/`.
fn write_image(dir: &Path, entrypoint: &str, cmd: &str, script: &str) -> Result<(), LabError> {
    let conf = format!(
        "# A drover lab image (see the docker stand-in): entrypoint, default command, healthcheck.\n\
         ENTRYPOINT='{entrypoint}'\nCMD='{cmd}'\nHEALTHCHECK='health'\n"
    );
    write(&dir.join("image.conf"), &conf, 0o644)?;
    write(&dir.join("bin").join(entrypoint), script, 0o755)
}

/// The gitlab-ee package of a version: a directory the apt-get stand-in installs.
fn write_gitlab_package(packages: &Path, version: &str) -> Result<(), LabError> {
    let dir = packages.join(format!("gitlab-ee_{version}-ee.0_amd64"));
    let script = render("gitlab", version, &[], &[GITLAB]);
    for name in ["gitlab-ctl", "gitlab-rake", "gitlab-rails", "gitlab-backup"] {
        write(&dir.join("opt/gitlab/bin").join(name), &script, 0o755)?;
    }
    write(
        &dir.join("opt/gitlab/embedded/service/gitlab-rails/VERSION"),
        &format!("{version}-ee\n"),
        0o644,
    )?;
    let control = format!(
        "Package: gitlab-ee\nVersion: {version}-ee.0\nArchitecture: amd64\nMaintainer: drover lab\n\
         Description: GitLab Enterprise Edition (a drover lab stand-in)\n"
    );
    write(&dir.join("DEBIAN/control"), &control, 0o644)?;
    // The new package's own checks run before it is unpacked, with the node root in NODE_ROOT.
    let preinst = "#!/bin/sh\n# gitlab-ee preinst: refuses an upgrade that skips a required stop.\n\
                   exec sh \"${0%/DEBIAN/preinst}/opt/gitlab/bin/gitlab-ctl\" lab-preinst \"$2\"\n";
    let postinst = "#!/bin/sh\n# gitlab-ee postinst: reconfigure (and db:migrate) unless \
                    /etc/gitlab/skip-auto-reconfigure exists.\n\
                    exec sh \"$NODE_ROOT/opt/gitlab/bin/gitlab-ctl\" lab-postinst \"$2\"\n";
    write(&dir.join("DEBIAN/preinst"), preinst, 0o755)?;
    write(&dir.join("DEBIAN/postinst"), postinst, 0o755)
}

/// The node tools seeding installs into `lab/bin/`: `docker` (finding images in `releases`)
/// and `apt-get` (also installed as `apt-cache` and `dpkg-query`).
pub(super) fn write_tools(tools: &Path, releases: &Path) -> Result<(), LabError> {
    let releases = releases.display().to_string();
    let docker = render(
        "docker",
        "26.1.0",
        &[("BAKED_RELEASES", &releases)],
        &[DOCKER],
    );
    write(&tools.join("docker"), &docker, 0o755)?;
    let apt = render("apt", "2.6.1", &[], &[APT]);
    write(&tools.join("apt-get"), &apt, 0o755)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_script_bakes_its_version_and_ends_on_one_main_line() {
        let text = render("nakama", "3.21.1", &[], &[NAKAMA]);
        assert!(text.starts_with("#!/bin/sh\n"));
        assert!(text.contains("\nVERSION='3.21.1'\n"));
        assert!(text.ends_with("main \"$@\"; exit $?\n"));
    }

    #[test]
    fn headscale_examples_rename_the_key_from_0_27() {
        assert!(
            headscale_config_example("0.26.1").contains("\nephemeral_node_inactivity_timeout:")
        );
        let new = headscale_config_example("0.27.1");
        assert!(new.contains("\nephemeral_node_expiry:") && !new.contains("inactivity"));
        assert!(headscale_config_example("0.28.0").contains("taildrop:"));
        assert!(!new.contains('@'));
    }
}
