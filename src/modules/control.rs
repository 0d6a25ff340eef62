//! Modules that run on the control machine only: `debug`, `fail`, `assert`, `set_fact`,
//! `pause`, `meta`.

use super::{Args, Context, ModuleError, ModuleSpec, Outcome};
use crate::template::{Origin, to_json, truthy};
use serde_json::{Value, json};

pub struct Debug;
pub struct Fail;
pub struct Assert;
pub struct SetFact;
pub struct Pause;
pub struct Meta;

static DEBUG: ModuleSpec = ModuleSpec {
    name: "debug",
    args: &["msg", "var", "verbosity"],
    required: &[],
    one_of: &[],
    free_form: false,
    local: true,
    any_args: false,
};

static FAIL: ModuleSpec = ModuleSpec {
    name: "fail",
    args: &["msg"],
    required: &[],
    one_of: &[],
    free_form: false,
    local: true,
    any_args: false,
};

static ASSERT: ModuleSpec = ModuleSpec {
    name: "assert",
    args: &["that", "fail_msg", "msg", "success_msg", "quiet"],
    required: &["that"],
    one_of: &[],
    free_form: false,
    local: true,
    any_args: false,
};

static SET_FACT: ModuleSpec = ModuleSpec {
    name: "set_fact",
    args: &["cacheable"],
    required: &[],
    one_of: &[],
    free_form: false,
    local: true,
    // Every other argument is a variable to set.
    any_args: true,
};

static PAUSE: ModuleSpec = ModuleSpec {
    name: "pause",
    args: &["seconds", "minutes", "prompt", "echo"],
    required: &[],
    one_of: &[],
    free_form: false,
    local: true,
    any_args: false,
};

static META: ModuleSpec = ModuleSpec {
    name: "meta",
    args: &[],
    required: &["_raw_params"],
    one_of: &[],
    free_form: true,
    local: true,
    any_args: false,
};

module!(Debug, DEBUG, debug);

async fn debug(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let mut outcome = Outcome::default();
    if let Some(var) = args.str("var")? {
        let value = ctx.templates.eval(&var, ctx.vars, Origin::At(ctx.location));
        let shown = match value {
            Ok(v) => to_json(&v),
            Err(_) => json!("VARIABLE IS NOT DEFINED!"),
        };
        outcome.data.insert(var, shown);
        return Ok(outcome);
    }
    let msg = match args.0.get("msg") {
        None | Some(Value::Null) => json!("Hello world!"),
        Some(v) => v.clone(),
    };
    outcome.data.insert("msg".into(), msg);
    Ok(outcome)
}

module!(Fail, FAIL, fail);

async fn fail(_ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let msg = args
        .str("msg")?
        .unwrap_or_else(|| "Failed as requested from task".to_string());
    Ok(Outcome::failed(msg))
}

module!(Assert, ASSERT, assert);

