//! `setup`: a small, native fact set gathered by one shell command (no Python on the node):
//! the system and kernel, distribution and OS family, architecture, host names, IP
//! addresses, the remote user, CPU count and memory, package and service manager, the
//! environment and the node's clock. Facts come back as `ansible_facts` (names without the
//! `ansible_` prefix) and, as Ansible injects them, as top-level `ansible_*` variables.
//! Reading only: always `ok`, the same in check mode.

use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub struct Setup;

static SETUP: ModuleSpec = ModuleSpec {
    name: "setup",
    args: &["gather_subset", "gather_timeout", "filter", "fact_path"],
    required: &[],
    one_of: &[],
    free_form: false,
    local: false,
    any_args: false,
};

/// One round trip: `key=value` lines, then sections each opened by a `--name--` line. The
/// environment comes last, NUL-separated (values may span lines).
const SCRIPT: &str = r#"u() { "$@" 2>/dev/null; }
echo "system=$(uname -s)"
echo "kernel=$(uname -r)"
echo "kernel_version=$(uname -v)"
echo "machine=$(uname -m)"
echo "nodename=$(uname -n)"
echo "fqdn=$(u hostname -f || uname -n)"
echo "user_id=$(id -un)"
echo "user_uid=$(id -u)"
echo "user_gid=$(id -g)"
echo "user_dir=$HOME"
echo "user_shell=$SHELL"
echo "nproc=$(u nproc || u getconf _NPROCESSORS_ONLN)"
echo "memtotal_kb=$(u awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "uptime=$(u cut -d' ' -f1 /proc/uptime)"
echo "epoch=$(date +%s)"
echo "date=$(date '+%Y-%m-%d')"
echo "time=$(date '+%H:%M:%S')"
echo "tz=$(date +%Z)"
echo "tz_offset=$(date +%z)"
echo "weekday=$(date +%A)"
echo "iso8601=$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
for m in apt-get dnf yum zypper apk pacman; do
  if command -v $m >/dev/null 2>&1; then echo "pkg_mgr=$m"; break; fi
done
if [ -d /run/systemd/system ]; then echo "service_mgr=systemd";
else echo "service_mgr=$(u cat /proc/1/comm)"; fi
py="${DROVER_PYTHON:-$(command -v python3 || command -v python)}"
if [ -n "$py" ]; then echo "python_executable=$py"; echo "python_version=$(u "$py" --version 2>&1)"; fi
echo "--os-release--"; u cat /etc/os-release
echo "--debian-version--"; u cat /etc/debian_version
echo "--addresses--"; u ip -o addr show
echo "--route--"; u ip -4 route get 1.0.0.0
echo "--env--"; env -0
"#;

module!(Setup, SETUP, setup);

async fn setup(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let filters = args.list("filter")?;
    // `ansible_python`: the interpreter the host's `ansible_python_interpreter` names, else
    // the first python3 on its PATH (asked its version; drover runs no Python itself).
    let interpreter = ctx
        .vars
        .get_attr("ansible_python_interpreter")
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_none())
        .map(|v| v.to_string())
        .filter(|p| p.starts_with('/'));
    let script = match interpreter {
        Some(py) => format!(
            "DROVER_PYTHON={}\n{SCRIPT}",
            crate::template::shell_quote(&py)
        ),
        None => SCRIPT.to_string(),
    };
    let out = ctx.sh(&script).await?;
    if out.exit_status != Some(0) {
        return Err(ModuleError::Remote {
            message: format!(
                "gathering facts failed (exit status {:?}): {}",
                out.exit_status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    let facts = parse(&String::from_utf8_lossy(&out.stdout));
    let facts: Map<String, Value> = facts
        .into_iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| matches(f, name)))
        .collect();
    let mut injected = Map::new();
    for (name, value) in &facts {
        injected.insert(format!("ansible_{name}"), value.clone());
    }
    injected.insert("ansible_facts".into(), Value::Object(facts));
    let mut outcome = Outcome::default();
    outcome
        .data
        .insert("ansible_facts".into(), Value::Object(injected));
    Ok(outcome)
}

/// `filter`: a shell-style pattern (`*`, `?`) on fact names, with or without `ansible_`.
fn matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.strip_prefix("ansible_").unwrap_or(pattern);
    glob(pattern.as_bytes(), name.as_bytes())
}

fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

