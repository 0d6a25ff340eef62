//! Inventory behaviour checked against what `ansible-inventory --list` (ansible-core 2.19)
//! printed for the fixtures in `tests/fixtures/inventory/` (`*.ansible.json`), plus pattern,
//! precedence and diagnostic cases.

use super::*;
use serde_json::json;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(name)
}

fn load(name: &str) -> Inventory {
    match Inventory::load(&fixture(name)) {
        Ok(inventory) => inventory,
        Err(err) => panic!("{name}: {}", render(&err)),
    }
}

fn parse(name: &str, text: &str) -> Result<Inventory, InventoryError> {
    Inventory::from_source(Path::new(name), text.to_string())
}

fn parse_ok(name: &str, text: &str) -> Inventory {
    match parse(name, text) {
        Ok(inventory) => inventory,
        Err(err) => panic!("{name}: {}", render(&err)),
    }
}

fn render(err: &InventoryError) -> String {
    let mut out = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(120);
    if let Err(e) = handler.render_report(&mut out, err) {
        return format!("(render failed: {e}) {err}");
    }
    out
}

fn names(hosts: Vec<&Host>) -> Vec<&str> {
    hosts.into_iter().map(|h| h.name.as_str()).collect()
}

fn select<'a>(inventory: &'a Inventory, pattern: &str) -> Vec<&'a str> {
    match inventory.select(pattern) {
        Ok(hosts) => names(hosts),
        Err(err) => panic!("{pattern}: {}", render(&err)),
    }
}

fn ansible_list(name: &str) -> Value {
    let path = fixture(&format!("{name}.ansible.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut expected: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    // The serialisation profile is an Ansible detail with no meaning for drover.
    if let Some(meta) = expected.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.remove("profile");
    }
    expected
}

// ---- Same output as ansible-inventory --list ----

#[test]
fn fixtures_list_like_ansible_inventory() {
    let dir = fixture("");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|file| file.strip_suffix(".ansible.json").map(str::to_string))
        // Outputs of other ansible-inventory options, compared by the CLI tests.
        .filter(|name| !name.ends_with(".patterns") && !name.ends_with(".pbdir"))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "{names:?}");
    for name in &names {
        let ours = load(name).to_ansible_list_json();
        let theirs = ansible_list(name);
        assert_eq!(
            ours,
            theirs,
            "{name}: drover\n{}\nansible\n{}",
            serde_json::to_string_pretty(&ours).unwrap_or_default(),
            serde_json::to_string_pretty(&theirs).unwrap_or_default()
        );
    }
}

