//! Which of ansible-core's integration targets the runner runs, and how: as ansible-test
//! runs a target without `runme.sh` (a generated play, `hosts: testhost`, the target as its
//! one role, facts gathered unless the target's `aliases` say `gather_facts/no`), or the
//! `ansible-playbook` lines of its `runme.sh` (the shell around them — greps of the output,
//! cleanups — is not run; each line's exit code is compared with ansible-playbook's).

/// How one target runs.
pub enum How {
    /// No `runme.sh`: ansible-test's generated play over the target's role.
    Role,
    /// `runme.sh`'s `ansible-playbook` lines: leading `NAME=value` words are environment,
    /// then the playbook and its arguments, run in the target's directory. Without `-i`, the
    /// runner adds ansible-test's `-i ../../inventory`.
    Script(&'static [&'static str]),
    /// Needs what drover refuses by design; the reason.
    OutOfScope(&'static str),
}

pub struct Target {
    pub name: &'static str,
    pub how: How,
}

const fn role(name: &'static str) -> Target {
    Target {
        name,
        how: How::Role,
    }
}

const fn script(name: &'static str, lines: &'static [&'static str]) -> Target {
    Target {
        name,
        how: How::Script(lines),
    }
}

const fn out(name: &'static str, why: &'static str) -> Target {
    Target {
        name,
        how: How::OutOfScope(why),
    }
}

const PYTHON_PLUGINS: &str = "the target is built on its own Python plugins (library/, \
    action_plugins/, filter_plugins/ or lookup_plugins/ next to the playbooks), which drover \
    does not load: it runs no Python, on the node or the controller";

pub const TARGETS: &[Target] = &[
    role("assert"),
    script(
        "blocks",
        &[
            "main.yml",
            "block_rescue_vars.yml",
            "always_failure_with_rescue_rc.yml",
            "always_no_rescue_rc.yml",
            "always_failure_no_rescue_rc.yml",
            "issue29047.yml",
            "issue71306.yml",
            "72725.yml",
            "72781.yml",
            "78612.yml",
            "43191.yml",
            "43191-2.yml",
            "69848.yml",
            "79711.yml",
            "inherit_notify.yml",
            "finalized_task.yml",
            "unsafe_failed_task.yml",
            "block_in_rescue.yml",
            "nested_fail.yml",
            "nested_nested_fail.yml",
            "block_fail.yml",
        ],
    ),
    role("blockinfile"),
    role("changed_when"),
    script(
        "check_mode",
        &[
            "check_mode.yml --check",
            "check_mode-on-cli.yml --check",
            "check_mode-not-on-cli.yml",
        ],
    ),
    // drover refuses an unknown module argument when the playbook loads (`drover check`
    // catches typos before anything runs); this target passes `expand_argument_vars` to
    // `shell` to see Ansible refuse it at run time, so the whole run stops at load.
    role("command_shell"),
    script("conditionals", &["play.yml"]),
    out(
        "copy",
        "ansible-playbook itself fails on this machine: the target copies the login user's ~/.ssh/authorized_keys and creates users with Python modules (user)",
    ),
    out(
        "delegate_to",
        "needs/ssh and Python on the delegated hosts: its inventory points at hosts reached by Ansible's Python modules, interpreter discovery and custom connection plugins",
    ),
    // Its later plays rely on Ansible gathering facts by default (`ansible_env`); drover
    // gathers only with `gather_facts: true` (README: a designed difference).
    script("environment", &["test_environment.yml"]),
    role("failed_when"),
    out(
        "fetch",
        "needs/ssh with a second login user (`fetcher`) created by the target through Python modules (user), and become",
    ),
    out(
        "file",
        "ansible-playbook itself fails on this machine (file attributes: chattr/lsattr are not supported by the overlay filesystem), and the target creates users and groups with Python modules (user, group)",
    ),
    script(
        "filter_core",
        &[
            "ANSIBLE_ROLES_PATH=../ runme.yml",
            "ANSIBLE_ROLES_PATH=../ handle_undefined_type_errors.yml",
        ],
    ),
    script("filter_mathstuff", &["ANSIBLE_ROLES_PATH=../ runme.yml"]),
    out(
        "find",
        "its setup (setup_test_user) hashes a password with passlib on the controller and creates a user with Python modules",
    ),
    out(
        "handlers",
        "most of its 60 runs count handler lines in ansible-playbook's text output; its asserts are few and mixed with free/host_pinned strategies and custom collections (collections/)",
    ),
    script(
        "include_import",
        &[
            "playbook/test_import_playbook.yml -i inventory",
            "playbook/test_import_playbook_tags.yml -i inventory --tags canary1,canary22,validate --skip-tags skipme",
            "tasks/test_import_tasks.yml -i inventory",
            "tasks/test_import_tasks_tags.yml -i inventory --tags tasks1,canary1,validate",
            "role/test_import_role.yml -i inventory",
            "tasks/test_include_tasks.yml -i inventory",
            "role/test_include_role.yml -i inventory",
            "test_copious_include_tasks.yml -i inventory",
            "test_grandparent_inheritance.yml -i inventory",
            "test_loop_var_bleed.yaml -i inventory",
            "test_include_loop.yml -i inventory",
            "test_nested_tasks.yml -i inventory",
        ],
    ),
    script(
        "include_vars",
        &[
            "ANSIBLE_ROLES_PATH=../ test_as_role.yml",
            "test_as_playbook.yml",
        ],
    ),
    script("inventory_ini", &["test_types.yml -i inventory.ini"]),
    script("inventory_yaml", &["test.yml -i success.json"]),
    role("lineinfile"),
    script(
        "loop_control",
        &["label.yml", "extended.yml", "break_when.yml"],
    ),
    role("loops"),
    role("lookup_csvfile"),
    role("lookup_dict"),
    out(
        "lookup_env",
        "built on ansible-core's internal `ansible._protomatter` test plugins (a Python debug action that evaluates raw expressions and collects warnings, an `origin` filter)",
    ),
    role("lookup_file"),
    out(
        "lookup_first_found",
        "its with_first_found cases run through its own Python action plugins (action_plugins/debug_var_alias.py and two more), which drover does not load",
    ),
    role("lookup_indexed_items"),
    role("lookup_items"),
    role("lookup_lines"),
    role("lookup_list"),
    role("lookup_nested"),
    role("lookup_pipe"),
    role("lookup_random_choice"),
    role("lookup_sequence"),
    role("lookup_subelements"),
    role("lookup_template"),
    role("lookup_together"),
    role("lookup_varnames"),
    role("lookup_vars"),
    script(
        "meta_tasks",
        &[
            "test_end_host.yml -i inventory.yml -e test_strategy=linear",
            "test_end_host_all.yml -i inventory.yml -e test_strategy=linear",
            "test_end_play.yml -i inventory.yml -e test_strategy=linear",
            "test_end_play_serial_one.yml -i inventory.yml -e test_strategy=linear",
            "test_end_play_multiple_plays.yml -i inventory.yml -e test_strategy=linear",
            "test_end_batch.yml -i inventory.yml",
        ],
    ),
    out("no_log", PYTHON_PLUGINS),
    script(
        "omit",
        &[
            "ANSIBLE_ROLES_PATH=../ 48673.yml",
            "ANSIBLE_ROLES_PATH=../ 75692.yml",
            "C75692.yml --check",
            "C75692.yml",
            "C75692.yml --check",
        ],
    ),
    script(
        "order",
        &[
            r#"order.yml --forks 1 -i inventory -e '{"inputlist": ["hostB", "hostA", "hostD", "hostC"]}'"#,
            r#"order.yml --forks 1 -i inventory -e '{"myorder": "inventory", "inputlist": ["hostB", "hostA", "hostD", "hostC"]}'"#,
            r#"order.yml --forks 1 -i inventory -e '{"myorder": "sorted", "inputlist": ["hostA", "hostB", "hostC", "hostD"]}'"#,
            r#"order.yml --forks 1 -i inventory -e '{"myorder": "reverse_sorted", "inputlist": ["hostD", "hostC", "hostB", "hostA"]}'"#,
            r#"order.yml --forks 1 -i inventory -e '{"myorder": "reverse_inventory", "inputlist": ["hostC", "hostD", "hostA", "hostB"]}'"#,
        ],
    ),
    script("register", &["can_register.yml"]),
    role("replace"),
    script(
        "roles",
        &[
            "no_dupes.yml",
            "allowed_dupes.yml",
            "data_integrity.yml",
            "no_outside.yml",
            "vars_scope.yml",
            "privacy.yml",
            "role_dep_chain.yml",
            "47023.yml",
            "75240.yml",
            "test_subdirs.yml",
            "end_role.yml",
            "dupe_inheritance.yml",
        ],
    ),
    script(
        "set_fact",
        &[
            "set_fact.yml -i inventory",
            "set_fact_empty_str_key.yml -i inventory",
        ],
    ),
    role("special_vars"),
    role("stat"),
    script(
        "tags",
        &[
            "ansible_run_tags.yml -e expect=all",
            "ansible_run_tags.yml -e expect=all --tags all",
            "ansible_run_tags.yml -e expect=list --tags tag1,tag3",
            "ansible_run_tags.yml -e expect=untagged --tags untagged",
            "ansible_run_tags.yml -e expect=tagged --tags tagged",
        ],
    ),
    // Waits for the `user` module (being built in src/modules by the "mods" work): its
    // first run creates a user before any template is rendered.
    script(
        "template",
        &[
            "ANSIBLE_ROLES_PATH=../ template.yml",
            "ANSIBLE_ROLES_PATH=../ custom_template.yml",
            "corner_cases.yml",
            "unused_vars_include.yml",
            "6653.yml",
            "72262.yml",
            "72615.yml",
            "lazy_eval.yml",
            "undefined_in_import.yml",
        ],
    ),
    out("templating", PYTHON_PLUGINS),
    script(
        "test_core",
        &["ANSIBLE_ROLES_PATH=../ runme.yml -i inventory --vault-password-file vault-password"],
    ),
    out(
        "until",
        "one of its cases runs its own Python action plugin (action_plugins/shell_no_failed.py: `shell` with `failed` removed), which drover does not load",
    ),
    script(
        "var_blending",
        &["test_var_blending.yml -i inventory -e @test_vars.yml"],
    ),
    script(
        "var_precedence",
        &[
            "ANSIBLE_GATHERING=explicit test_var_precedence.yml -i inventory -e extra_var=extra_var -e extra_var_override=extra_var_override",
        ],
    ),
    script(
        "var_templating",
        &[
            r#"undefined.yml -i inventory -e '{"override_value": "overridden by -e"}'"#,
            "undall.yml -i inventory",
            "task_vars_templating.yml",
        ],
    ),
    out(
        "unarchive",
        "its setup (setup_test_user) hashes a password with passlib on the controller and creates a user with Python modules",
    ),
    out(
        "lookup_url",
        "needs the network (httpbin) and Python's urllib TLS options",
    ),
    out(
        "lookup_password",
        "passlib on the controller (encrypt=) and its own runme checks",
    ),
    script("lookup_ini", &["test_ini.yml -i inventory"]),
    script(
        "lookup_unvault",
        &["unvault.yml --vault-password-file=secret"],
    ),
];
