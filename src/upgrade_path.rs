//! Versions and upgrade-path hop chains: given where a host is and where it must go, the
//! ordered list of upgrades ("hops") that never skips a required stop.
//!
//! Pure: no I/O, no templating, no knowledge of hosts. The engine parses the probed version
//! and the play's `upgrade_path:` into these types and runs the `upgrade` phase once per [`Hop`].
//!
//! # Version comparison
//!
//! Every version string is read the same way, so any two versions compare (a total order):
//!
//! 1. Surrounding whitespace and a leading `v`/`V` before a digit are dropped; build metadata
//!    after `+` is ignored (as in semver: `1.0.0+build.5` equals `1.0.0`).
//! 2. The **release** is the leading run of dot-separated numbers (`1.2.3`, `2024.01`).
//!    Releases compare number by number, a missing number counting as 0: `1.2` = `1.2.0`,
//!    `2024.01` = `2024.1`, `1.10` > `1.9`.
//! 3. A `-` suffix whose first part starts with a pre-release word (`alpha`, `beta`, `rc`,
//!    `pre`/`preview`, `dev`, `snapshot`, `nightly`, `canary`) is a **pre-release** and sorts
//!    *before* its release, compared part by part as semver does: `1.2.3-rc.1` < `1.2.3-rc.2`
//!    < `1.2.3`; numeric parts numerically and below words, words lexically (ASCII).
//! 4. Anything else after the release (`16.11.10-ee`, Debian's `1.2.3-1`, `latest`) is a
//!    **suffix**: split on `.` and `-`, compared part by part (numbers numerically and below
//!    words, words lexically), and a version with a suffix sorts *after* the same release
//!    without one. So `16.11.10` < `16.11.10-ee` < `16.11.11-ee`, and a word with no number,
//!    such as `latest`, sorts below every numbered version and equals only itself.
//!
//! Rule 4 deliberately departs from semver, which would make `16.11.10-ee` a pre-release of
//! `16.11.10`: GitLab's probes print `16.11.10-ee` for an installed `16.11.10` and the stop
//! must count as reached, and a distro revision `-1` is a rebuild, not a pre-release.
//! Equality is this order's equality (`1.2` == `1.2.0`); [`Version::as_str`] keeps the text
//! as written, which is what templates and package names need.
//!
//! # Chains
//!
//! [`UpgradePath::chain`] visits, in ascending order, every required stop strictly between
//! the current version and the target, then the target. Stops at or below the current version
//! are already behind the host; stops above the target are ignored (the path ends at the
//! target, so they are not on it). Stops may be listed unsorted or twice.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// A version as written, with the order described in the module docs.
///
/// Shared behind an `Arc`: every hop and error carries versions, and this keeps them one
/// pointer wide and cheap to clone.
#[derive(Clone)]
pub struct Version(Arc<Parsed>);

struct Parsed {
    raw: String,
    key: Key,
    /// Whether any release number was written (`0-ee` has one, `latest` none); kept apart
    /// from the key because trailing zeros are stripped there.
    numbered: bool,
}

/// The comparison key; the derived order of its fields *is* the version order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    /// Release numbers with trailing zeros removed, so that `1.2` and `1.2.0` are equal and
    /// lexicographic order equals zero-padded order.
    release: Vec<u64>,
    stage: Stage,
}

/// Variant order matters: a pre-release sorts before the release, the release before a
/// suffixed build of it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Stage {
    Pre(Vec<Part>),
    Release,
    Suffixed(Vec<Part>),
}

/// Variant order matters: numeric parts sort before words (semver's rule).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Part {
    Num(u64),
    Word(String),
}

/// A version string that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VersionError {
    #[error("empty version; hint: write e.g. 1.2.3")]
    Empty,
    #[error("version `{input}` is not valid: {reason}")]
    Invalid { input: String, reason: &'static str },
}

const PRE_RELEASE_WORDS: [&str; 8] = [
    "alpha", "beta", "rc", "pre", "dev", "snapshot", "nightly", "canary",
];

