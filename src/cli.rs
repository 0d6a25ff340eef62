//! Command-line surface: clap definitions, resolution of flags into the library's configs,
//! the one place errors are rendered, and the `lab` commands' messages.

use clap::{Args, Parser, Subcommand, ValueEnum};
use drover::engine::{self, RunConfig};
use drover::inventory::{Inventory, InventoryError, Vars};
use drover::lab::{self, LabConfig, LabError};
use drover::plan::{self, PlanError};
use drover::playbook::{self, Playbook, PlaybookError};
use drover::report::{self, Format};
use drover::template::Templates;
use drover::transport::{HostKeyPolicy, TransportConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
    /// Show which hosts each play would run on, in which batches, touching nothing.
    Plan(PlanArgs),
    /// Validate a playbook and inventory without connecting to any host.
    Check(TargetArgs),
    /// Show an inventory: its hosts, groups, or one host's variables.
    Inventory(InventoryArgs),
    /// A disposable fleet of real OpenSSH servers on loopback, for the demo and for tests.
    Lab {
        #[command(subcommand)]
        action: LabAction,
    },
}

#[derive(Args, Debug)]
struct TargetArgs {
    /// The playbook file.
    playbook: PathBuf,
    /// Inventory file (Ansible YAML or INI).
    #[arg(short = 'i', long = "inventory")]
    inventory: PathBuf,
    /// Further limit the hosts with a pattern (`node1:node2`, `web:!db`).
    #[arg(short = 'l', long)]
    limit: Option<String>,
    /// Extra variables: `key=value`, JSON/YAML, or `@file.yml`; repeatable; highest precedence.
    #[arg(short = 'e', long = "extra-vars")]
    extra_vars: Vec<String>,
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
    /// How many hosts work on a task at once.
    #[arg(short = 'f', long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..))]
    forks: u16,
    /// Output format: Ansible-like lines, or one JSON event per line.
    #[arg(long, value_enum, default_value_t = OutputArg::Human)]
    output: OutputArg,
    #[command(flatten)]
    ssh: SshArgs,
    /// Answer yes to confirmation prompts (the canary batch), for unattended runs.
    #[arg(short = 'y', long)]
    yes: bool,
}

#[derive(Args, Debug)]
struct SshArgs {
    /// known_hosts file to verify host keys against [default: ~/.ssh/known_hosts].
    #[arg(long)]
    known_hosts: Option<PathBuf>,
    /// Unknown host keys: refuse (`strict`, OpenSSH's `yes`) or trust and record them
    /// (`accept-new`). A changed key is always refused.
    #[arg(long, value_enum, default_value_t = HostKeyArg::Strict)]
    host_key_checking: HostKeyArg,
    /// Seconds to wait for a host to answer before calling it unreachable.
    #[arg(long, default_value_t = 10)]
    connect_timeout: u64,
}

#[derive(Args, Debug)]
struct PlanArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    format: PlanFormat,
}

