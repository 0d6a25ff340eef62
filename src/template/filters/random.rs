//! `random` and `shuffle`, with Ansible's `seed`: a seeded call gives the same answer on
//! every run (drover's generator is not Python's, so the seeded order differs from
//! Ansible's; README says so).

use super::invalid;
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, Value};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use sha2::{Digest, Sha256};

pub fn register(env: &mut Environment<'static>) {
    env.add_filter("random", random);
    env.add_filter("shuffle", shuffle);
}

fn generator(seed: Option<Value>) -> StdRng {
    match seed {
        Some(seed) if !seed.is_none() && !seed.is_undefined() => {
            let digest = Sha256::digest(seed.to_string().as_bytes());
            let mut bytes = [0u8; 32];
            bytes.copy_from_slice(&digest);
            StdRng::from_seed(bytes)
        }
        _ => rand::make_rng(),
    }
}

/// `end | random(start=0, step=1, seed=None)` for a number; `list | random(seed=None)`
/// for one item.
fn random(
    value: Value,
    start: Option<i64>,
    step: Option<i64>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let start = kwargs.get::<Option<i64>>("start")?.or(start).unwrap_or(0);
    let step = kwargs.get::<Option<i64>>("step")?.or(step).unwrap_or(1);
    let mut rng = generator(kwargs.get::<Option<Value>>("seed")?);
    kwargs.assert_all_used()?;
    if let Some(end) = value.as_i64() {
        if step <= 0 || end <= start {
            return Err(invalid("random: empty range"));
        }
        let n = (end - start + step - 1) / step;
        return Ok(Value::from(start + step * rng.random_range(0..n)));
    }
    let items: Vec<Value> = value.try_iter()?.collect();
    if items.is_empty() {
        return Err(invalid("random: the sequence is empty"));
    }
    Ok(items[rng.random_range(0..items.len())].clone())
}

/// `list | shuffle(seed=None)`: a new list in random order.
fn shuffle(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let mut rng = generator(kwargs.get::<Option<Value>>("seed")?);
    kwargs.assert_all_used()?;
    if value.kind() == ValueKind::String {
        return Ok(value);
    }
    let mut items: Vec<Value> = value.try_iter()?.collect();
    items.shuffle(&mut rng);
    Ok(Value::from(items))
}