#[test]
fn yaml_and_ini_fleets_are_the_same_inventory() {
    let yaml = load("fleet.yml");
    let ini = load("fleet.ini");
    assert_eq!(
        yaml.hosts.keys().collect::<Vec<_>>(),
        ini.hosts.keys().collect::<Vec<_>>()
    );
    assert_eq!(yaml.groups_map(), ini.groups_map());
    for (name, host) in &yaml.hosts {
        let other = &ini.hosts[name];
        assert_eq!(host.groups, other.groups, "{name}");
        // Same values, and the same key order once sorted (file order differs by format).
        let sorted = |vars: &Vars| {
            let mut v: Vec<(String, Value)> = vars.clone().into_iter().collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        assert_eq!(sorted(&host.vars), sorted(&other.vars), "{name}");
    }
    for (name, group) in &yaml.groups {
        let other = &ini.groups[name];
        assert_eq!(group.children, other.children, "{name}");
        assert_eq!(group.depth, other.depth, "{name}");
        assert_eq!(group.priority, other.priority, "{name}");
    }
}

#[test]
fn fleet_shape() {
    let inv = load("fleet.yml");
    let hs = &inv.hosts["hs01.example.net"];
    assert_eq!(hs.groups, ["databases", "headscale"]);
    assert_eq!(hs.vars["role"], json!("replica"));
    assert_eq!(
        inv.hosts["hs-primary.example.net"].vars["role"],
        json!("primary")
    );
    assert_eq!(inv.hosts["bastion.example.net"].groups, ["ungrouped"]);
    assert_eq!(
        inv.hosts["bastion.example.net"].vars["ansible_port"],
        json!(2222)
    );
    assert_eq!(inv.groups["nakama_eu"].depth, 2);
    assert_eq!(inv.groups["nakama_eu"].priority, 10);
    assert!(
        !inv.groups["nakama_eu"]
            .vars
            .contains_key("ansible_group_priority")
    );
    // PyYAML reads 0644 as octal, and `no` as false.
    let eu = &inv.hosts["nakama-eu-b"].vars;
    assert_eq!(eu["perms"], json!(420));
    assert_eq!(eu["mode"], json!("0644"));
    assert_eq!(eu["debug"], json!(false));
    assert_eq!(inv.hosts["nakama-us-a"].vars["tier"], json!("gold"));
    assert_eq!(inv.hosts["nakama-us-b"].vars["tier"], json!("gold"));
}

#[test]
fn groups_map_lists_hosts_through_children() {
    let map = load("fleet.yml").groups_map();
    assert_eq!(
        map["nakama"],
        [
            "nakama-eu-a",
            "nakama-eu-b",
            "nakama-eu-c",
            "nakama-us-a",
            "nakama-us-b"
        ]
    );
    assert_eq!(map["ungrouped"], ["bastion.example.net"]);
    assert_eq!(map["all"].len(), 13);
    assert_eq!(map["all"][0], "bastion.example.net");
    assert_eq!(map.keys().take(2).collect::<Vec<_>>(), ["all", "ungrouped"]);
}

// ---- Variable precedence ----

#[test]
fn precedence_depth_priority_name_then_host() {
    let inv = load("precedence.yml");
    let h1 = &inv.hosts["h1"].vars;
    // alpha and zeta share depth 1: the name breaks the tie, zeta merges last.
    assert_eq!(h1["who"], json!("zeta"));
    // Host vars from both listings are kept.
    assert_eq!(h1["who_host"], json!("h1-in-alpha"));
    assert_eq!(h1["from_zeta_host"], json!(true));
    // A group's dict replaces all's dict whole (hash_behaviour=replace).
    assert_eq!(h1["settings"], json!({"c": 3}));
    // ansible_group_priority 5 beats the default 1 despite the name order.
    assert_eq!(inv.hosts["h3"].vars["who"], json!("prio_low"));
    // Deepest group wins over a shallower one, whatever the names.
    let h4 = &inv.hosts["h4"].vars;
    assert_eq!(h4["who"], json!("rack1"));
    assert_eq!(h4["depth_two"], json!(true));
    assert_eq!(inv.groups["rack1"].depth, 3);
    // Scalars PyYAML leaves as text stay text.
    assert_eq!(h4["y_is_text"], json!("y"));
    assert_eq!(h4["exp_is_text"], json!("1e3"));
    assert_eq!(h4["octal_is_text"], json!("0o17"));
}

#[test]
fn host_vars_win_over_groups_and_later_listing_wins() {
    let inv = parse_ok(
        "x.yml",
        "all:\n  vars: {v: all}\n  children:\n    g:\n      vars: {v: g}\n      hosts:\n        h: {v: first}\n    k:\n      hosts:\n        h: {v: second}\n",
    );
    assert_eq!(inv.hosts["h"].vars["v"], json!("second"));
}

#[test]
fn ini_values_are_python_literals() {
    let inv = load("values.ini");
    let plain = &inv.hosts["plain"].vars;
    assert_eq!(plain["count"], json!(3));
    assert_eq!(plain["flag"], json!(true));
    assert_eq!(plain["word"], json!("yes"));
    // Shell quotes are removed before the literal is read, as in Ansible.
    assert_eq!(plain["quoted"], json!(5));
    assert_eq!(plain["hash"], json!("a"));
    let web = &inv.hosts["web02"].vars;
    assert_eq!(web["s2"], json!("5"));
    assert_eq!(web["comment"], json!("value # trailing"));
    assert_eq!(web["ansible_port"], json!(2222));
    assert_eq!(inv.groups["db"].hosts, ["db-a", "db-b"]);
}

// ---- Format detection ----

#[test]
fn format_is_detected_from_content_for_other_names() {
    let yaml = "all:\n  hosts:\n    a:\n    b:\n";
    for name in ["hosts", "inventory.ini", "prod.txt"] {
        assert_eq!(select(&parse_ok(name, yaml), "all"), ["a", "b"], "{name}");
    }
    let ini = "a\nb\n[g]\nc\n";
    for name in ["hosts", "inventory.ini"] {
        assert_eq!(
            select(&parse_ok(name, ini), "all"),
            ["a", "b", "c"],
            "{name}"
        );
    }
    let json = r#"{"all": {"hosts": {"j1": {"x": 1}}}}"#;
    assert_eq!(parse_ok("inv.json", json).hosts["j1"].vars["x"], json!(1));
    assert!(parse_ok("empty.yml", "").hosts.is_empty());
    assert!(parse_ok("empty", "# nothing\n").hosts.is_empty());
}

// ---- Host patterns ----

/// Every pattern (and `--limit`) in the fixture, resolved by `ansible --list-hosts`.
#[test]
fn patterns_resolve_like_ansible_list_hosts() {
    let inv = load("fleet.yml");
    let cases = ansible_list("fleet.yml.patterns");
    for case in cases.as_array().into_iter().flatten() {
        let pattern = case["pattern"].as_str().unwrap_or_default();
        let limit = case["limit"].as_str();
        let expected: Vec<&str> = case["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let ours = match inv.select_limited(pattern, limit) {
            Ok(hosts) => names(hosts),
            Err(err) => panic!("{pattern} (limit {limit:?}): {}", render(&err)),
        };
        assert_eq!(ours, expected, "pattern {pattern:?}, limit {limit:?}");
    }
}

#[test]
fn patterns_basic() {
    let inv = load("fleet.yml");
    assert_eq!(
        select(&inv, "all"),
        inv.hosts.keys().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(select(&inv, "*").len(), 13);
    assert_eq!(select(&inv, "gitlab"), ["gitlab.example.net"]);
    assert_eq!(select(&inv, "db2.example.net"), ["db2.example.net"]);
    assert_eq!(select(&inv, "ungrouped"), ["bastion.example.net"]);
    assert!(select(&inv, "nope").is_empty());
}

#[test]
fn patterns_set_operations_in_ansible_order() {
    let inv = load("fleet.yml");
    // Unions keep the order written.
    assert_eq!(
        select(&inv, "gitlab:databases"),
        [
            "gitlab.example.net",
            "db1.example.net",
            "db2.example.net",
            "hs01.example.net"
        ]
    );
    assert_eq!(
        select(&inv, "gitlab,gitlab.example.net"),
        ["gitlab.example.net"]
    );
    assert_eq!(select(&inv, "headscale:&databases"), ["hs01.example.net"]);
    assert_eq!(
        select(&inv, "headscale:!canary:!hs-primary.example.net"),
        ["hs01.example.net", "hs03.example.net"]
    );
    // Exclusions apply after unions, wherever they are written.
    assert_eq!(select(&inv, "!canary,canary"), Vec::<&str>::new());
    // Only & and ! terms start from `all`.
    assert_eq!(select(&inv, "&canary"), ["hs02.example.net", "nakama-eu-a"]);
    assert_eq!(select(&inv, "!nakama").len(), 8);
}

#[test]
fn patterns_wildcards_regex_and_subscripts() {
    let inv = load("fleet.yml");
    assert_eq!(select(&inv, "nakama-us-*"), ["nakama-us-a", "nakama-us-b"]);
    assert_eq!(
        select(&inv, "nakama-eu-?:!nakama-eu-b"),
        ["nakama-eu-a", "nakama-eu-c"]
    );
    // A wildcard matches group names too: `nakama_*` selects both child groups.
    assert_eq!(select(&inv, "nakama_*").len(), 5);
    assert_eq!(
        select(&inv, "~hs0[13]"),
        ["hs01.example.net", "hs03.example.net"]
    );
    assert_eq!(select(&inv, "headscale[0]"), ["hs01.example.net"]);
    assert_eq!(select(&inv, "headscale[-1]"), ["hs-primary.example.net"]);
    assert_eq!(
        select(&inv, "headscale[1:2]"),
        ["hs02.example.net", "hs03.example.net"]
    );
    assert_eq!(select(&inv, "headscale[2:]").len(), 2);
    assert_eq!(select(&inv, "headscale[3:9]"), ["hs-primary.example.net"]);
    assert!(matches!(
        inv.select("headscale[7]"),
        Err(InventoryError::PatternIndex {
            index: 7,
            matched: 4,
            ..
        })
    ));
    assert!(matches!(
        inv.select("~web(["),
        Err(InventoryError::PatternRegex { .. })
    ));
}

#[test]
fn patterns_with_limit() {
    let inv = load("fleet.yml");
    let limited = |pattern, limit| match inv.select_limited(pattern, limit) {
        Ok(hosts) => names(hosts),
        Err(err) => panic!("{}", render(&err)),
    };
    assert_eq!(limited("headscale", Some("canary")), ["hs02.example.net"]);
    assert_eq!(limited("headscale", Some("!canary")).len(), 3);
    assert_eq!(limited("headscale", None).len(), 4);

    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("retry");
    std::fs::write(&file, "hs03.example.net\nhs-primary.example.net\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let limit = format!("@{}", file.display());
    assert_eq!(
        limited("headscale", Some(&limit)),
        ["hs03.example.net", "hs-primary.example.net"]
    );
    assert!(matches!(
        inv.select_limited("all", Some("@/nonexistent/drover-limit")),
        Err(InventoryError::LimitFile { .. })
    ));
}

#[test]
fn implicit_localhost() {
    let inv = load("fleet.yml");
    let local = inv.select("localhost").unwrap_or_default();
    assert_eq!(names(local.clone()), ["localhost"]);
    assert_eq!(local[0].vars["ansible_connection"], json!("local"));
    assert_eq!(local[0].vars["ansible_user"], json!("deploy"));
    // Not part of `all`.
    assert!(!select(&inv, "all").contains(&"localhost"));
}

#[test]
fn play_order_follows_ansible_walk_not_file_order() {
    // Where Ansible's own order depends on Python set iteration (a grandchild group with
    // several parents, as in nested.ini), drover takes the parents in the order listed,
    // which is one of the orders Ansible produces.
    let nested = load("nested.ini");
    assert_eq!(
        select(&nested, "all"),
        ["top1", "top2", "top3", "d1", "d2", "a1", "a2", "a3", "w1"]
    );
    // prod's own hosts come first, then its children's, breadth-first.
    let inv = parse_ok("x.ini", "[db]\nd1\n[app]\na1\n[prod:children]\napp\ndb\n");
    assert_eq!(select(&inv, "all"), ["a1", "d1"]);
    // Order from `ansible edge.yml all --list-hosts`: all's own hosts, then level by level.
    assert_eq!(
        select(&load("edge.yml"), "all"),
        ["solo", "shared", "loner", "single-web", "app1", "cron1"]
    );
    assert_eq!(inv.groups["all"].children, ["ungrouped", "prod"]);
}

// ---- Diagnostics ----

#[test]
fn unknown_group_key_points_at_it_and_suggests() {
    let text = "all:\n  children:\n    web:\n      hostss:\n        w1:\n";
    let err = parse("inv.yml", text)
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    assert!(matches!(
        &err,
        InventoryError::UnknownGroupKey { key, suggestion: Some("hosts"), .. } if key == "hostss"
    ));
    let out = render(&err);
    assert!(out.contains("unknown key `hostss` in group `web`"), "{out}");
    assert!(out.contains("[inv.yml:4:7]"), "{out}");
    assert!(out.contains("4 │       hostss:"), "{out}");
    assert!(out.contains("·       ───┬──"), "{out}");
    assert!(out.contains("did you mean `hosts`?"), "{out}");
}

#[test]
fn yaml_syntax_error_has_location() {
    let err = parse("inv.yml", "all:\n  hosts:\n    web1: [a, b\n")
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    let out = render(&err);
    assert!(matches!(err, InventoryError::YamlSyntax { .. }), "{out}");
    assert!(out.contains("[inv.yml:3:11]"), "{out}");
    assert!(out.contains("3 │     web1: [a, b"), "{out}");
    assert!(out.contains("·           ┬"), "{out}");
}

#[test]
fn yaml_structure_errors() {
    let err = parse("inv.yml", "all:\n  hosts:\n    - web1\n    - web2\n")
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    let out = render(&err);
    assert!(
        out.contains("`hosts` of group `all` must be a mapping, found a list"),
        "{out}"
    );
    assert!(out.contains("[inv.yml:3:5]"), "{out}");
    assert!(out.contains("not list items"), "{out}");

    let err = parse("inv.yml", "- web1\n")
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    assert!(render(&err).contains("must be a mapping of groups"));

    let err = parse("inv.yml", "plugin: aws_ec2\n")
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    assert!(render(&err).contains("inventory plugin configuration"));
}

#[test]
fn ini_bad_host_variable_points_at_the_word() {
    let text = "[web]\nweb1 ansible_user=deploy oops\n";
    let err = parse("hosts.ini", text)
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    let out = render(&err);
    assert!(
        matches!(err, InventoryError::IniSyntax { line: 2, .. }),
        "{out}"
    );
    assert!(
        out.contains("expected `key=value` after the host name, got `oops`"),
        "{out}"
    );
    assert!(out.contains("[hosts.ini:2:26]"), "{out}");
    assert!(out.contains("2 │ web1 ansible_user=deploy oops"), "{out}");
    assert!(out.contains("·                          ──┬─"), "{out}");
}

#[test]
fn ini_errors() {
    let cases = [
        ("[web:varz]\nx=1\n", "unknown type `varz`", "[h.ini:1:1]"),
        ("[web group]\n", "invalid section header", "[h.ini:1:1]"),
        ("[web]\nw1 a='open\n", "no closing quotation", "[h.ini:2:1]"),
        (
            "[web:vars]\nnovalue\n[web]\n",
            "expected `key=value` in [web:vars]",
            "[h.ini:2:1]",
        ),
        ("[web]\nweb[3:1:0]\n", "bad host range", "[h.ini:2:1]"),
        ("[web]\nweb1:\n", "trailing `:` is reserved", "[h.ini:2:1]"),
        ("[web:vars]\na=1\n", "undefined group `web`", "[h.ini:1:1]"),
        (
            "[p:children]\nweb\n",
            "undefined group `web`",
            "[h.ini:2:1]",
        ),
    ];
    for (text, message, location) in cases {
        let err = parse("h.ini", text)
            .err()
            .unwrap_or_else(|| panic!("{text}: should fail"));
        let out = render(&err);
        assert!(out.contains(message), "{text}: {out}");
        assert!(out.contains(location), "{text}: {out}");
    }
}

#[test]
fn group_cycles_are_refused() {
    let yaml = "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n";
    let err = parse("c.yml", yaml)
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    let out = render(&err);
    assert!(
        matches!(&err, InventoryError::GroupCycle { cycle, .. } if cycle == "b -> a -> b"),
        "{out}"
    );
    assert!(out.contains("[c.yml:5:9]"), "{out}");

    let ini = "[a:children]\nb\n[b:children]\na\n";
    let err = parse("c.ini", ini)
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    let out = render(&err);
    assert!(out.contains("creates a cycle"), "{out}");
    assert!(out.contains("[c.ini:4:1]"), "{out}");
}

#[test]
fn broken_yaml_without_extension_reports_the_yaml_error() {
    let err = parse("hosts", "all:\n  hosts:\n    web1: [\n")
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    assert!(
        matches!(err, InventoryError::YamlSyntax { .. }),
        "{}",
        render(&err)
    );
}

#[test]
fn missing_file_is_a_read_error() {
    assert!(matches!(
        Inventory::load(Path::new("/nonexistent/drover/inventory")),
        Err(InventoryError::Read { .. })
    ));
}

#[test]
fn failing_or_garbled_inventory_script_is_an_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("inv.sh");
    let write = |body: &str| {
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    write("echo 'no cloud credentials' >&2; exit 3");
    let err = Inventory::load(&script)
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    let out = render(&err);
    assert!(out.contains("inv.sh (--list)"), "{out}");
    assert!(out.contains("no cloud credentials"), "{out}");

    write(r#"echo '{"web": {"hosts": ["w1",]}}'"#);
    let err = Inventory::load(&script)
        .err()
        .unwrap_or_else(|| panic!("should fail"));
    assert!(
        matches!(err, InventoryError::ScriptJson { .. }),
        "{}",
        render(&err)
    );
}

#[test]
fn playbook_var_dirs_rank_above_the_inventorys_for_the_same_layer_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let put = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    put("inv/hosts", "[web]\nw1 own=host\n");
    put("inv/group_vars/web.yml", "g: inv_web\nown: inv_web\n");
    put("play/group_vars/all.yml", "g: pb_all\na: pb_all\n");
    put("play/group_vars/web.yml", "w: pb_web\n");
    let mut inventory = Inventory::load(&dir.path().join("inv/hosts")).expect("load");
    inventory
        .add_playbook_dir(&dir.path().join("play"))
        .expect("playbook dir");
    let vars = &inventory.hosts["w1"].vars;
    assert_eq!(
        vars["g"],
        json!("inv_web"),
        "group_vars/all never beats a group"
    );
    assert_eq!(vars["a"], json!("pb_all"));
    assert_eq!(vars["w"], json!("pb_web"));
    assert_eq!(
        vars["own"],
        json!("host"),
        "host vars beat every group_vars file"
    );
    // Loading the same directory again changes nothing.
    inventory
        .add_playbook_dir(&dir.path().join("inv"))
        .expect("same dir");
    assert_eq!(inventory.playbook_var_dirs.len(), 1);
}