#[derive(Args, Debug)]
struct InventoryArgs {
    #[arg(short = 'i', long = "inventory")]
    inventory: PathBuf,
    /// Every host and group as JSON, in `ansible-inventory --list` shape.
    #[arg(long, conflicts_with_all = ["graph", "host"])]
    list: bool,
    /// The group tree.
    #[arg(long, conflicts_with = "host")]
    graph: bool,
    /// One host's variables as JSON.
    #[arg(long)]
    host: Option<String>,
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
enum OutputArg {
    Human,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum HostKeyArg {
    Strict,
    AcceptNew,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum PlanFormat {
    Text,
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
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Playbook(_) | CliError::Inventory(_) | CliError::Plan(_) => EXIT_PARSE,
            CliError::ExtraVars(_) | CliError::NoSuchHost(_) => EXIT_BAD_OPTIONS,
            CliError::Lab(_) | CliError::Runtime(_) => EXIT_ERROR,
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
    let _ = std::io::stderr().write_all(text.as_bytes());
}

pub fn execute(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Plan(args) => plan_cmd(args),
        Command::Check(args) => check(args),
        Command::Inventory(args) => inventory_cmd(args),
        Command::Lab { action } => lab_cmd(action),
    }
}

type Loaded = (Inventory, Playbook, plan::Plan, Vars);

/// Options first (bad ones exit 5 before any file is read), then inventory, playbook, plan.
fn load(target: &TargetArgs) -> Result<Loaded, CliError> {
    let extra_vars = parse_extra_vars(&target.extra_vars)?;
    let inventory = Inventory::load(&target.inventory)?;
    let playbook = playbook::load(&target.playbook)?;
    let plan = plan::plan(
        &playbook,
        &inventory,
        target.limit.as_deref(),
        &extra_vars,
        &Templates::new(),
    )?;
    Ok((inventory, playbook, plan, extra_vars))
}

fn run(args: RunArgs) -> Result<u8, CliError> {
    let (inventory, playbook, plan, extra_vars) = load(&args.target)?;
    let config = RunConfig {
        forks: usize::from(args.forks),
        check: args.check,
        diff: args.diff,
        extra_vars,
        transport: transport_config(&args.ssh),
        confirm: (!args.yes).then(|| Arc::new(ask_tty) as engine::Confirm),
    };
    let format = match args.output {
        OutputArg::Human => Format::Human,
        OutputArg::Json => Format::Json,
    };
    execute_plan(playbook, inventory, plan, config, format)
}

/// Runs a plan with a reporter on stdout and Ctrl-C handling; returns the exit code.
fn execute_plan(
    playbook: Playbook,
    inventory: Inventory,
    plan: plan::Plan,
    config: RunConfig,
    format: Format,
) -> Result<u8, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let code = runtime.block_on(async move {
        let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
        let (interrupt_tx, interrupts) = tokio::sync::watch::channel(0u32);
        let mut reporter = report::stdout(format);
        let printer = tokio::spawn(async move {
            while let Some(event) = events_rx.recv().await {
                reporter.event(&event);
            }
        });
        // First Ctrl-C: finish the current task everywhere and start nothing new.
        // Second: abort now.
        tokio::spawn(async move {
            let mut presses = 0u32;
            while tokio::signal::ctrl_c().await.is_ok() {
                presses += 1;
                if presses >= 2 {
                    let _ = std::io::stdout().flush();
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
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
    Ok(u8::try_from(code).unwrap_or(EXIT_ERROR))
}

fn transport_config(ssh: &SshArgs) -> TransportConfig {
    let known_hosts = ssh.known_hosts.clone().unwrap_or_else(|| {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"))
            .join(".ssh/known_hosts")
    });
    let mut config = TransportConfig::new(known_hosts);
    config.host_key_policy = match ssh.host_key_checking {
        HostKeyArg::Strict => HostKeyPolicy::Strict,
        HostKeyArg::AcceptNew => HostKeyPolicy::AcceptNew,
    };
    config.connect_timeout = Duration::from_secs(ssh.connect_timeout.max(1));
    config.passphrase = Some(Arc::new(|path: &Path| {
        rpassword::prompt_password(format!("Enter passphrase for key '{}': ", path.display())).ok()
    }));
    config
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
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::ExtraVars(format!("cannot read {path}: {e}")))?;
            Some(parse_mapping(&text, path)?)
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
                    let Some((k, v)) = word.split_once('=') else {
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
    let (_inventory, playbook, plan, _extra_vars) = load(&args.target)?;
    let out = match args.format {
        PlanFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&plan).unwrap_or_default()
        ),
        PlanFormat::Text => report::plan::text(&playbook, &plan),
    };
    print!("{out}");
    Ok(0)
}

fn check(args: TargetArgs) -> Result<u8, CliError> {
    let (_inventory, playbook, plan, _extra_vars) = load(&args)?;
    let hosts: usize = plan.plays.iter().map(|p| p.hosts.len()).sum();
    println!(
        "{}: {} play(s), {} task(s), {} host slot(s): OK",
        args.playbook.display(),
        playbook.plays.len(),
        playbook.plays.iter().map(|p| p.tasks.len()).sum::<usize>(),
        hosts
    );
    Ok(0)
}

fn inventory_cmd(args: InventoryArgs) -> Result<u8, CliError> {
    let inventory = Inventory::load(&args.inventory)?;
    if let Some(name) = &args.host {
        let host = inventory
            .hosts
            .get(name)
            .ok_or_else(|| CliError::NoSuchHost(name.clone()))?;
        println!(
            "{}",
            serde_json::to_string_pretty(&host.vars).unwrap_or_default()
        );
        return Ok(0);
    }
    if args.graph {
        print!("{}", graph(&inventory));
        return Ok(0);
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&inventory.to_ansible_list_json()).unwrap_or_default()
    );
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
        } => {
            let mut config = lab_config(&lab, nodes);
            config.per_sshd = per_sshd;
            config.heavy_shell = heavy_shell;
            config.first_address = first_address;
            let lab = lab::up(&config)?;
            print!("{}", describe_lab(&lab));
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
    for node in &lab.nodes {
        out.push_str(&format!(
            "  {:<8} {}:{}  data {}\n",
            node.name,
            node.address,
            node.port,
            node.root.display()
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
    let ssh = SshArgs {
        known_hosts: Some(lab.known_hosts.clone()),
        host_key_checking: HostKeyArg::Strict,
        connect_timeout: 10,
    };
    let config = RunConfig {
        forks: 50,
        check: false,
        diff: false,
        extra_vars: Vars::new(),
        transport: transport_config(&ssh),
        confirm: None,
    };
    let format = match output {
        OutputArg::Human => Format::Human,
        OutputArg::Json => Format::Json,
    };
    execute_plan(playbook, inventory, plan, config, format)
}