impl Version {
    /// Reads a version; see the module docs for what is accepted and how it orders.
    pub fn parse(input: &str) -> Result<Version, VersionError> {
        let raw = input.trim();
        if raw.is_empty() {
            return Err(VersionError::Empty);
        }
        let invalid = |reason| VersionError::Invalid {
            input: raw.to_string(),
            reason,
        };
        if raw.chars().any(char::is_whitespace) {
            return Err(invalid("it contains whitespace"));
        }
        let body = match raw.strip_prefix(['v', 'V']) {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
            _ => raw,
        };
        let body = match body.split_once('+') {
            Some((before, _build)) => before,
            None => body,
        };
        if body.is_empty() {
            return Err(invalid("nothing before the `+` build metadata"));
        }

        // The release runs up to the first `-`, or up to the first dot-part that is not a number.
        let (head, tail) = match body.split_once('-') {
            Some((head, tail)) => (head, Some(tail)),
            None => (body, None),
        };
        let mut release = Vec::new();
        let mut head_rest: Vec<&str> = Vec::new();
        for piece in head.split('.') {
            if piece.is_empty() {
                return Err(invalid("it has an empty part (two separators in a row?)"));
            }
            match (head_rest.is_empty(), piece.parse::<u64>()) {
                (true, Ok(n)) if piece.bytes().all(|b| b.is_ascii_digit()) => release.push(n),
                _ => head_rest.push(piece),
            }
        }
        let numbered = !release.is_empty();
        while release.last() == Some(&0) {
            release.pop();
        }

        let mut tail_parts: Vec<&str> = Vec::new();
        if let Some(tail) = tail {
            for piece in tail.split(['.', '-']) {
                if piece.is_empty() {
                    return Err(invalid("it has an empty part (two separators in a row?)"));
                }
                tail_parts.push(piece);
            }
        }

        let is_pre = head_rest.is_empty()
            && tail_parts.first().is_some_and(|first| {
                let lower = first.to_ascii_lowercase();
                PRE_RELEASE_WORDS.iter().any(|w| lower.starts_with(w))
            });
        let parts: Vec<Part> = head_rest
            .iter()
            .chain(tail_parts.iter())
            .map(|p| match p.parse::<u64>() {
                Ok(n) if p.bytes().all(|b| b.is_ascii_digit()) => Part::Num(n),
                _ => Part::Word((*p).to_string()),
            })
            .collect();
        let stage = if parts.is_empty() {
            Stage::Release
        } else if is_pre {
            Stage::Pre(parts)
        } else {
            Stage::Suffixed(parts)
        };
        Ok(Version(Arc::new(Parsed {
            raw: raw.to_string(),
            key: Key { release, stage },
            numbered,
        })))
    }

    /// The version as written (trimmed), e.g. `v1.2.3` stays `v1.2.3`.
    pub fn as_str(&self) -> &str {
        &self.0.raw
    }

    /// Release number `i` (0 = major), 0 when absent.
    fn number(&self, i: usize) -> u64 {
        self.0.key.release.get(i).copied().unwrap_or(0)
    }

    /// Whether the version has any release number: `latest` has none, so it has no minor.
    fn has_release(&self) -> bool {
        self.0.numbered
    }

    /// A pre-release (`1.2.3-rc.1`): never chosen as an automatic stop.
    pub fn is_pre_release(&self) -> bool {
        matches!(self.0.key.stage, Stage::Pre(_))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}
impl Eq for Version {}
impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.key.hash(state);
    }
}
impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.key.cmp(&other.0.key)
    }
}
impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.raw)
    }
}
impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({})", self.0.raw)
    }
}
impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}
/// As the written string, so a hop renders in templates as `{{ hop.to }}` = `0.27.1`.
impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.raw)
    }
}
impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Version::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Which intermediate versions a host must pass through on its way to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stops {
    /// Required stops named by the vendor (GitLab's upgrade stops, Headscale's releases):
    /// each one between current and target is visited, none is ever skipped.
    List(Vec<Version>),
    /// "Every minor version, latest patch" (Headscale): for each minor strictly between the
    /// current minor and the target's minor, the highest non-pre-release of `available`.
    /// A minor missing from `available` has no release to stop at and is passed over.
    EveryMinor { available: Vec<Version> },
    /// Like `EveryMinor`, one level up: the highest non-pre-release of each major strictly
    /// between the current major and the target's major.
    EveryMajor { available: Vec<Version> },
}

/// The play's `upgrade_path:`, resolved to versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradePath {
    pub target: Version,
    pub stops: Stops,
    /// A host above the target goes straight down to it in one hop; stops are not replayed
    /// in reverse because downgrades are vendor-specific (usually restore-from-backup).
    pub allow_downgrade: bool,
}

/// One upgrade of one host, `from` -> `to`, the `index`-th (1-based) of `count`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hop {
    pub from: Version,
    pub to: Version,
    pub index: usize,
    pub count: usize,
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} ({}/{})",
            self.from, self.to, self.index, self.count
        )
    }
}

