//! Ansible's filters and tests (ansible.builtin) beyond those in `jinja_ansible` and
//! `template`, by family, with Ansible's full signatures. Each family registers itself.

mod lists;
mod math;
mod paths;
mod random;
mod regex;
mod tests;

use minijinja::{Environment, Error, ErrorKind};

pub fn register(env: &mut Environment<'static>) {
    lists::register(env);
    math::register(env);
    paths::register(env);
    random::register(env);
    regex::register(env);
    tests::register(env);
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

#[cfg(test)]
mod unit {
    fn render(expr: &str) -> String {
        let mut env = minijinja::Environment::new();
        super::register(&mut env);
        env.render_str(expr, minijinja::context! {})
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    #[test]
    fn values_ansible_gives() {
        // Each value as ansible-core 2.19 prints it.
        assert_eq!(
            render("{{ 'x' | to_uuid }}"),
            "66b2f013-1baa-5313-9c8c-e6f1182e0e90"
        );
        assert_eq!(render("{{ '1.5K' | human_to_bytes }}"), "1536");
        assert_eq!(
            render("{{ 'https://u:p@Web.example:8443/a?b=1#f' | urlsplit('hostname') }}"),
            "web.example"
        );
        assert_eq!(render("{{ '/a/b/c' | relpath('/a/d') }}"), "../b/c");
        assert_eq!(
            render(
                "{{ 'ab12' | regex_search('(?P<x>\\\\d)(\\\\d)', '\\\\g<x>', '\\\\2') | join(',') }}"
            ),
            "1,2"
        );
        assert_eq!(
            render("{{ ['Ab', 'b'] | select('match', 'a', ignorecase=true) | join }}"),
            "Ab"
        );
    }

    #[test]
    fn a_seed_gives_the_same_order_every_time() {
        let first = render("{{ range(20) | shuffle(seed='host1') | join(',') }}");
        assert_eq!(
            first,
            render("{{ range(20) | shuffle(seed='host1') | join(',') }}")
        );
        assert_ne!(first, render("{{ range(20) | join(',') }}"));
    }
}
