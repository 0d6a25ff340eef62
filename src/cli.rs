//! Command-line surface: clap definitions, resolution of flags into the library's configs,
//! the one place errors are rendered, and the `lab` commands' messages.

use clap::{Args, Parser, Subcommand, ValueEnum};
// SSH, ssh_config and Ansible connection settings (issue 15): see cli/connect.rs.
mod adhoc;
mod connect;
mod listing;
mod runs;
mod step;
use connect::{SshArgs, transport_config};
use drover::engine::{self, LockOwner, RunConfig};
use drover::inventory::{Inventory, InventoryError, Vars};
use drover::journal::{self, Journal, JournalError, Record, RunInputs};
use drover::lab::{self, LabConfig, LabError};
use drover::plan::{self, PlanError};
use drover::playbook::{self, Playbook, PlaybookError, TagSelection};
use drover::report::{self, Format};
use drover::template::Templates;
use drover::window::{Clock, FileClock, SystemClock, WindowError, Windows};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

// Vault passwords and `drover vault` (issue 16) live in their own file.
mod vault;
use vault::VaultArgs;

pub const EXIT_ERROR: u8 = 1;
pub const EXIT_PARSE: u8 = 4;
pub const EXIT_BAD_OPTIONS: u8 = 5;
pub const EXIT_INTERRUPTED: u8 = 99;

#[derive(Parser, Debug)]
#[command(
    name = "drover",
    version,
    about = "Agentless fleet-upgrade orchestrator over SSH",
    long_about = "drover runs Ansible-style playbooks over SSH, one host or batch at a time, \
                  for safe rolling upgrades of stateful services."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a playbook against an inventory.
    Run(RunArgs),
    /// Run one module on the hosts matching a pattern, as the `ansible` command does.
    Exec(adhoc::ExecArgs),
    /// Show which hosts each play would run on, in which batches, touching nothing.
    Plan(PlanArgs),
    /// Validate a playbook and inventory without connecting to any host.
    Check(CheckArgs),
    /// Show an inventory: its hosts, groups, or one host's variables.
    Inventory(InventoryArgs),
    /// A disposable fleet of real OpenSSH servers on loopback, for the demo and for tests.
    Lab {
        #[command(subcommand)]
        action: LabAction,
    },
    /// Continue an interrupted run from its journal (default: the latest unfinished run).
    Resume(ResumeArgs),
    /// Past runs and their outcome; `runs show ID` for one run's per-host story.
    Runs(runs::RunsArgs),
    /// Remove the rollout locks a run left on hosts (a run that died; see `--break-lock`).
    Unlock(UnlockArgs),
    /// Encrypt, decrypt, view, edit and rekey ansible-vault files (and `encrypt_string`).
    Vault {
        #[command(subcommand)]
        action: vault::VaultAction,
    },
}

#[derive(Args, Debug)]
struct UnlockArgs {
    /// The hosts (a pattern: `node1`, `web:!db`, `all`).
    pattern: String,
    /// Inventory, as for `drover run` (repeatable; inline `h1,h2,`).
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    inventory: Vec<String>,
    /// The run whose locks go (as the refusal named it); other runs' locks stay.
    #[arg(long = "run")]
    run_id: String,
    #[command(flatten)]
    ssh: SshArgs,
    /// For an inventory with vault-encrypted values.
    #[command(flatten)]
    vault: VaultArgs,
}

#[derive(Args, Debug)]
pub(crate) struct StateArgs {
    /// Where run journals live [default: $DROVER_STATE_DIR or ./.drover].
    #[arg(long, global = true)]
    pub(crate) state_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ResumeArgs {
    /// The run to continue [default: the latest unfinished run].
    run_id: Option<String>,
    #[command(flatten)]
    state: StateArgs,
    /// Resume even though the playbook or inventory changed since the run started.
    #[arg(long)]
    force: bool,
    /// Values for extra vars the journal redacted (secrets), `key=value`.
    #[arg(short = 'e', long = "extra-vars")]
    extra_vars: Vec<String>,
    #[arg(long, value_enum, default_value_t = OutputArg::Human)]
    output: OutputArg,
    #[command(flatten)]
    ssh: SshArgs,
    /// Answer yes to confirmation prompts.
    #[arg(short = 'y', long)]
    yes: bool,
    #[command(flatten)]
    window: WindowArgs,
    /// `become` as the run had it (not journaled: give `-b`, `-K`, … again).
    #[command(flatten)]
    escalation: BecomeArgs,
    /// Break a host's stale lock (its run's lease ran out) instead of refusing the host.
    #[arg(long)]
    break_lock: bool,
    /// Vault passwords are never journaled: give them again.
    #[command(flatten)]
    vault: VaultArgs,
}

#[derive(Args, Debug)]
struct TargetArgs {
    /// The playbook file.
    playbook: PathBuf,
    /// Inventory: a file (YAML, INI, script), a directory, or an inline host list
    /// `host1,host2,`; repeatable [default: $ANSIBLE_INVENTORY, ansible.cfg's `inventory`,
    /// /etc/ansible/hosts].
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    inventory: Vec<String>,
    /// Further limit the hosts with a pattern (`node1:node2`, `web:!db`).
    #[arg(short = 'l', long)]
    limit: Option<String>,
    /// Extra variables: `key=value`, JSON/YAML, or `@file.yml`; repeatable; highest precedence.
    #[arg(short = 'e', long = "extra-vars")]
    extra_vars: Vec<String>,
    #[command(flatten)]
    vault: VaultArgs,
}

#[derive(Args, Debug)]
struct CheckArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The connection settings to check (ssh_config, flags), as `drover run` takes them.
    #[command(flatten)]
    ssh: SshArgs,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Ask each module what it would change and change nothing.
    #[arg(short = 'C', long)]
    check: bool,
    /// Show the unified diff of files that change.
    #[arg(short = 'D', long)]
    diff: bool,
    /// Break a host's stale lock (its run's lease ran out) instead of refusing the host.
    #[arg(long)]
    break_lock: bool,
    /// How many hosts work on a task at once [default: ansible.cfg's `forks`, else 50].
    #[arg(short = 'f', long, value_parser = clap::value_parser!(u16).range(1..))]
    forks: Option<u16>,
    /// Output format: Ansible-like lines, or one JSON event per line.
    #[arg(long, value_enum, default_value_t = OutputArg::Human)]
    output: OutputArg,
    #[command(flatten)]
    ssh: SshArgs,
    /// Answer yes to confirmation prompts (the canary batch), for unattended runs.
    #[arg(short = 'y', long)]
    yes: bool,
    #[command(flatten)]
    state: StateArgs,
    /// Write no journal (such a run cannot be resumed).
    #[arg(long)]
    no_journal: bool,
    #[command(flatten)]
    window: WindowArgs,
    /// Run only tasks with one of these tags (comma-separated or repeated; `tagged`,
    /// `untagged`, `all`, and `never`-tagged tasks by one of their other tags).
    #[arg(short = 't', long = "tags", value_delimiter = ',')]
    tags: Vec<String>,
    /// Skip tasks with one of these tags (`always` tasks only when `always` is named).
    #[arg(long = "skip-tags", value_delimiter = ',')]
    skip_tags: Vec<String>,
    #[command(flatten)]
    escalation: BecomeArgs,
    /// ansible-playbook's other everyday flags (issue 15): see cli/listing.rs.
    #[command(flatten)]
    playbook_flags: listing::PlaybookFlags,
}