/// The script's output as facts (names without `ansible_`), sorted by name.
fn parse(output: &str) -> BTreeMap<String, Value> {
    let mut plain: BTreeMap<&str, &str> = BTreeMap::new();
    let mut sections: BTreeMap<&str, String> = BTreeMap::new();
    let mut section: Option<&str> = None;
    let (head, env) = match output.split_once("--env--\n") {
        Some((head, env)) => (head, env),
        None => (output, ""),
    };
    for line in head.lines() {
        if let Some(name) = line.strip_prefix("--").and_then(|l| l.strip_suffix("--")) {
            section = Some(name);
            sections.entry(name).or_default();
            continue;
        }
        match section {
            None => {
                if let Some((k, v)) = line.split_once('=') {
                    plain.insert(k, v);
                }
            }
            Some(name) => {
                let text = sections.entry(name).or_default();
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    let get = |k: &str| plain.get(k).copied().unwrap_or("").trim().to_string();
    let mut facts = BTreeMap::new();
    let mut put = |k: &str, v: Value| {
        facts.insert(k.to_string(), v);
    };

    put("system", json!(get("system")));
    put("kernel", json!(get("kernel")));
    put("kernel_version", json!(get("kernel_version")));
    put("machine", json!(get("machine")));
    put("architecture", json!(architecture(&get("machine"))));
    let nodename = get("nodename");
    put("nodename", json!(nodename));
    put(
        "hostname",
        json!(nodename.split('.').next().unwrap_or_default()),
    );
    let fqdn = get("fqdn");
    put(
        "domain",
        json!(fqdn.split_once('.').map(|(_, d)| d).unwrap_or_default()),
    );
    put("fqdn", json!(fqdn));
    put("user_id", json!(get("user_id")));
    put("user_dir", json!(get("user_dir")));
    put("user_shell", json!(get("user_shell")));
    put("user_uid", number(&get("user_uid")));
    put("user_gid", number(&get("user_gid")));
    let nproc = number(&get("nproc"));
    put("processor_vcpus", nproc.clone());
    put("processor_nproc", nproc);
    put(
        "memtotal_mb",
        get("memtotal_kb")
            .parse::<u64>()
            .map_or(Value::Null, |kb| json!(kb / 1024)),
    );
    put(
        "uptime_seconds",
        get("uptime")
            .split('.')
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(Value::Null, |s| json!(s)),
    );
    put("pkg_mgr", json!(package_manager(&get("pkg_mgr"))));
    put("service_mgr", json!(get("service_mgr")));
    put("date_time", date_time(&get));
    let python = get("python_executable");
    if !python.is_empty() {
        put("python", python_fact(&python, &get("python_version")));
    }

    let os_release = os_release(sections.get("os-release").map_or("", String::as_str));
    let debian_version = sections
        .get("debian-version")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    for (k, v) in distribution(&os_release, debian_version.as_deref(), &get("system")) {
        put(k, json!(v));
    }

    let (ipv4, ipv6, interfaces) = addresses(sections.get("addresses").map_or("", String::as_str));
    let default = default_ipv4(sections.get("route").map_or("", String::as_str));
    put("all_ipv4_addresses", json!(ipv4));
    put("all_ipv6_addresses", json!(ipv6));
    put("interfaces", json!(interfaces));
    put("default_ipv4", default);

    let mut environment = Map::new();
    for entry in env.split('\0') {
        if let Some((k, v)) = entry.split_once('=')
            && !k.is_empty()
            && !k.contains('\n')
        {
            environment.insert(k.to_string(), json!(v));
        }
    }
    put("env", Value::Object(environment));
    facts
}

/// Ansible's `python` fact from the interpreter's path and its `--version` line.
fn python_fact(executable: &str, version: &str) -> Value {
    let numbers: Vec<u64> = version
        .trim()
        .trim_start_matches("Python")
        .trim()
        .split('.')
        .filter_map(|n| n.parse().ok())
        .collect();
    let part = |i: usize| numbers.get(i).map_or(Value::Null, |n| json!(n));
    json!({
        "executable": executable,
        "type": "cpython",
        "version": {
            "major": part(0),
            "minor": part(1),
            "micro": part(2),
            "releaselevel": "final",
            "serial": 0,
        },
        "version_info": numbers,
        "has_sslcontext": true,
    })
}

fn number(text: &str) -> Value {
    text.parse::<i64>().map_or(Value::Null, |n| json!(n))
}

/// Ansible's `architecture`: `uname -m`, with the 32-bit x86 names folded to `i386`.
fn architecture(machine: &str) -> &str {
    match machine {
        "i486" | "i586" | "i686" => "i386",
        other => other,
    }
}

/// Ansible names the package manager `apt`, not `apt-get`.
fn package_manager(found: &str) -> &str {
    match found {
        "apt-get" => "apt",
        "" => "unknown",
        other => other,
    }
}

fn date_time(get: &dyn Fn(&str) -> String) -> Value {
    let date = get("date");
    let time = get("time");
    let mut parts = date.splitn(3, '-');
    let (year, month, day) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut clock = time.splitn(3, ':');
    let (hour, minute, second) = (
        clock.next().unwrap_or_default(),
        clock.next().unwrap_or_default(),
        clock.next().unwrap_or_default(),
    );
    json!({
        "date": date, "time": time, "epoch": get("epoch"), "iso8601": get("iso8601"),
        "tz": get("tz"), "tz_offset": get("tz_offset"), "weekday": get("weekday"),
        "year": year, "month": month, "day": day,
        "hour": hour, "minute": minute, "second": second,
    })
}

/// `/etc/os-release` as `KEY -> value` (quotes removed).
fn os_release(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

/// `distribution`, `distribution_version`, `distribution_major_version`,
/// `distribution_release` and `os_family`, named as Ansible names them.
fn distribution(
    os: &BTreeMap<String, String>,
    debian_version: Option<&str>,
    system: &str,
) -> Vec<(&'static str, String)> {
    let id = os.get("ID").map(String::as_str).unwrap_or_default();
    let name = match id {
        "debian" => "Debian",
        "ubuntu" => "Ubuntu",
        "centos" => "CentOS",
        "rhel" => "RedHat",
        "fedora" => "Fedora",
        "rocky" => "Rocky",
        "almalinux" => "AlmaLinux",
        "ol" => "OracleLinux",
        "amzn" => "Amazon",
        "alpine" => "Alpine",
        "arch" => "Archlinux",
        "opensuse-leap" => "openSUSE Leap",
        "opensuse-tumbleweed" => "openSUSE Tumbleweed",
        "sles" => "SLES",
        "" => system,
        _ => os.get("NAME").map(String::as_str).unwrap_or(id),
    }
    .to_string();
    let family = match id {
        "debian" | "ubuntu" | "linuxmint" | "raspbian" => "Debian",
        "centos" | "rhel" | "fedora" | "rocky" | "almalinux" | "ol" | "amzn" => "RedHat",
        "opensuse-leap" | "opensuse-tumbleweed" | "sles" => "Suse",
        "alpine" => "Alpine",
        "arch" => "Archlinux",
        _ => os
            .get("ID_LIKE")
            .and_then(|like| like.split_whitespace().next())
            .map_or(name.as_str(), |like| match like {
                "debian" | "ubuntu" => "Debian",
                "rhel" | "fedora" | "centos" => "RedHat",
                "suse" => "Suse",
                _ => name.as_str(),
            }),
    }
    .to_string();
    // Debian's point release is in /etc/debian_version, as Ansible reads it.
    let version = match (id, debian_version) {
        ("debian", Some(v)) if v.starts_with(|c: char| c.is_ascii_digit()) => v.to_string(),
        _ => os.get("VERSION_ID").cloned().unwrap_or_default(),
    };
    let major = version.split('.').next().unwrap_or_default().to_string();
    let release = os.get("VERSION_CODENAME").cloned().unwrap_or_default();
    vec![
        ("distribution", name),
        ("distribution_version", version),
        ("distribution_major_version", major),
        ("distribution_release", release),
        ("os_family", family),
    ]
}

/// `ip -o addr show`: global IPv4 and IPv6 addresses (not loopback, not link-local) and
/// the interface names, in the order `ip` lists them.
fn addresses(text: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut v4, mut v6, mut interfaces) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (Some(interface), Some(family), Some(cidr)) =
            (words.get(1), words.get(2), words.get(3))
        else {
            continue;
        };
        if !interfaces.iter().any(|i| i == interface) {
            interfaces.push(interface.to_string());
        }
        let address = cidr.split('/').next().unwrap_or_default().to_string();
        let scope_host = words.windows(2).any(|w| w == ["scope", "host"]);
        let scope_link = words.windows(2).any(|w| w == ["scope", "link"]);
        match *family {
            "inet" if !scope_host => v4.push(address),
            "inet6" if !scope_host && !scope_link => v6.push(address),
            _ => {}
        }
    }
    (v4, v6, interfaces)
}

/// `ip -4 route get 1.0.0.0`: the address and interface of the default route.
fn default_ipv4(text: &str) -> Value {
    let words: Vec<&str> = text.split_whitespace().collect();
    let after = |key: &str| {
        words
            .windows(2)
            .find(|w| w[0] == key)
            .map(|w| w[1].to_string())
    };
    match (after("src"), after("dev")) {
        (Some(address), interface) => json!({
            "address": address,
            "interface": interface,
            "gateway": after("via"),
        }),
        _ => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "system=Linux\nkernel=6.1.0-18-amd64\nkernel_version=#1 SMP\n\
        machine=x86_64\nnodename=node1.lab.example\nfqdn=node1.lab.example\nuser_id=drover\n\
        user_uid=1001\nuser_gid=1001\nuser_dir=/home/drover\nuser_shell=/bin/sh\nnproc=2\n\
        memtotal_kb=24576000\nuptime=1234.56\nepoch=1700000000\ndate=2026-11-23\n\
        time=10:20:30\ntz=UTC\ntz_offset=+0000\nweekday=Monday\niso8601=2026-11-23T10:20:30Z\n\
        pkg_mgr=apt-get\nservice_mgr=systemd\n--os-release--\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n\
        NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n\
        --debian-version--\n12.5\n--addresses--\n\
        1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
        4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever\n\
        4: eth0    inet6 fd00::2/64 scope global nodad \\       valid_lft forever\n\
        4: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever\n\
        --route--\n1.0.0.0 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0\n--env--\n\
        HOME=/home/drover\0MULTI=a\nb\0";

    #[test]
    fn the_script_output_becomes_ansible_named_facts() {
        let facts = parse(SAMPLE);
        assert_eq!(facts["system"], json!("Linux"));
        assert_eq!(facts["architecture"], json!("x86_64"));
        assert_eq!(facts["hostname"], json!("node1"));
        assert_eq!(facts["domain"], json!("lab.example"));
        assert_eq!(facts["distribution"], json!("Debian"));
        assert_eq!(facts["distribution_version"], json!("12.5"));
        assert_eq!(facts["distribution_major_version"], json!("12"));
        assert_eq!(facts["distribution_release"], json!("bookworm"));
        assert_eq!(facts["os_family"], json!("Debian"));
        assert_eq!(facts["pkg_mgr"], json!("apt"));
        assert_eq!(facts["user_uid"], json!(1001));
        assert_eq!(facts["memtotal_mb"], json!(24000));
        assert_eq!(facts["uptime_seconds"], json!(1234));
        assert_eq!(facts["all_ipv4_addresses"], json!(["192.0.2.2"]));
        assert_eq!(facts["all_ipv6_addresses"], json!(["fd00::2"]));
        assert_eq!(facts["interfaces"], json!(["lo", "eth0"]));
        assert_eq!(facts["default_ipv4"]["address"], json!("192.0.2.2"));
        assert_eq!(facts["default_ipv4"]["interface"], json!("eth0"));
        assert_eq!(facts["env"]["MULTI"], json!("a\nb"));
        assert_eq!(facts["date_time"]["year"], json!("2026"));
        assert_eq!(facts["date_time"]["second"], json!("30"));
    }

    #[test]
    fn other_distributions_get_ansibles_names_and_families() {
        let os = os_release("ID=rocky\nVERSION_ID=\"9.3\"\nNAME=\"Rocky Linux\"\n");
        let d: BTreeMap<_, _> = distribution(&os, None, "Linux").into_iter().collect();
        assert_eq!(d["distribution"], "Rocky");
        assert_eq!(d["os_family"], "RedHat");
        assert_eq!(d["distribution_major_version"], "9");
        let os = os_release("ID=pop\nID_LIKE=\"ubuntu debian\"\nNAME=\"Pop!_OS\"\n");
        let d: BTreeMap<_, _> = distribution(&os, None, "Linux").into_iter().collect();
        assert_eq!(d["distribution"], "Pop!_OS");
        assert_eq!(d["os_family"], "Debian");
    }

    #[test]
    fn filters_are_shell_patterns_with_or_without_the_prefix() {
        assert!(matches("ansible_distribution*", "distribution_version"));
        assert!(matches("os_famil?", "os_family"));
        assert!(!matches("ansible_env", "env_extra"));
    }
}