async fn assert(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let conditions: Vec<Value> = match args.0.get("that") {
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
        None => Vec::new(),
    };
    for condition in &conditions {
        let holds = match condition {
            Value::Bool(b) => *b,
            Value::String(expr) => {
                let value = ctx
                    .templates
                    .eval(expr, ctx.vars, Origin::At(ctx.location))?;
                truthy(&value)
            }
            other => truthy(&crate::template::from_json(other)),
        };
        if !holds {
            let text = match condition {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let msg = match args.str("fail_msg")? {
                Some(m) => m,
                None => args
                    .str("msg")?
                    .unwrap_or_else(|| "Assertion failed".to_string()),
            };
            let mut outcome = Outcome::failed(msg);
            outcome.data.insert("assertion".into(), json!(text));
            outcome.data.insert("evaluated_to".into(), json!(false));
            return Ok(outcome);
        }
    }
    let msg = args
        .str("success_msg")?
        .unwrap_or_else(|| "All assertions passed".to_string());
    Ok(Outcome {
        msg: Some(msg),
        ..Outcome::default()
    })
}

module!(SetFact, SET_FACT, set_fact);

/// Returns the (already rendered) arguments as `ansible_facts`; the engine merges them into the
/// host's variables. Runs in check mode too, as in Ansible: later tasks depend on the facts.
async fn set_fact(ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let mut facts = serde_json::Map::new();
    for (name, value) in args.0 {
        // A templated name (`"{{ item }}": x`, `"{{ item }}=x"`) is rendered, as Ansible does;
        // it keeps its type (`"{{ 1 }}"` is the number 1, not a name).
        let name = if crate::template::has_template_syntax(&name) {
            match ctx
                .templates
                .render_value(&name, ctx.vars, Origin::At(ctx.location))?
            {
                Value::String(name) => name,
                other => {
                    let kind = match &other {
                        Value::Number(n) if n.is_f64() => "float",
                        Value::Number(_) => "int",
                        Value::Bool(_) => "bool",
                        Value::Null => "NoneType",
                        Value::Array(_) => "list",
                        _ => "dict",
                    };
                    return Err(ModuleError::Args {
                        message: format!("Invalid variable name '{other}' of type '{kind}'."),
                    });
                }
            }
        } else {
            name
        };
        // `cacheable` is about Ansible's fact cache, which drover does not have.
        if name == "cacheable" {
            continue;
        }
        // Ansible's validate_variable_name: an identifier that is not one of Jinja's names.
        const JINJA_KEYWORDS: &[&str] = &["true", "false", "none", "True", "False", "None", "not"];
        if name == "_raw_params"
            || !crate::playbook::is_identifier(&name)
            || JINJA_KEYWORDS.contains(&name.as_str())
        {
            return Err(ModuleError::Args {
                message: format!("Invalid variable name '{name}'."),
            });
        }
        facts.insert(name, value);
    }
    if facts.is_empty() {
        return Err(ModuleError::Args {
            message: "set_fact needs at least one `name: value`".to_string(),
        });
    }
    let mut outcome = Outcome::default();
    outcome
        .data
        .insert("ansible_facts".into(), Value::Object(facts));
    Ok(outcome)
}

module!(Pause, PAUSE, pause);

/// Waits `seconds` or `minutes` on the control machine, in check mode too (as Ansible).
async fn pause(_ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    if args.str("prompt")?.is_some() {
        return Err(ModuleError::Args {
            message: "pause: `prompt` is not supported by drover yet (the terminal belongs to \
                      the reporter); use `seconds` or `minutes`"
                .to_string(),
        });
    }
    let seconds = match (args.float("seconds")?, args.float("minutes")?) {
        (Some(s), None) => s,
        (None, Some(m)) => m * 60.0,
        (None, None) => {
            return Err(ModuleError::Args {
                message: "pause needs `seconds` or `minutes` (waiting for a key press is not \
                          supported yet)"
                    .to_string(),
            });
        }
        (Some(_), Some(_)) => {
            return Err(ModuleError::Args {
                message: "pause takes `seconds` or `minutes`, not both".to_string(),
            });
        }
    };
    if !(0.0..=86400.0).contains(&seconds) {
        return Err(ModuleError::Args {
            message: format!("pause: {seconds} seconds is out of range (0 to 1 day)"),
        });
    }
    let started = std::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_secs_f64(seconds)).await;
    let mut outcome = Outcome::default();
    outcome
        .data
        .insert("delta".into(), json!(started.elapsed().as_secs()));
    outcome.data.insert("user_input".into(), json!(""));
    outcome.data.insert("echo".into(), json!(true));
    Ok(outcome)
}

module!(Meta, META, meta);

/// `noop` needs no engine support, and the engine performs `flush_handlers` itself before a
/// module would run (where no handler can be pending, as in a rollout, it is a no-op); the
/// others fail clearly rather than be silently ignored.
async fn meta(_ctx: &Context<'_>, args: Args) -> Result<Outcome, ModuleError> {
    let action = args.required_str("_raw_params")?;
    match action.trim() {
        "noop" | "flush_handlers" => Ok(Outcome::default()),
        known @ ("refresh_inventory" | "clear_facts" | "clear_host_errors" | "end_play"
        | "end_host" | "end_batch" | "end_role" | "reset_connection") => Ok(Outcome::failed(
            format!("meta: `{known}` is not supported by drover yet"),
        )),
        other => Err(ModuleError::Args {
            message: format!("meta: unknown action `{other}`"),
        }),
    }
}