#[derive(Args, Debug)]
struct BecomeArgs {
    /// Run every task as another user (Ansible's `become`; the playbook's keywords override).
    #[arg(short = 'b', long = "become")]
    escalate: bool,
    /// The user to become [default: ansible.cfg's `become_user`, else root].
    #[arg(long)]
    become_user: Option<String>,
    /// How to become that user [default: ansible.cfg's `become_method`, else sudo].
    #[arg(long, value_enum)]
    become_method: Option<BecomeMethodArg>,
    /// Ask for the become password once, on the terminal (unattended: set DROVER_BECOME_PASS).
    #[arg(short = 'K', long)]
    ask_become_pass: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum BecomeMethodArg {
    Sudo,
    Su,
}

/// Environment variable holding the become password for unattended runs.
const BECOME_PASS_ENV: &str = "DROVER_BECOME_PASS";

/// The run's `become` defaults; the password is asked for (without echo) at most once.
fn become_defaults(args: &BecomeArgs) -> Result<drover::transport::BecomeDefaults, CliError> {
    use drover::transport::{BecomeDefaults, BecomeMethod, BecomePassword};
    // ansible.cfg's [privilege_escalation] (and ANSIBLE_BECOME*) below the flags.
    let cfg = connect::ansible_settings()?;
    let method = match (args.become_method, cfg.become_method.as_deref()) {
        (Some(BecomeMethodArg::Sudo), _) => BecomeMethod::Sudo,
        (Some(BecomeMethodArg::Su), _) => BecomeMethod::Su,
        (None, Some(name)) => BecomeMethod::parse(name).ok_or_else(|| {
            CliError::ExtraVars(format!(
                "ansible.cfg become_method `{name}` is not supported by drover (sudo, su)"
            ))
        })?,
        (None, None) => BecomeMethod::Sudo,
    };
    let password = if args.ask_become_pass || cfg.become_ask_pass == Some(true) {
        let answer =
            rpassword::prompt_password("BECOME password: ").map_err(CliError::BecomePassword)?;
        Some(answer)
    } else {
        std::env::var(BECOME_PASS_ENV)
            .ok()
            .filter(|p| !p.is_empty())
    };
    if let Some(password) = &password {
        drover::sensitive::register(password);
    }
    Ok(BecomeDefaults {
        enabled: args.escalate || cfg.r#become == Some(true),
        user: args
            .become_user
            .clone()
            .or_else(|| cfg.become_user.clone())
            .unwrap_or_else(|| "root".into()),
        method,
        password: password.map(BecomePassword::new),
    })
}

#[derive(Args, Debug)]
struct WindowArgs {
    /// Maintenance windows for every rollout, replacing the playbook's `rolling.window`:
    /// `"Sat,Sun 02:00-06:00 Europe/Berlin"`, several separated by `;`.
    #[arg(long, value_name = "SPEC")]
    window: Option<String>,
    /// Outside the window, sleep until the next one opens (showing when) instead of stopping.
    #[arg(long)]
    wait_for_window: bool,
}

#[derive(Args, Debug)]
struct PlanArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
    /// Maintenance windows replacing the playbook's, as `drover run --window`.
    #[arg(long, value_name = "SPEC")]
    window: Option<String>,
    /// Connect to nothing: do not run the prechecks that read each host's version (and the
    /// facts `order_by` needs); those show as "read at run time".
    #[arg(long)]
    offline: bool,
    #[command(flatten)]
    ssh: SshArgs,
}

#[derive(Args, Debug)]
struct InventoryArgs {
    /// As for `drover run`: repeatable, inline `h1,h2,`, else ANSIBLE_INVENTORY / ansible.cfg.
    #[arg(short = 'i', long = "inventory", value_name = "INVENTORY")]
    inventory: Vec<String>,
    /// Every host and group as JSON, in `ansible-inventory --list` shape.
    #[arg(long, conflicts_with_all = ["graph", "host"])]
    list: bool,
    /// The group tree.
    #[arg(long, conflicts_with = "host")]
    graph: bool,
    /// One host's variables as JSON.
    #[arg(long)]
    host: Option<String>,
    /// Also read `group_vars/`/`host_vars/` in DIR, as a playbook there would
    /// (`ansible-inventory --playbook-dir`).
    #[arg(long, value_name = "DIR")]
    playbook_dir: Option<PathBuf>,
    #[command(flatten)]
    vault: VaultArgs,
}

