//! `drover inventory` prints what `ansible-inventory` prints for the same input (outputs of
//! ansible-core 2.19 captured in tests/fixtures/inventory).

mod common;

use common::drover;
use std::path::Path;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/inventory")
        .join(name)
}

#[test]
fn graph_matches_ansible_inventory_graph() {
    for name in ["fleet.yml", "fleet.ini", "precedence.yml"] {
        let run = drover()
            .arg("inventory")
            .arg("-i")
            .arg(fixture(name))
            .arg("--graph")
            .expect_code(0);
        let expected = std::fs::read_to_string(fixture(&format!("{name}.graph.ansible.txt")))
            .expect("fixture");
        assert_eq!(run.stdout(), expected, "{name}");
    }
}

#[test]
fn list_matches_ansible_inventory_list() {
    for name in [
        "fleet.yml",
        "fleet.ini",
        "precedence.yml",
        "values.ini",
        "edge.yml",
    ] {
        let run = drover()
            .arg("inventory")
            .arg("-i")
            .arg(fixture(name))
            .arg("--list")
            .expect_code(0);
        let mut ours: serde_json::Value = serde_json::from_str(&run.stdout()).expect("json");
        let mut theirs: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture(&format!("{name}.ansible.json"))).expect("fixture"),
        )
        .expect("json");
        for v in [&mut ours, &mut theirs] {
            if let Some(meta) = v.get_mut("_meta").and_then(|m| m.as_object_mut()) {
                meta.remove("profile");
            }
        }
        assert_eq!(ours, theirs, "{name}");
    }
}

#[test]
fn host_shows_one_hosts_variables_and_unknown_hosts_are_an_error() {
    let run = drover()
        .arg("inventory")
        .arg("-i")
        .arg(fixture("fleet.yml"))
        .args(["--host", "hs01.example.net"])
        .expect_code(0);
    let vars: serde_json::Value = serde_json::from_str(&run.stdout()).expect("json");
    assert!(vars.is_object());
    drover()
        .arg("inventory")
        .arg("-i")
        .arg(fixture("fleet.yml"))
        .args(["--host", "nope"])
        .expect_code(5);
}
