//! The `drover` binary: parses the command line once into plain configs, calls the library,
//! renders any error once, and maps the outcome to Ansible's exit codes. Nothing below this
//! file knows about clap.

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(err) => {
            let _ = err.print();
            // `drover site.yml` as one types `ansible-playbook site.yml`.
            if err.kind() == clap::error::ErrorKind::InvalidSubcommand
                && let Some(first) = std::env::args().nth(1)
                && (first.ends_with(".yml") || first.ends_with(".yaml"))
            {
                eprintln!("\nhint: to run a playbook, say `drover run {first} -i INVENTORY`");
            }
            return match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(cli::EXIT_BAD_OPTIONS),
            };
        }
    };
    match cli::execute(args) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = err.exit_code();
            cli::render_error(&err);
            ExitCode::from(code)
        }
    }
}