#[derive(Subcommand, Debug)]
enum LabAction {
    /// Start N sshd nodes on 127.0.0.2… (default 3); idempotent.
    Up {
        #[arg(default_value_t = 3)]
        nodes: usize,
        #[command(flatten)]
        lab: LabArgs,
        /// Nodes per sshd process (1-16): one sshd listens on that many nodes' addresses with
        /// one host key, for large labs.
        #[arg(long, default_value_t = 1)]
        per_sshd: usize,
        /// Log in as `drover-lab-heavy`, whose bash sources a ~100 ms ~/.bashrc (root only).
        #[arg(long)]
        heavy_shell: bool,
        /// Address of node1 (the others follow it).
        #[arg(long, default_value_t = lab::DEFAULT_FIRST_ADDRESS)]
        first_address: std::net::Ipv4Addr,
        /// Data stores to run too (comma-separated): `postgresql` (one cluster on node1's
        /// address, port + 1000), `redis` (one server per node, port + 2000 + k), or `all`.
        #[arg(
            long = "with",
            value_enum,
            value_delimiter = ',',
            value_name = "SERVICES"
        )]
        with: Vec<ServiceArg>,
    },
    /// Install demo service 1.0 (an SQLite database with five rows) on every node that has
    /// none yet, and start it; or, given a product (headscale, devlake, gitlab, nakama,
    /// thethingsstack), its lab stand-in at a version, with demo data, and write every version
    /// into the lab's releases.
    Seed {
        /// headscale, devlake, gitlab, nakama or thethingsstack; none: the demo service.
        product: Option<String>,
        /// The product's version [default: its oldest in the lab].
        #[arg(long)]
        version: Option<String>,
        /// Comma-separated node names [default: every node].
        #[arg(long, value_delimiter = ',')]
        nodes: Vec<String>,
        /// The Things Stack Enterprise (as-db and dcs-db) instead of Open Source.
        #[arg(long)]
        enterprise: bool,
        #[command(flatten)]
        lab: LabArgs,
    },
    /// Stop every process this lab started.
    Down {
        #[command(flatten)]
        lab: LabArgs,
    },
    /// Show the lab's nodes.
    Status {
        #[command(flatten)]
        lab: LabArgs,
    },
    /// Bring up 3 nodes with demo service 1.0 and upgrade them to 2.0, one at a time.
    Demo {
        #[command(flatten)]
        lab: LabArgs,
        #[arg(long, value_enum, default_value_t = OutputArg::Human)]
        output: OutputArg,
    },
}

#[derive(Args, Debug)]
struct LabArgs {
    /// Lab directory [default: $DROVER_LAB_DIR or /tmp/drover-lab].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Port every node's sshd listens on.
    #[arg(long, default_value_t = 2222)]
    port: u16,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ServiceArg {
    Postgresql,
    Redis,
    All,
}

impl ServiceArg {
    fn services(args: &[ServiceArg]) -> lab::Services {
        args.iter().fold(lab::Services::NONE, |services, arg| {
            services.union(match arg {
                ServiceArg::Postgresql => lab::Services {
                    postgresql: true,
                    redis: false,
                },
                ServiceArg::Redis => lab::Services {
                    postgresql: false,
                    redis: true,
                },
                ServiceArg::All => lab::Services::ALL,
            })
        })
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub(crate) enum OutputArg {
    Human,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum PlanFormat {
    Text,
    Markdown,
    Json,
}

/// Every error the binary can meet, each layer's own type, rendered once.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CliError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Playbook(#[from] PlaybookError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lab(#[from] LabError),
    #[error("{0}")]
    #[diagnostic(help("extra vars are `key=value`, a JSON/YAML mapping, or `@file.yml`"))]
    ExtraVars(String),
    #[error("no host named `{0}` in the inventory")]
    NoSuchHost(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot read the become password: {0}")]
    #[diagnostic(help("run in a terminal, or set DROVER_BECOME_PASS for unattended runs"))]
    BecomePassword(std::io::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Runs(#[from] runs::RunsError),
    #[error("{what} changed since run {run_id} started ({path})")]
    #[diagnostic(help(
        "resuming against different inputs is unsafe; pass --force if you are sure"
    ))]
    InputsChanged {
        what: &'static str,
        path: PathBuf,
        run_id: String,
    },
    #[error("run {run_id} had secret extra vars that were not journaled: {names}")]
    #[diagnostic(help(
        "give them again: drover resume {run_id} -e NAME=VALUE (a nested one with its whole top-level value, -e '{{\"top\": {{…}}}}')"
    ))]
    SecretsMissing { run_id: String, names: String },
    #[error("--window: {0}")]
    Window(#[from] WindowError),
    #[error("DROVER_CLOCK_FILE: {0}")]
    Clock(String),
    #[error("{0}")]
    Vault(String),
    // --- SSH and connection settings (issue 15) ---
    #[error(transparent)]
    #[diagnostic(transparent)]
    SshConfig(#[from] drover::transport::ssh_config::SshConfigError),
    #[error("ansible.cfg: {0}")]
    AnsibleCfg(String),
    #[error("no inventory: give -i, or set `inventory` in ansible.cfg (or ANSIBLE_INVENTORY)")]
    NoInventory,
    #[error("{flag}: {why}")]
    UnsupportedFlag { flag: String, why: String },
    #[error("cannot read the SSH password: {0}")]
    #[diagnostic(help("run in a terminal, or set ansible_password for the hosts"))]
    AskPass(std::io::Error),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Plan(PlanError::LimitMatchesNothing(_)) => EXIT_ERROR,
            CliError::Playbook(_) | CliError::Inventory(_) | CliError::Plan(_) => EXIT_PARSE,
            CliError::ExtraVars(_) | CliError::NoSuchHost(_) => EXIT_BAD_OPTIONS,
            CliError::BecomePassword(_) => EXIT_BAD_OPTIONS,
            CliError::Lab(_) | CliError::Runtime(_) | CliError::Journal(_) => EXIT_ERROR,
            CliError::Runs(_) => EXIT_ERROR,
            CliError::InputsChanged { .. } | CliError::SecretsMissing { .. } => EXIT_BAD_OPTIONS,
            CliError::Window(_) | CliError::Clock(_) => EXIT_BAD_OPTIONS,
            CliError::Vault(_) => EXIT_ERROR,
            CliError::SshConfig(_) => EXIT_PARSE,
            CliError::AskPass(_) | CliError::NoInventory => EXIT_BAD_OPTIONS,
            CliError::UnsupportedFlag { .. } => EXIT_BAD_OPTIONS,
            CliError::AnsibleCfg(_) => EXIT_PARSE,
        }
    }
}