/// Why no chain exists for a host.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    #[error(
        "the host runs {current}, above the target {target}; refusing to downgrade \
         (hint: fix the target, or set allow_downgrade if going down is intended)"
    )]
    AboveTarget { current: Version, target: Version },
    #[error(
        "cannot pick a stop for every {level} from {current} to {target}: `{version}` has no \
         version numbers (hint: list the stops explicitly)"
    )]
    NoRelease {
        version: Version,
        current: Version,
        target: Version,
        level: &'static str,
    },
    #[error(transparent)]
    Version(#[from] VersionError),
}

impl UpgradePath {
    /// The hops that take a host from `current` to the target, in order; empty when it is
    /// already there. See the module docs for which stops are visited.
    pub fn chain(&self, current: &Version) -> Result<Vec<Hop>, PathError> {
        let target = &self.target;
        match current.cmp(target) {
            Ordering::Equal => return Ok(Vec::new()),
            Ordering::Greater if self.allow_downgrade => {
                return Ok(hops(current, std::iter::once(target.clone())));
            }
            Ordering::Greater => {
                return Err(PathError::AboveTarget {
                    current: current.clone(),
                    target: target.clone(),
                });
            }
            Ordering::Less => {}
        }
        let between = |v: &Version| current < v && v < target;
        let mut stops: Vec<Version> = match &self.stops {
            Stops::List(list) => list.iter().filter(|v| between(v)).cloned().collect(),
            Stops::EveryMinor { available } => {
                self.latest_per_group(current, available, 2, "minor")?
            }
            Stops::EveryMajor { available } => {
                self.latest_per_group(current, available, 1, "major")?
            }
        };
        stops.sort();
        stops.dedup();
        Ok(hops(current, stops.into_iter().chain([target.clone()])))
    }

    /// The highest release of each group (first `depth` release numbers) strictly between
    /// the current version's group and the target's.
    fn latest_per_group(
        &self,
        current: &Version,
        available: &[Version],
        depth: usize,
        level: &'static str,
    ) -> Result<Vec<Version>, PathError> {
        for v in [current, &self.target] {
            if !v.has_release() {
                return Err(PathError::NoRelease {
                    version: v.clone(),
                    current: current.clone(),
                    target: self.target.clone(),
                    level,
                });
            }
        }
        let group = |v: &Version| (0..depth).map(|i| v.number(i)).collect::<Vec<_>>();
        let (low, high) = (group(current), group(&self.target));
        let mut picked: Vec<Version> = Vec::new();
        let mut candidates: Vec<&Version> = available
            .iter()
            .filter(|v| v.has_release() && !v.is_pre_release())
            .filter(|v| {
                let g = group(v);
                low < g && g < high
            })
            .collect();
        candidates.sort();
        // Sorted ascending, so the last version seen in each group is its latest.
        for v in candidates {
            match picked.last_mut() {
                Some(last) if group(last) == group(v) => *last = v.clone(),
                _ => picked.push(v.clone()),
            }
        }
        Ok(picked)
    }
}

