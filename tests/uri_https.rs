//! `uri` over HTTPS against a real TLS server the test starts with a throwaway CA: the
//! certificate is validated by default (and refused without the CA), `ca_path`,
//! `validate_certs: false`, client certificates, redirects, JSON bodies and timeouts; and
//! `delegate_to` a node, where the node's curl makes the request.

mod common;
#[path = "common/https.rs"]
mod https;

use common::{Fleet, sh};

fn lab_pki(fleet: &Fleet) -> https::Pki {
    let dir = fleet.node_root("node1").join("pki");
    let pki = https::Pki::new(&dir);
    sh(&format!("chown -R {} '{}'", fleet.lab.user, dir.display()));
    pki
}

#[test]
fn uri_over_https_validates_certificates_follows_redirects_and_sends_json() {
    let fleet = Fleet::up(1);
    let pki = lab_pki(&fleet);
    let port = pki.serve(false, None);
    let mtls = pki.serve(true, None);
    let ca = pki.ca.display();
    let book = fleet.write(
        "https.yml",
        &format!(
            r#"- hosts: node1
  tasks:
    - name: trusted through ca_path
      uri: {{url: "https://127.0.0.1:{port}/health", ca_path: "{ca}"}}
      register: health
    - assert:
        that:
          - health.status == 200
          - health.json.status == 'green'
          - health.json.agent is search('^drover/')
          - not health.redirected
    - name: an unknown CA is refused by default
      uri: {{url: "https://127.0.0.1:{port}/health"}}
      register: refused
      ignore_errors: true
    - assert:
        that:
          - refused is failed
          - refused.status == -1
          - "'validate_certs' in refused.msg"
    - name: validate_certs false
      uri: {{url: "https://127.0.0.1:{port}/health", validate_certs: false}}
    - name: redirects are followed for GET
      uri: {{url: "https://127.0.0.1:{port}/redirect", ca_path: "{ca}"}}
      register: moved
    - assert:
        that:
          - moved.redirected
          - moved.url == "https://127.0.0.1:{port}/health"
    - name: not when told not to
      uri: {{url: "https://127.0.0.1:{port}/redirect", ca_path: "{ca}", follow_redirects: none, status_code: 302}}
      register: stayed
    - assert: {{that: ["stayed.location == '/health'"]}}
    - name: a JSON body
      uri:
        url: "https://127.0.0.1:{port}/echo"
        method: POST
        ca_path: "{ca}"
        body_format: json
        body: {{version: "2.0", nodes: [1, 2]}}
      register: echo
    - assert:
        that:
          - echo.json.method == 'POST'
          - echo.json.content_type == 'application/json'
          - echo.json.body.version == '2.0'
          - echo.json.body.nodes == [1, 2]
    - name: basic auth
      uri: {{url: "https://127.0.0.1:{port}/health", ca_path: "{ca}", url_username: ops, url_password: s3cret}}
      register: authed
    - assert: {{that: ["authed.json.authorization == 'Basic b3BzOnMzY3JldA=='"]}}
    - name: a server that requires a client certificate refuses one without
      uri: {{url: "https://127.0.0.1:{mtls}/health", ca_path: "{ca}"}}
      register: anonymous
      ignore_errors: true
    - assert: {{that: ["anonymous is failed", "anonymous.status == -1"]}}
    - name: and serves one with
      uri:
        url: "https://127.0.0.1:{mtls}/health"
        ca_path: "{ca}"
        client_cert: "{cert}"
        client_key: "{key}"
    - name: a status that is not wanted
      uri: {{url: "https://127.0.0.1:{port}/status/503", ca_path: "{ca}"}}
      register: down
      ignore_errors: true
    - assert: {{that: ["down is failed", "down.status == 503"]}}
    - name: too slow
      uri: {{url: "https://127.0.0.1:{port}/slow", ca_path: "{ca}", timeout: 1}}
"#,
            cert = pki.client_cert.display(),
            key = pki.client_key.display(),
        ),
    );
    let run = fleet.run(&book).expect_code(2);
    run.stdout_has("TASK [too slow]")
        .stdout_has("Status code was -1 and not [200]: Request failed:")
        .stdout_has("Status code was 503 and not [200]");
    run.stdout_has("Request failed: timed out after 1.0s");
    assert_eq!(
        run.recap("node1"),
        "ok=18 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=3",
        "{}",
        run.dump()
    );
}