pub fn render_error(err: &CliError) {
    let handler = miette::GraphicalReportHandler::new();
    let mut text = String::new();
    // A playbook's problems are shown one by one, each with its own excerpt, then counted.
    if let CliError::Playbook(PlaybookError::Invalid { problems, .. }) = err {
        for problem in problems {
            if handler.render_report(&mut text, problem).is_err() {
                text.push_str(&format!("error: {problem}\n"));
            }
        }
        text.push_str(&format!("error: {err}\n"));
    } else if handler.render_report(&mut text, err).is_err() {
        text = format!("error: {err}\n");
    }
    // An error may quote a value (a failed command line, a template's text): secrets masked.
    let _ = std::io::stderr().write_all(drover::sensitive::redact(&text).as_bytes());
}

/// A warning on stderr, as Ansible's `[WARNING]:` lines.
fn warn(message: &str) {
    let line = format!("[WARNING]: {message}\n");
    let _ = std::io::stderr().write_all(drover::sensitive::redact(&line).as_bytes());
}

/// A note for the operator on stderr (stdout stays the command's output).
fn note(message: &str) {
    let _ = std::io::stderr().write_all(format!("{message}\n").as_bytes());
}

/// A prompt on stderr without a newline.
fn note_inline(message: &str) {
    let mut err = std::io::stderr();
    let _ = err.write_all(message.as_bytes()).and_then(|_| err.flush());
}

pub fn execute(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Exec(args) => adhoc::exec(args),
        Command::Plan(args) => plan_cmd(args),
        Command::Check(args) => check(args.target, &args.ssh),
        Command::Inventory(args) => inventory_cmd(args),
        Command::Lab { action } => lab_cmd(action),
        Command::Resume(args) => resume(args),
        Command::Runs(args) => runs(args),
        Command::Unlock(args) => unlock(args),
        Command::Vault { action } => vault::execute(action, connect::vault_configured()?),
    }
}

type Loaded = (Inventory, Playbook, plan::Plan, Vars);

/// Options first (bad ones exit 5 before any file is read), then inventory, playbook, plan.
fn load(target: &TargetArgs) -> Result<Loaded, CliError> {
    // Vault passwords before any file is read: vars files and `!vault` values need them.
    // ansible.cfg's `vault_password_file`/`vault_identity_list` go in the second argument.
    vault::install(&target.vault, connect::vault_configured()?)?;
    let extra_vars = parse_extra_vars(&target.extra_vars)?;
    let mut inventory = Inventory::load_sources(&connect::inventory_sources(&target.inventory)?)?;
    connect::export_roles_path()?;
    let playbook = playbook::load_with(&target.playbook, &extra_vars)?;
    // group_vars/ and host_vars/ beside the playbook rank above the inventory's own.
    inventory.add_playbook_dir(&playbook.dir)?;
    let plan = plan::plan(
        &playbook,
        &inventory,
        target.limit.as_deref(),
        &extra_vars,
        &Templates::new(),
    )?;
    Ok((inventory, playbook, plan, extra_vars))
}