/// Numbers consecutive hops from `current` through `tos`.
fn hops(current: &Version, tos: impl Iterator<Item = Version>) -> Vec<Hop> {
    let tos: Vec<Version> = tos.collect();
    let count = tos.len();
    let mut from = current.clone();
    let mut out = Vec::with_capacity(count);
    for (i, to) in tos.into_iter().enumerate() {
        out.push(Hop {
            from: std::mem::replace(&mut from, to.clone()),
            to,
            index: i + 1,
            count,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn list_path(stops: &[&str], target: &str) -> UpgradePath {
        UpgradePath {
            target: v(target),
            stops: Stops::List(stops.iter().map(|s| v(s)).collect()),
            allow_downgrade: false,
        }
    }

    /// The chain as `from>to` strings, to keep expectations readable.
    fn walk(path: &UpgradePath, current: &str) -> Vec<String> {
        path.chain(&v(current))
            .unwrap()
            .iter()
            .map(|h| format!("{}>{}", h.from, h.to))
            .collect()
    }

    #[test]
    fn semver_forms_parse_and_order() {
        assert_eq!(v("1.2"), v("1.2.0"));
        assert_eq!(v("v1.2.3"), v("1.2.3"));
        assert_eq!(v("v1.2.3").as_str(), "v1.2.3");
        assert_eq!(v("1.0.0+build.7"), v("1.0.0"));
        assert!(v("1.2.3-rc.1") < v("1.2.3"));
        assert!(v("1.2.3-rc.1") < v("1.2.3-rc.2"));
        assert!(v("1.2.3-rc.2") < v("1.2.3-rc.10"));
        assert!(v("1.2.3-alpha") < v("1.2.3-alpha.1"));
        assert!(v("1.2.3-alpha.1") < v("1.2.3-beta"));
        assert!(v("1.2.2") < v("1.2.3-rc.1"));
        assert!(v("1.9.0") < v("1.10.0"));
        assert!(v("0.27.1") < v("0.28.0"));
        assert!(v("1") < v("1.0.1"));
        // The semver spec's own precedence example.
        let spec = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for pair in spec.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn non_semver_falls_back_to_parts() {
        assert_eq!(v("2024.01"), v("2024.1"));
        assert!(v("2024.01") < v("2024.02"));
        assert!(v("2023.12") < v("2024.01"));
        // Edition and distro suffixes are builds of their release, not pre-releases of it.
        assert!(v("16.11.10") < v("16.11.10-ee"));
        assert!(v("16.11.10-ee") < v("16.11.11-ee"));
        assert!(v("16.11.10-ee") < v("17.0.0"));
        assert!(v("1.2.3") < v("1.2.3-1"));
        assert!(v("1.2.3-1") < v("1.2.3-2"));
        assert_eq!(v("latest"), v("latest"));
        assert_ne!(v("latest"), v("stable"));
        assert!(v("latest") < v("0.0.1"));
        assert!(v("1.2.x") > v("1.2"));
    }

    #[test]
    fn bad_versions_say_why() {
        assert_eq!(Version::parse("  "), Err(VersionError::Empty));
        let err = Version::parse("1..2").unwrap_err();
        assert!(err.to_string().contains("`1..2`"), "{err}");
        assert!(Version::parse("1.2 3").is_err());
        assert!(Version::parse("+meta").is_err());
    }

    #[test]
    fn headscale_stops() {
        let path = list_path(&["0.26.0", "0.27.1", "0.28.0"], "0.28.0");
        assert_eq!(
            walk(&path, "0.25.1"),
            ["0.25.1>0.26.0", "0.26.0>0.27.1", "0.27.1>0.28.0"]
        );
        assert_eq!(walk(&path, "0.26.0"), ["0.26.0>0.27.1", "0.27.1>0.28.0"]);
        assert_eq!(walk(&path, "0.27.1"), ["0.27.1>0.28.0"]);
        assert!(walk(&path, "0.28.0").is_empty());
        assert_eq!(
            path.chain(&v("0.29.0")),
            Err(PathError::AboveTarget {
                current: v("0.29.0"),
                target: v("0.28.0")
            })
        );
        // Between two stops, and not on the path itself: start from the next stop above.
        assert_eq!(walk(&path, "0.26.3"), ["0.26.3>0.27.1", "0.27.1>0.28.0"]);
    }

    #[test]
    fn hops_are_numbered() {
        let path = list_path(&["1.1", "1.2"], "2.0");
        let chain = path.chain(&v("1.0")).unwrap();
        assert_eq!(
            chain.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["1.0 -> 1.1 (1/3)", "1.1 -> 1.2 (2/3)", "1.2 -> 2.0 (3/3)"]
        );
    }

    #[test]
    fn stops_are_sorted_deduplicated_and_bounded_by_the_target() {
        let path = list_path(&["0.27.1", "0.26.0", "0.27.1", "0.26", "0.30.0"], "0.28.0");
        assert_eq!(
            walk(&path, "0.25.1"),
            ["0.25.1>0.26.0", "0.26.0>0.27.1", "0.27.1>0.28.0"]
        );
    }

    #[test]
    fn downgrade_is_one_hop_when_allowed() {
        let mut path = list_path(&["0.26.0", "0.27.1"], "0.26.0");
        path.allow_downgrade = true;
        assert_eq!(walk(&path, "0.28.0"), ["0.28.0>0.26.0"]);
    }

    #[test]
    fn abovetarget_reads_well() {
        let err = list_path(&[], "0.28.0").chain(&v("0.29.0")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the host runs 0.29.0, above the target 0.28.0; refusing to downgrade \
             (hint: fix the target, or set allow_downgrade if going down is intended)"
        );
    }

    #[test]
    fn every_minor_takes_the_latest_patch() {
        let available: Vec<Version> = [
            "0.25.0",
            "0.25.3",
            "0.26.0",
            "0.26.1",
            "0.27.0",
            "0.27.1",
            "0.27.2-rc.1",
            "0.28.0",
            "0.28.1",
            "0.29.0",
        ]
        .iter()
        .map(|s| v(s))
        .collect();
        let path = UpgradePath {
            target: v("0.28.0"),
            stops: Stops::EveryMinor { available },
            allow_downgrade: false,
        };
        assert_eq!(
            walk(&path, "0.25.1"),
            ["0.25.1>0.26.1", "0.26.1>0.27.1", "0.27.1>0.28.0"]
        );
        assert_eq!(walk(&path, "0.27.0"), ["0.27.0>0.28.0"]);
        let err = path.chain(&v("latest")).unwrap_err();
        assert!(matches!(err, PathError::NoRelease { .. }), "{err}");
    }

    #[test]
    fn every_major_takes_the_latest_of_each() {
        let available = [
            "14.10.5", "15.0.0", "15.11.13", "16.0.1", "16.11.10", "17.1.0",
        ]
        .iter()
        .map(|s| v(s))
        .collect();
        let path = UpgradePath {
            target: v("17.1.0"),
            stops: Stops::EveryMajor { available },
            allow_downgrade: false,
        };
        assert_eq!(
            walk(&path, "14.10.5"),
            ["14.10.5>15.11.13", "15.11.13>16.11.10", "16.11.10>17.1.0"]
        );
    }

    /// Versions from a small grid, so that stops, currents and targets often coincide.
    fn grid_version() -> impl Strategy<Value = Version> {
        (0u64..3, 0u64..4, 0u64..3, any::<bool>()).prop_map(|(a, b, c, short)| {
            let text = if short && c == 0 {
                format!("{a}.{b}")
            } else {
                format!("{a}.{b}.{c}")
            };
            v(&text)
        })
    }

    fn check_chain(path: &UpgradePath, current: &Version, required: &[Version]) {
        let target = &path.target;
        let chain = match path.chain(current) {
            Ok(chain) => chain,
            Err(PathError::AboveTarget { .. }) => {
                assert!(current > target);
                return;
            }
            Err(e) => panic!("unexpected error {e}"),
        };
        if current == target {
            assert!(chain.is_empty());
            return;
        }
        assert!(current < target);
        assert_eq!(&chain[0].from, current);
        assert_eq!(&chain[chain.len() - 1].to, target);
        for (i, hop) in chain.iter().enumerate() {
            assert!(hop.from < hop.to, "hop {hop} goes down");
            assert_eq!((hop.index, hop.count), (i + 1, chain.len()));
        }
        for pair in chain.windows(2) {
            assert_eq!(pair[0].to, pair[1].from, "hops are not contiguous");
        }
        for stop in required.iter().filter(|s| current < *s && *s < target) {
            assert!(
                chain.iter().any(|h| &h.to == stop),
                "stop {stop} skipped from {current} to {target}: {chain:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn list_chains_never_skip_a_stop(
            stops in proptest::collection::vec(grid_version(), 0..8),
            target in grid_version(),
            current in grid_version(),
        ) {
            let path = UpgradePath { target, stops: Stops::List(stops.clone()), allow_downgrade: false };
            check_chain(&path, &current, &stops);
            // Every hop lands on a stop or the target: nothing is invented.
            if let Ok(chain) = path.chain(&current) {
                for hop in &chain {
                    prop_assert!(hop.to == path.target || stops.contains(&hop.to));
                }
            }
        }

        #[test]
        fn every_minor_visits_each_minor_between(
            available in proptest::collection::vec(grid_version(), 0..12),
            target in grid_version(),
            current in grid_version(),
        ) {
            let path = UpgradePath {
                target: target.clone(),
                stops: Stops::EveryMinor { available: available.clone() },
                allow_downgrade: false,
            };
            // Required: the latest available of each minor strictly between.
            let minor = |v: &Version| (v.number(0), v.number(1));
            let required: Vec<Version> = available
                .iter()
                .filter(|a| minor(&current) < minor(a) && minor(a) < minor(&target))
                .filter(|a| !available.iter().any(|b| minor(b) == minor(a) && b > *a))
                .cloned()
                .collect();
            check_chain(&path, &current, &required);
            if let Ok(chain) = path.chain(&current) {
                // No hop other than the last lands outside the required set.
                for hop in chain.iter().take(chain.len().saturating_sub(1)) {
                    prop_assert!(required.contains(&hop.to), "{} not required", hop.to);
                }
            }
        }

        #[test]
        fn order_is_total_and_consistent(a in "[v]?[0-9]{1,2}(\\.[0-9]{1,2}){0,3}(-(rc|ee|beta|[0-9])(\\.[0-9a-z]{1,3})?)?",
                                         b in "[0-9]{1,2}(\\.[0-9]{1,2}){0,3}(-(rc|ee|beta|[0-9])(\\.[0-9a-z]{1,3})?)?") {
            let (a, b) = (v(&a), v(&b));
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            prop_assert_eq!(a == b, a.cmp(&b) == Ordering::Equal);
        }
    }
}