#[test]
fn uri_delegated_to_a_node_runs_through_its_curl() {
    let fleet = Fleet::up(2);
    let pki = lab_pki(&fleet);
    let port = pki.serve(false, None);
    let mtls = pki.serve(true, None);
    let ca = pki.ca.display();
    let book = fleet.write(
        "delegated.yml",
        &format!(
            r#"- hosts: node2
  tasks:
    - name: checked from node1
      uri: {{url: "https://127.0.0.1:{port}/redirect", ca_path: "{ca}", return_content: true}}
      delegate_to: node1
      register: there
    - assert:
        that:
          - there.status == 200
          - there.json.agent is search('^curl/')
          - there.redirected
          - there.url is search('/health$')
          - "'green' in there.content"
    - name: from the control machine when not delegated
      uri: {{url: "https://127.0.0.1:{port}/health", ca_path: "{ca}"}}
      register: here
    - assert: {{that: ["here.json.agent is search('^drover/')"]}}
    - name: a POST with a JSON body and a header, from node1
      uri:
        url: "https://127.0.0.1:{port}/echo"
        method: POST
        ca_path: "{ca}"
        body_format: json
        body: {{a: 1}}
        headers: {{X-Token: secret-token}}
      delegate_to: node1
      register: echo
    - assert: {{that: ["echo.json.body.a == 1", "echo.json.method == 'POST'"]}}
    - name: a client certificate from node1
      uri: {{url: "https://127.0.0.1:{mtls}/health", ca_path: "{ca}", client_cert: "{cert}", client_key: "{key}"}}
      delegate_to: node1
    - name: an untrusted certificate is refused on the node too
      uri: {{url: "https://127.0.0.1:{port}/health"}}
      delegate_to: node1
"#,
            cert = pki.client_cert.display(),
            key = pki.client_key.display(),
        ),
    );
    let run = fleet.run(&book).expect_code(2);
    run.stdout_has("TASK [an untrusted certificate is refused on the node too]")
        .stdout_has("Status code was -1 and not [200]: Request failed: on node1:");
    assert_eq!(
        run.recap("node2"),
        "ok=7 changed=0 unreachable=0 failed=1 skipped=0 rescued=0 ignored=0",
        "{}",
        run.dump()
    );
}

#[test]
fn get_url_over_https_takes_its_checksum_from_a_url_and_validates_certificates() {
    let fleet = Fleet::up(1);
    let pki = lab_pki(&fleet);
    let port = pki.serve(false, None);
    let ca = pki.ca.display();
    let root = fleet.node_root("node1");
    let book = fleet.write(
        "get_url.yml",
        &format!(
            r#"- hosts: node1
  tasks:
    - name: download, checked against the published checksum list
      get_url:
        url: "https://127.0.0.1:{port}/file.txt"
        dest: "{root}/file.txt"
        checksum: "sha256:https://127.0.0.1:{port}/file.txt.sha256"
        ca_path: "{ca}"
      register: got
    - assert: {{that: ["got.checksum_src == '{sha256}'"]}}
      when: got is changed
    - name: without the CA, refused
      get_url:
        url: "https://127.0.0.1:{port}/file.txt"
        dest: "{root}/refused.txt"
      register: refused
      ignore_errors: true
    - assert: {{that: ["refused is failed"]}}
    - name: validate_certs false
      get_url:
        url: "https://127.0.0.1:{port}/file.txt"
        dest: "{root}/insecure.txt"
        validate_certs: false
"#,
            root = root.display(),
            sha256 = sha256_hex(https::FILE_TEXT),
        ),
    );
    let first = fleet.run(&book).expect_code(0);
    assert!(
        first.recap("node1").contains("changed=2"),
        "{}",
        first.dump()
    );
    assert_eq!(
        std::fs::read_to_string(root.join("file.txt")).expect("file.txt"),
        https::FILE_TEXT
    );
    assert!(!root.join("refused.txt").exists());
    let again = fleet.run(&book).expect_code(0);
    assert!(
        again.recap("node1").contains("changed=0"),
        "{}",
        again.dump()
    );
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}
