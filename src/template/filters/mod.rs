//! Ansible's filters and tests (ansible.builtin) beyond those in `jinja_ansible` and
//! `template`, by family, with Ansible's full signatures. Each family registers itself.

mod lists;
mod math;
mod paths;
mod random;
mod regex;
mod tests;

use minijinja::value::{Kwargs, Rest, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, Value};

pub fn register(env: &mut Environment<'static>) {
    // Jinja's `default(value, default_value='', boolean=False)`, with its keyword.
    for name in ["default", "d"] {
        env.add_filter(name, default);
    }
    // Ansible's wrappers of Jinja's map/select/reject…: an undefined input gives undefined
    // (`missing | map('upper') is undefined`) instead of failing.
    use minijinja::State;
    use std::borrow::Cow;
    type Args = Rest<ValueOrKwargs>;
    env.add_filter("map", |st: &mut State, v: Value, args: Args| {
        if v.is_undefined() {
            return Ok(Value::UNDEFINED);
        }
        minijinja::filters::map(st, v, args).map(Value::from)
    });
    env.add_filter(
        "select",
        |st: &mut State, v: Value, t: Option<Cow<'_, str>>, args: Args| {
            if v.is_undefined() {
                return Ok(Value::UNDEFINED);
            }
            minijinja::filters::select(st, v, t, args).map(Value::from)
        },
    );
    env.add_filter(
        "reject",
        |st: &mut State, v: Value, t: Option<Cow<'_, str>>, args: Args| {
            if v.is_undefined() {
                return Ok(Value::UNDEFINED);
            }
            minijinja::filters::reject(st, v, t, args).map(Value::from)
        },
    );
    env.add_filter(
        "selectattr",
        |st: &mut State, v: Value, a: Cow<'_, str>, t: Option<Cow<'_, str>>, args: Args| {
            if v.is_undefined() {
                return Ok(Value::UNDEFINED);
            }
            minijinja::filters::selectattr(st, v, a, t, args).map(Value::from)
        },
    );
    env.add_filter(
        "rejectattr",
        |st: &mut State, v: Value, a: Cow<'_, str>, t: Option<Cow<'_, str>>, args: Args| {
            if v.is_undefined() {
                return Ok(Value::UNDEFINED);
            }
            minijinja::filters::rejectattr(st, v, a, t, args).map(Value::from)
        },
    );
    lists::register(env);
    math::register(env);
    paths::register(env);
    random::register(env);
    regex::register(env);
    tests::register(env);
}

fn default(
    value: Value,
    fallback: Option<Value>,
    boolean: Option<bool>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let fallback = match fallback {
        Some(v) => Some(v),
        None => kwargs.get::<Option<Value>>("default_value")?,
    };
    let boolean = match boolean {
        Some(b) => b,
        None => kwargs.get::<Option<bool>>("boolean")?.unwrap_or(false),
    };
    kwargs.assert_all_used()?;
    if value.is_undefined() || (boolean && !value.is_true()) {
        return Ok(fallback.unwrap_or_else(|| Value::from("")));
    }
    Ok(value)
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
