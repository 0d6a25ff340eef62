//! `--step`: ansible-playbook's "Perform task: TASK: name (N)o/(y)es/(c)ontinue:" before
//! each task and handler of the run, answered on the terminal.

use drover::engine::{StepAnswer, StepAsk};
use drover::playbook::{Playbook, Strategy};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use super::CliError;

/// The question `--step` asks, or why this run cannot take it: it asks on the terminal, and
/// only plays that run one task at a time on every host can be stepped through.
pub(super) fn asker(playbook: &Playbook) -> Result<StepAsk, CliError> {
    let refuse = |why: String| {
        Err(CliError::UnsupportedFlag {
            flag: "--step".into(),
            why,
        })
    };
    if !std::io::stdin().is_terminal() {
        return refuse("it asks before each task on the terminal, and stdin is not one".into());
    }
    for play in &playbook.plays {
        let name = &play.name;
        if play.rolling.is_some() {
            return refuse(format!(
                "play `{name}` is a rollout: its hosts run their phases at once; \
                 `drover plan` shows its steps and `confirm_canary`/stage `confirm` ask before they start"
            ));
        }
        if play.strategy == Strategy::Free || play.strategy_template.is_some() {
            return refuse(format!(
                "play `{name}` uses `strategy: free`, where each host reaches a task at its own time"
            ));
        }
    }
    Ok(Arc::new(ask))
}

/// Asks on `/dev/tty`; anything but y/yes/c/continue (or a terminal that went away) skips.
fn ask(banner: &str) -> StepAnswer {
    // Let the printer finish the previous task's lines before the question appears.
    std::thread::sleep(Duration::from_millis(50));
    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return StepAnswer::No;
    };
    let mut writer = &tty;
    if write!(writer, "\nPerform task: {banner} (N)o/(y)es/(c)ontinue: ").is_err()
        || writer.flush().is_err()
    {
        return StepAnswer::No;
    }
    let mut answer = String::new();
    if std::io::BufReader::new(&tty)
        .read_line(&mut answer)
        .is_err()
    {
        return StepAnswer::No;
    }
    parse(&answer)
}

/// ansible-playbook's reading of the answer: `y`/`yes`, `c`/`continue`, else no.
fn parse(answer: &str) -> StepAnswer {
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => StepAnswer::Yes,
        "c" | "continue" => StepAnswer::Continue,
        _ => StepAnswer::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_read_as_ansible_reads_them() {
        assert_eq!(parse("y\n"), StepAnswer::Yes);
        assert_eq!(parse(" YES "), StepAnswer::Yes);
        assert_eq!(parse("c\n"), StepAnswer::Continue);
        assert_eq!(parse("continue"), StepAnswer::Continue);
        assert_eq!(parse("\n"), StepAnswer::No);
        assert_eq!(parse("n"), StepAnswer::No);
        assert_eq!(parse("sure"), StepAnswer::No);
    }
}
