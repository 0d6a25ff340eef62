//! drover: an agentless fleet-upgrade orchestrator over SSH.
//!
//! Stages, data flowing one way:
//! `inventory` -> `playbook` (load + validate, with spans) -> `plan` (hosts x plays, batches)
//! -> `engine` (execute over `transport`, emit events) -> `report` (render events).
//! `lab` runs a disposable fleet of real OpenSSH servers on loopback for the demo and the tests.
//! Nothing in this library parses command-line flags: `main.rs` resolves them into plain configs.

pub mod ansible_cfg;
pub mod check;
pub mod engine;
pub mod inventory;
pub mod jinja_ansible;
pub mod journal;
pub mod lab;
pub mod lookup;
pub mod modules;
pub mod plan;
pub mod playbook;
pub mod report;
pub mod sensitive;
pub mod suggest;
pub mod template;
pub mod transport;
pub mod upgrade_path;
pub mod vars_file;
pub mod vault;
pub mod window;
pub mod yaml;
