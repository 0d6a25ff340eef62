//! Numbers: `log`, `pow`, `root`, `human_to_bytes`.

use super::invalid;
use minijinja::{Environment, Error};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("log", |x: f64, base: Option<f64>| match base {
        Some(10.0) => x.log10(),
        Some(b) => x.ln() / b.ln(),
        None => x.ln(),
    });
    env.add_filter("pow", |x: f64, y: f64| x.powf(y));
    env.add_filter("root", |x: f64, base: Option<f64>| match base {
        None | Some(2.0) => x.sqrt(),
        Some(b) => x.powf(1.0 / b),
    });
    env.add_filter("human_to_bytes", human_to_bytes);
}

/// `'1.5K' | human_to_bytes(default_unit=None, isbits=False)`: binary multiples, as
/// Ansible's `human_to_bytes`.
fn human_to_bytes(
    text: String,
    default_unit: Option<String>,
    isbits: Option<bool>,
) -> Result<i64, Error> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| {
        invalid(format!(
            "human_to_bytes() can't interpret following string: {text}"
        ))
    })?;
    let unit = unit.trim();
    let unit = if unit.is_empty() {
        default_unit.unwrap_or_default()
    } else {
        unit.to_string()
    };
    let isbits = isbits.unwrap_or(false);
    let mut chars = unit.chars();
    let power = match chars.next().map(|c| c.to_ascii_uppercase()) {
        None => 0,
        Some('B') if !isbits => 0,
        Some('K') => 1,
        Some('M') => 2,
        Some('G') => 3,
        Some('T') => 4,
        Some('P') => 5,
        Some('E') => 6,
        Some('Z') => 7,
        Some('Y') => 8,
        Some(_) => {
            return Err(invalid(format!(
                "human_to_bytes() failed to convert {text}"
            )));
        }
    };
    let tail: String = chars.collect();
    let unit_ok = match (isbits, tail.as_str()) {
        (_, "") => true,
        (false, "B") | (false, "iB") | (false, "b") => !tail.ends_with('b') || power == 0,
        (true, "b") | (true, "ib") => true,
        _ => false,
    };
    if !unit_ok {
        return Err(invalid(format!(
            "human_to_bytes() failed to convert {text}"
        )));
    }
    Ok((number * 1024f64.powi(power)).round() as i64)
}
