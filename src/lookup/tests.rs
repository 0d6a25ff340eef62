use crate::template::{Origin, Templates};
use serde_json::json;

fn render(text: &str, ctx: serde_json::Value) -> Result<String, String> {
    let templates = Templates::new();
    let ctx = crate::template::from_json(&ctx);
    templates
        .render_str(text, &ctx, Origin::At("t.yml:1:1"))
        .map_err(|e| e.to_string())
}

#[test]
fn file_template_env_pipe_and_vars_lookups() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("files")).expect("mkdir");
    std::fs::write(dir.path().join("files/motd"), "hello\n\n").expect("write");
    std::fs::write(dir.path().join("beside.txt"), "beside").expect("write");
    std::fs::create_dir_all(dir.path().join("templates")).expect("mkdir");
    std::fs::write(dir.path().join("templates/t.j2"), "hi {{ who }}").expect("write");
    let ctx = json!({"playbook_dir": dir.path().display().to_string(), "who": "ann"});
    let r = |t: &str| render(t, ctx.clone());
    assert_eq!(r("{{ lookup('file', 'motd') }}").unwrap(), "hello");
    assert_eq!(
        r("{{ lookup('ansible.builtin.file', 'beside.txt') }}").unwrap(),
        "beside"
    );
    assert_eq!(
        r("{{ lookup('file', 'motd', 'beside.txt') }}").unwrap(),
        "hello,beside"
    );
    assert_eq!(r("{{ query('file', 'motd') | length }}").unwrap(), "1");
    assert_eq!(
        r("{{ lookup('file', 'motd', wantlist=True) }}").unwrap(),
        "['hello']"
    );
    assert_eq!(r("{{ lookup('template', 't.j2') }}").unwrap(), "hi ann");
    assert_eq!(r("{{ lookup('pipe', 'echo a; echo b') }}").unwrap(), "a\nb");
    assert_eq!(r("{{ lookup('vars', 'who') }}").unwrap(), "ann");
    assert_eq!(r("{{ lookup('env', 'DROVER_SURELY_UNSET') }}").unwrap(), "");
    assert_eq!(
        r("{{ lookup('env', 'DROVER_SURELY_UNSET', default='d') }}").unwrap(),
        "d"
    );
    assert_eq!(r("{{ q('env', 'DROVER_SURELY_UNSET') }}").unwrap(), "['']");
    assert_eq!(
        r("{{ lookup('file', 'nope', errors='ignore') is none }}").unwrap(),
        "True"
    );
    assert_eq!(
        r("{{ query('file', 'nope', errors='warn') }}").unwrap(),
        "[]"
    );

    let err = r("{{ lookup('file', 'nope') }}").unwrap_err();
    assert!(
        err.contains("t.yml:1:1")
            && err.contains("lookup('file'): Unable to find 'nope' in expected paths"),
        "{err}"
    );
    let err = r("{{ lookup('pipe', 'exit 3') }}").unwrap_err();
    assert!(err.contains("exited with 3"), "{err}");
    let err = r("{{ lookup('dig', 'x', errors='ignore') }}").unwrap_err();
    assert!(err.contains("drover has no `dig` lookup"), "{err}");
    let err = r("{{ lookup('file', 'motd', errors='loud') }}").unwrap_err();
    assert!(err.contains("strict, warn or ignore"), "{err}");
}