fn state_dir(args: &StateArgs) -> PathBuf {
    args.state_dir
        .clone()
        .or_else(|| std::env::var_os("DROVER_STATE_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(".drover"))
}

/// `--window`, read before any file so that a bad spec exits 5 at once.
fn window_override(spec: Option<&str>) -> Result<Option<Windows>, CliError> {
    Ok(spec.map(Windows::parse).transpose()?)
}

/// The clock windows are judged by: the system's, or the simulated one in
/// `DROVER_CLOCK_FILE` (to rehearse a rollout's windows without waiting for them).
fn clock() -> Result<Arc<dyn Clock>, CliError> {
    match std::env::var_os("DROVER_CLOCK_FILE") {
        Some(path) => Ok(Arc::new(
            FileClock::open(Path::new(&path)).map_err(CliError::Clock)?,
        )),
        None => Ok(Arc::new(SystemClock)),
    }
}

fn run(args: RunArgs) -> Result<u8, CliError> {
    args.playbook_flags.refuse_unsupported()?;
    if args.playbook_flags.syntax_check {
        return check(args.target, &args.ssh);
    }
    let window = window_override(args.window.window.as_deref())?;
    let clock = clock()?;
    let (inventory, mut playbook, plan, extra_vars) = load(&args.target)?;
    if args.playbook_flags.lists() {
        print!(
            "{}",
            listing::listing(
                &args.playbook_flags,
                &args.target.playbook,
                &playbook,
                &plan
            )
        );
        return Ok(0);
    }
    static_checks(&args.target, &inventory, &playbook, &plan, &extra_vars)?;
    if let Some(wanted) = &args.playbook_flags.start_at_task {
        start_at_task_applies(&playbook, wanted)?;
    }
    let step = if args.playbook_flags.step {
        Some(step::asker(&playbook)?)
    } else {
        None
    };
    if let Some(window) = &window {
        playbook.override_window(window);
    }
    // A check run changes nothing, so there is nothing to resume (nor to lock).
    let run_id = journal::new_run_id();
    let lock = (!args.check).then(|| LockOwner {
        run_id: run_id.clone(),
        break_stale: args.break_lock,
    });
    let journal = if args.check || args.no_journal {
        None
    } else {
        let inputs = RunInputs {
            run_id,
            started: journal::now_rfc3339(),
            playbook: args.target.playbook.clone(),
            playbook_sha256: journal::sha256_file(&args.target.playbook),
            inventory: connect::primary_inventory(&args.target.inventory)?,
            inventory_sha256: journal::sha256_file(&connect::primary_inventory(
                &args.target.inventory,
            )?),
            inventory_sources: match connect::inventory_sources(&args.target.inventory)? {
                sources if sources.len() > 1 => sources,
                _ => Vec::new(),
            },
            limit: args.target.limit.clone(),
            extra_vars: journal::redact(&extra_vars.clone().into_iter().collect()),
            check: args.check,
            forks: connect::forks(args.forks)?,
            window: args.window.window.clone(),
            tags: args.tags.clone(),
            skip_tags: args.skip_tags.clone(),
            force_handlers: connect::force_handlers(args.playbook_flags.force_handlers)?,
            user: runs::user(),
            control_host: runs::control_host(),
            cwd: std::env::current_dir().ok(),
        };
        Some(Arc::new(Journal::create(&state_dir(&args.state), &inputs)?))
    };
    let mut transport = transport_config(&args.ssh)?;
    transport.escalation = become_defaults(&args.escalation)?;
    connect::default_connection(&mut transport, args.playbook_flags.connection.as_deref())?;
    transport.trace_level = args.playbook_flags.verbose;
    let config = RunConfig {
        forks: connect::forks(args.forks)?,
        check: args.check,
        diff: args.diff,
        extra_vars,
        transport,
        confirm: (!args.yes).then(|| Arc::new(ask_tty) as engine::Confirm),
        journal,
        resume: None,
        clock,
        wait_for_window: args.window.wait_for_window,
        tags: TagSelection {
            only: args.tags.clone(),
            skip: args.skip_tags.clone(),
        },
        lock,
        start_at_task: args.playbook_flags.start_at_task.clone(),
        force_handlers: connect::force_handlers(args.playbook_flags.force_handlers)?,
        step,
    };
    let format = match args.output {
        OutputArg::Human => Format::Human,
        OutputArg::Json => Format::Json,
    };
    execute_plan(
        playbook,
        inventory,
        plan,
        config,
        format,
        args.playbook_flags.verbose,
    )
}

/// Runs a plan with a reporter on stdout and Ctrl-C handling; returns the exit code.
fn execute_plan(
    playbook: Playbook,
    inventory: Inventory,
    plan: plan::Plan,
    config: RunConfig,
    format: Format,
    verbosity: u8,
) -> Result<u8, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let journal = config.journal.clone();
    let run_id = config
        .lock
        .as_ref()
        .map_or_else(journal::new_run_id, |l| l.run_id.clone());
    let code = runtime.block_on(async move {
        let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
        let (interrupt_tx, interrupts) = tokio::sync::watch::channel(0u32);
        let mut reporter = report::stdout(format, verbosity, &run_id);
        let printer = tokio::spawn(async move {
            while let Some(event) = events_rx.recv().await {
                reporter.event(&event);
                if matches!(event, engine::Event::Aborted) {
                    let _ = std::io::stdout().flush();
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
            }
        });
        // Weak: the printer ends when the engine drops its sender, not when this task does.
        let abort_events = events_tx.downgrade();
        // First Ctrl-C (or SIGTERM): finish the current step everywhere and start nothing
        // new. Second: abort now (the journal says which steps were in flight).
        tokio::spawn(async move {
            let mut presses = 0u32;
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                let term_recv = async {
                    match term.as_mut() {
                        Some(t) => t.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = tokio::signal::ctrl_c() => if r.is_err() { break },
                    _ = term_recv => {}
                }
                presses += 1;
                if presses >= 2 {
                    // The printer says so after what it has queued, then exits; should it be
                    // wedged, exit anyway.
                    if let Some(events) = abort_events.upgrade() {
                        let _ = events.send(engine::Event::Aborted);
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let _ = std::io::stdout().flush();
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
                if let Some(events) = abort_events.upgrade() {
                    let _ = events.send(engine::Event::InterruptRequested);
                }
                let _ = interrupt_tx.send(presses);
            }
        });
        let summary = engine::run(
            Arc::new(playbook),
            Arc::new(inventory),
            plan,
            config,
            events_tx,
            interrupts,
        )
        .await;
        let _ = printer.await;
        summary.exit_code()
    });
    if let Some(journal) = journal {
        journal.record(&Record::RunEnd {
            exit_code: code,
            at: journal::now_rfc3339(),
        })?;
        // The report is a convenience: failing to write it does not fail the run.
        match runs::write_report(journal.path()) {
            Ok(path) => note(&format!("run report: {}", path.display())),
            Err(err) => warn(&format!("the run report was not written: {err}")),
        }
    }
    Ok(u8::try_from(code).unwrap_or(EXIT_ERROR))
}

fn resume(args: ResumeArgs) -> Result<u8, CliError> {
    let override_window = window_override(args.window.window.as_deref())?;
    let clock = clock()?;
    let dir = state_dir(&args.state);
    let log = journal::find(&dir, args.run_id.as_deref())?;
    let inputs = &log.inputs;
    if !args.force {
        for (what, path, sum) in [
            ("the playbook", &inputs.playbook, &inputs.playbook_sha256),
            ("the inventory", &inputs.inventory, &inputs.inventory_sha256),
        ] {
            if journal::sha256_file(path) != *sum {
                return Err(CliError::InputsChanged {
                    what,
                    path: path.clone(),
                    run_id: inputs.run_id.clone(),
                });
            }
        }
    }
    vault::install(&args.vault, connect::vault_configured()?)?;
    let mut extra_vars: Vars = inputs.extra_vars.clone().into_iter().collect();
    extra_vars.extend(parse_extra_vars(&args.extra_vars)?);
    let missing: Vec<String> = extra_vars
        .iter()
        .flat_map(|(k, v)| journal::redacted(k, v))
        .collect();
    if !missing.is_empty() {
        return Err(CliError::SecretsMissing {
            run_id: inputs.run_id.clone(),
            names: missing.join(", "),
        });
    }
    let target = TargetArgs {
        playbook: inputs.playbook.clone(),
        // Every source the run read (several `-i`), else its one inventory.
        inventory: if inputs.inventory_sources.is_empty() {
            vec![inputs.inventory.display().to_string()]
        } else {
            inputs.inventory_sources.clone()
        },
        limit: inputs.limit.clone(),
        extra_vars: Vec::new(),
        vault: args.vault.clone(),
    };
    let mut inventory = Inventory::load_sources(&target.inventory)?;
    connect::export_roles_path()?;
    let mut playbook = playbook::load(&target.playbook)?;
    inventory.add_playbook_dir(&playbook.dir)?;
    let window = match override_window {
        Some(window) => Some(window),
        None => window_override(inputs.window.as_deref())?,
    };
    if let Some(window) = &window {
        playbook.override_window(window);
    }
    let plan = plan::plan(
        &playbook,
        &inventory,
        target.limit.as_deref(),
        &extra_vars,
        &Templates::new(),
    )?;
    let journal = Journal::append_to(&log.path)?;
    journal.record(&Record::Resume {
        at: journal::now_rfc3339(),
    })?;
    let mut transport = transport_config(&args.ssh)?;
    transport.escalation = become_defaults(&args.escalation)?;
    let config = RunConfig {
        forks: inputs.forks,
        check: false,
        diff: false,
        extra_vars,
        transport,
        confirm: (!args.yes).then(|| Arc::new(ask_tty) as engine::Confirm),
        journal: Some(Arc::new(journal)),
        resume: Some(log.progress()),
        clock,
        wait_for_window: args.window.wait_for_window,
        tags: TagSelection {
            only: inputs.tags.clone(),
            skip: inputs.skip_tags.clone(),
        },
        // The run's own locks, taken back host by host.
        lock: Some(LockOwner {
            run_id: inputs.run_id.clone(),
            break_stale: args.break_lock,
        }),
        start_at_task: None,
        force_handlers: inputs.force_handlers,
        step: None,
    };
    let format = match args.output {
        OutputArg::Human => Format::Human,
        OutputArg::Json => Format::Json,
    };
    execute_plan(playbook, inventory, plan, config, format, 0)
}

fn unlock(args: UnlockArgs) -> Result<u8, CliError> {
    vault::install(&args.vault, connect::vault_configured()?)?;
    let inventory = Inventory::load_sources(&connect::inventory_sources(&args.inventory)?)?;
    let transport = transport_config(&args.ssh)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let answers = runtime.block_on(engine::unlock::unlock(
        &inventory,
        &args.pattern,
        &args.run_id,
        transport,
    ))?;
    let mut out = String::new();
    let mut code = 0;
    for answer in &answers {
        let line = match &answer.result {
            Ok(engine::Released::Released) => {
                format!(
                    "released the lock of run {} at {}",
                    args.run_id, answer.path
                )
            }
            Ok(engine::Released::NotLocked) => format!("not locked ({})", answer.path),
            Ok(engine::Released::Held(holder)) => {
                code = 2;
                format!(
                    "left alone: {} is locked by {}",
                    answer.path,
                    holder.describe()
                )
            }
            Err(why) => {
                code = 3;
                format!("cannot reach it: {why}")
            }
        };
        out.push_str(&format!("{}: {line}\n", answer.host));
    }
    print!("{out}");
    Ok(code)
}

fn runs(args: runs::RunsArgs) -> Result<u8, CliError> {
    let dir = state_dir(&args.state);
    runs::runs(args, &dir)
}

/// A run that asks nothing and journals nothing (the lab demo, `drover plan`'s probe).
fn unattended_config(extra_vars: Vars, ssh: &SshArgs) -> Result<RunConfig, CliError> {
    Ok(RunConfig {
        forks: 50,
        check: false,
        diff: false,
        extra_vars,
        transport: transport_config(ssh)?,
        confirm: None,
        journal: None,
        resume: None,
        clock: Arc::new(SystemClock),
        wait_for_window: false,
        tags: TagSelection::default(),
        lock: Some(LockOwner {
            run_id: journal::new_run_id(),
            break_stale: false,
        }),
        start_at_task: None,
        force_handlers: false,
        step: None,
    })
}

/// Asks on the terminal when drover runs in one; unattended (stdin not a terminal) means no.
fn ask_tty(question: &str) -> bool {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        return false;
    }
    // Let the printer finish the batch's lines before the question appears.
    std::thread::sleep(Duration::from_millis(100));
    let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    else {
        return false;
    };
    let mut writer = &tty;
    if write!(writer, "\n{question} [y/N] ").is_err() || writer.flush().is_err() {
        return false;
    }
    let mut answer = String::new();
    if std::io::BufReader::new(&tty)
        .read_line(&mut answer)
        .is_err()
    {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `-e` values as Ansible reads them: `@file`, a JSON/YAML mapping, or `k=v` words.
fn parse_extra_vars(values: &[String]) -> Result<Vars, CliError> {
    let mut vars = Vars::new();
    for value in values {
        let value = value.trim();
        let mapping = if let Some(path) = value.strip_prefix('@') {
            // A vault-encrypted file is read as vars files are (decrypted, values sensitive).
            let vars = drover::vars_file::read(std::path::Path::new(path))
                .map_err(|e| CliError::ExtraVars(format!("cannot read {path}: {e}")))?;
            Some(vars)
        } else if value.starts_with('{') {
            Some(parse_mapping(value, "-e")?)
        } else {
            None
        };
        match mapping {
            Some(map) => vars.extend(map),
            None => {
                let words = shlex::split(value).ok_or_else(|| {
                    CliError::ExtraVars(format!("unbalanced quotes in `{value}`"))
                })?;
                for word in words {
                    let Some((k, v)) = word.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                        return Err(CliError::ExtraVars(format!("`{word}` is not `key=value`")));
                    };
                    vars.insert(k.to_string(), serde_json::Value::String(v.to_string()));
                }
            }
        }
    }
    Ok(vars)
}

fn parse_mapping(text: &str, name: &str) -> Result<Vars, CliError> {
    let node = drover::playbook::yaml::parse(text)
        .map_err(|e| CliError::ExtraVars(format!("{name}: {e}")))?;
    match node.to_json() {
        serde_json::Value::Object(map) => Ok(map.into_iter().collect()),
        _ => Err(CliError::ExtraVars(format!("{name}: not a mapping"))),
    }
}

fn plan_cmd(args: PlanArgs) -> Result<u8, CliError> {
    let window = window_override(args.window.as_deref())?;
    let (inventory, mut playbook, plan, extra_vars) = load(&args.target)?;
    if let Some(window) = &window {
        playbook.override_window(window);
    }
    let playbook = Arc::new(playbook);
    let inventory = Arc::new(inventory);
    let config = unattended_config(extra_vars, &args.ssh)?;
    let probes = if args.offline || !plan_needs_probe(&playbook, &plan) {
        Vec::new()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(CliError::Runtime)?
            .block_on(engine::probe(
                playbook.clone(),
                inventory.clone(),
                &plan,
                config.clone(),
            ))
    };
    let known = engine::Known::new(playbook.clone(), inventory.clone(), &plan, config, &probes);
    let doc = report::plan::Document::build(&report::plan::Inputs {
        playbook: &playbook,
        plan: &plan,
        inventory: &inventory,
        inventory_path: &connect::primary_inventory(&args.target.inventory)?,
        known: &known,
        probes: &probes,
    });
    let out = match args.format {
        PlanFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&report::plan::json(&doc)).unwrap_or_default()
        ),
        PlanFormat::Text => report::plan::text(&doc),
        PlanFormat::Markdown => report::plan::markdown(&doc),
    };
    print!("{}", drover::sensitive::redact(&out));
    // The code a run would end with where the plan found a problem (README: exit codes).
    Ok(u8::try_from(doc.exit_code()).unwrap_or(1))
}

/// Whether a rollout has something to learn from its precheck: versions for an upgrade
/// path, or facts its `order_by` needs.
fn plan_needs_probe(playbook: &Playbook, plan: &plan::Plan) -> bool {
    plan.plays.iter().any(|p| {
        p.rollout && (playbook.plays[p.play].upgrade_path.is_some() || p.order_deferred.is_some())
    })
}

fn check(args: TargetArgs, ssh: &SshArgs) -> Result<u8, CliError> {
    let (inventory, playbook, plan, extra_vars) = load(&args)?;
    // Connection settings as a run would resolve them, without connecting.
    let transport = transport_config(ssh)?;
    let (warnings, refusals) =
        connect::check_connections(&transport, &inventory, &plan, &extra_vars);
    static_checks(&args, &inventory, &playbook, &plan, &extra_vars)?;
    for warning in &warnings {
        println!("[WARNING]: {warning}");
    }
    if !refusals.is_empty() {
        for refusal in &refusals {
            println!("error: {refusal}");
        }
        return Ok(EXIT_PARSE);
    }
    println!("{}", drover::check::summary(&playbook, &plan));
    Ok(0)
}

/// `--start-at-task`: refused for a rollout (its place is kept by the journal: `drover
/// resume`), and when no task of the playbook has that name (a typo would skip everything).
fn start_at_task_applies(playbook: &Playbook, wanted: &str) -> Result<(), CliError> {
    let refuse = |why: String| {
        Err(CliError::UnsupportedFlag {
            flag: format!("--start-at-task {wanted:?}"),
            why,
        })
    };
    if playbook.plays.iter().any(|p| p.rolling.is_some()) {
        return refuse(
            "a rollout does not start mid-way: an interrupted one continues with `drover resume`"
                .into(),
        );
    }
    let found = playbook
        .plays
        .iter()
        .flat_map(|p| p.tasks.iter())
        .any(|t| engine::starts_at(t, wanted));
    if !found {
        return refuse("no task of the playbook has this name".into());
    }
    Ok(())
}

/// What `drover check` finds without connecting (template syntax, variables nothing
/// defines): `drover run` refuses on the same before it connects to any host (exit 4).
fn static_checks(
    args: &TargetArgs,
    inventory: &Inventory,
    playbook: &Playbook,
    plan: &plan::Plan,
    extra_vars: &Vars,
) -> Result<(), CliError> {
    let templates = Templates::new();
    let mut problems = drover::check::template_problems(playbook, &templates);
    problems.extend(drover::check::undefined_problems(
        playbook, inventory, plan, extra_vars, &templates,
    ));
    if problems.is_empty() {
        return Ok(());
    }
    Err(PlaybookError::Invalid {
        path: args.playbook.clone(),
        problems,
    }
    .into())
}

fn inventory_cmd(args: InventoryArgs) -> Result<u8, CliError> {
    vault::install(&args.vault, connect::vault_configured()?)?;
    drover::vault::show_sealed_values();
    let mut inventory = Inventory::load_sources(&connect::inventory_sources(&args.inventory)?)?;
    if let Some(dir) = &args.playbook_dir {
        inventory.add_playbook_dir(dir)?;
    }
    if let Some(name) = &args.host {
        let host = inventory
            .hosts
            .get(name)
            .ok_or_else(|| CliError::NoSuchHost(name.clone()))?;
        let json = serde_json::to_string_pretty(&host.vars).unwrap_or_default();
        println!("{}", drover::sensitive::redact(&json));
        return Ok(0);
    }
    if args.graph {
        print!("{}", graph(&inventory));
        return Ok(0);
    }
    let json = serde_json::to_string_pretty(&inventory.to_ansible_list_json()).unwrap_or_default();
    println!("{}", drover::sensitive::redact(&json));
    Ok(0)
}

/// `ansible-inventory --graph` layout: child groups, then the group's own hosts.
fn graph(inventory: &Inventory) -> String {
    fn walk(inv: &Inventory, group: &str, depth: usize, out: &mut String) {
        let name = format!("@{group}:");
        out.push_str(&line(&name, depth));
        if let Some(g) = inv.groups.get(group) {
            for child in &g.children {
                walk(inv, child, depth + 1, out);
            }
            if group != "all" {
                for host in &g.hosts {
                    out.push_str(&line(host, depth + 1));
                }
            }
        }
    }
    fn line(name: &str, depth: usize) -> String {
        if depth == 0 {
            format!("{name}\n")
        } else {
            format!("{}--{name}\n", "  |".repeat(depth))
        }
    }
    let mut out = String::new();
    walk(inventory, "all", 0, &mut out);
    out
}

fn lab_dir(args: &LabArgs) -> PathBuf {
    args.dir.clone().unwrap_or_else(LabConfig::default_dir)
}

fn lab_config(args: &LabArgs, nodes: usize) -> LabConfig {
    let mut config = LabConfig::new(lab_dir(args));
    config.nodes = nodes;
    config.port = args.port;
    config
}

fn lab_cmd(action: LabAction) -> Result<u8, CliError> {
    match action {
        LabAction::Up {
            nodes,
            lab,
            per_sshd,
            heavy_shell,
            first_address,
            with,
        } => {
            let mut config = lab_config(&lab, nodes);
            config.per_sshd = per_sshd;
            config.heavy_shell = heavy_shell;
            config.first_address = first_address;
            config.services = ServiceArg::services(&with);
            let lab = lab::up(&config)?;
            print!("{}", describe_lab(&lab));
            Ok(0)
        }
        LabAction::Seed {
            product,
            version,
            nodes,
            enterprise,
            lab,
        } => {
            let dir = lab_dir(&lab);
            match lab::status(&dir)? {
                Some(lab) => match product {
                    None => {
                        lab.seed_demo()?;
                        println!(
                            "demo service 1.0 on {} node(s) of {}",
                            lab.nodes.len(),
                            dir.display()
                        );
                    }
                    Some(name) => {
                        let product: lab::Product = name.parse()?;
                        let options = lab::SeedOptions {
                            version,
                            nodes,
                            enterprise,
                        };
                        let seeded = lab.seed_product(&product, &options)?;
                        println!(
                            "{} {} on {}; every version in {}",
                            seeded.product,
                            seeded.version,
                            seeded.nodes.join(", "),
                            seeded.releases.display()
                        );
                    }
                },
                None => println!(
                    "no lab is up in {}; run `drover lab up` first",
                    dir.display()
                ),
            }
            Ok(0)
        }
        LabAction::Down { lab } => {
            let dir = lab_dir(&lab);
            let stopped = lab::down(&dir)?;
            println!("lab {}: stopped {stopped} process(es)", dir.display());
            Ok(0)
        }
        LabAction::Status { lab } => {
            let dir = lab_dir(&lab);
            match lab::status(&dir)? {
                Some(lab) => print!("{}", describe_lab(&lab)),
                None => println!("no lab is up in {}", dir.display()),
            }
            Ok(0)
        }
        LabAction::Demo { lab, output } => demo(&lab, output),
    }
}

fn describe_lab(lab: &lab::Lab) -> String {
    let mut out = format!(
        "lab {}: {} node(s), login user `{}`\n",
        lab.dir.display(),
        lab.nodes.len(),
        lab.user
    );
    let running = |pid: Option<u32>| match pid {
        Some(pid) => format!("running, pid {pid}"),
        None => "stopped".to_string(),
    };
    for node in &lab.nodes {
        out.push_str(&format!(
            "  {:<8} {}:{}  data {}\n",
            node.name,
            node.address,
            node.port,
            node.root.display()
        ));
        if let Some(port) = node.redis_port {
            out.push_str(&format!(
                "           redis {}:{port} ({}), unit `redis`\n",
                node.address,
                running(node.redis_pid())
            ));
        }
    }
    if let Some(pg) = &lab.postgresql {
        out.push_str(&format!(
            "  postgresql {}:{} ({}), superuser `{}`, data {}\n",
            pg.host,
            pg.port,
            running(pg.pid),
            pg.user,
            pg.data_dir.display()
        ));
    }
    out.push_str(&format!(
        "\ninventory:   {}\nclient key:  {}\nknown_hosts: {}\n\ntry:\n  drover inventory -i {} --graph\n  drover run playbooks/demo-rolling-upgrade.yml -i {}\n  ssh -i {} -o UserKnownHostsFile={} -p {} {}@{}\n",
        lab.inventory.display(),
        lab.key.display(),
        lab.known_hosts.display(),
        lab.inventory.display(),
        lab.inventory.display(),
        lab.key.display(),
        lab.known_hosts.display(),
        lab.nodes.first().map_or(0, |n| n.port),
        lab.user,
        lab.nodes.first().map_or_else(String::new, |n| n.address.to_string()),
    ));
    out
}

/// The demo playbook: `./playbooks/…` when run from a checkout, else the one this binary was
/// built from.
fn demo_playbook() -> PathBuf {
    let local = PathBuf::from("playbooks/demo-rolling-upgrade.yml");
    if local.is_file() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/demo-rolling-upgrade.yml")
}

fn demo(args: &LabArgs, output: OutputArg) -> Result<u8, CliError> {
    let dir = lab_dir(args);
    let nodes = lab::status(&dir)?.map_or(3, |lab| lab.nodes.len().max(3));
    let lab = lab::up(&lab_config(args, nodes))?;
    lab.seed_demo()?;
    if matches!(output, OutputArg::Human) {
        print!("{}", describe_lab(&lab));
    }
    let inventory = Inventory::load(&lab.inventory)?;
    let playbook = playbook::load(&demo_playbook())?;
    let plan = plan::plan(&playbook, &inventory, None, &Vars::new(), &Templates::new())?;
    let ssh = SshArgs::for_lab(&lab.known_hosts);
    let config = unattended_config(Vars::new(), &ssh)?;
    let format = match output {
        OutputArg::Human => Format::Human,
        OutputArg::Json => Format::Json,
    };
    execute_plan(playbook, inventory, plan, config, format, 0)
}
