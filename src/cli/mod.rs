//! The offline CLI: argument parsing and dispatch. Each command is a thin adapter that reads
//! input, calls the engine and prints what it said.

pub mod batches;
pub mod certs;
pub mod explain;
pub mod input;
pub mod mutate;
pub mod output;
pub mod plan;
pub mod print;
pub mod report;
pub mod serve;
pub mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine::Policy;
use crate::engine::policy::{PolicyBytesError, PolicyError};

/// Exit code: nothing at or above `--fail-on`.
pub const EXIT_OK: u8 = 0;
/// Exit code: findings at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: usage errors, unreadable paths, invalid policy.
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "stsguard",
    version,
    about = "Admission webhook and offline validator for Kubernetes StatefulSets",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check StatefulSets in YAML or JSON files, directories or stdin.
    Validate(validate::ValidateArgs),
    /// Print the objects with the policy's defaults applied (what the mutating webhook does).
    Mutate(mutate::MutateArgs),
    /// Show what the controller will create: pod names, DNS names, PVCs and orders.
    Plan(plan::PlanArgs),
    /// Explain a rule: what it checks, why, how to fix it; without a rule, list them all.
    Explain(explain::ExplainArgs),
    /// Generate a CA and serving certificate, and render the webhook configurations.
    Certs(certs::CertsArgs),
    // Boxed: the serve flags outweigh every other command's (clippy::large_enum_variant).
    /// Run the admission webhook server (HTTPS), with health and metrics on a plain port.
    Serve(Box<crate::server::ServeArgs>),
    /// Policy file helpers.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the JSON Schema of policy files.
    Schema,
    /// Check a policy file and report every problem.
    Check {
        /// The policy file.
        file: PathBuf,
    },
}

/// Options shared by the commands that review objects.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// Policy file (default: the built-in policies/default.yaml).
    #[arg(long, value_name = "FILE", env = "STSGUARD_POLICY")]
    pub policy: Option<PathBuf>,
    /// Namespace for documents that name none.
    #[arg(long, value_name = "NS", default_value = "default")]
    pub namespace: String,
}

impl PolicyArgs {
    /// Loads `--policy`, or the built-in default.
    pub fn load(&self) -> Result<Policy, LoadPolicyError> {
        match &self.policy {
            None => Ok(Policy::builtin_default()?),
            Some(path) => load_policy(path),
        }
    }
}

/// Why `--policy` (or the built-in policy) could not be loaded. Each message names every
/// problem; none has a `source()`, so its text says it once however it is printed.
#[derive(Debug, thiserror::Error)]
pub enum LoadPolicyError {
    #[error("cannot read policy {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] PolicyBytesError),
    #[error(transparent)]
    Builtin(#[from] PolicyError),
}

fn load_policy(path: &std::path::Path) -> Result<Policy, LoadPolicyError> {
    // Read as text, so a file that is not UTF-8 is "cannot read policy …" here, as it always
    // was for the CLI (serve words it "not UTF-8 text").
    let text = std::fs::read_to_string(path).map_err(|error| LoadPolicyError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(Policy::from_bytes(
        text.as_bytes(),
        &path.display().to_string(),
    )?)
}

/// How serious a finding must be to fail the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Mutate(args) => mutate::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Certs(args) => certs::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Policy { command } => run_policy(command),
    };
    ExitCode::from(code)
}

fn run_policy(command: PolicyCommand) -> u8 {
    // Two unrelated errors, only ever printed: anyhow. Neither has a `source()`, so `{:#}`
    // prints exactly their text.
    let done: anyhow::Result<()> = match command {
        PolicyCommand::Schema => serde_json::to_string_pretty(crate::engine::policy::schema())
            .map(|text| println!("{text}"))
            .map_err(anyhow::Error::from),
        PolicyCommand::Check { file } => load_policy(&file)
            .map(|_| println!("{}: valid policy", file.display()))
            .map_err(anyhow::Error::from),
    };
    match done {
        Ok(()) => EXIT_OK,
        Err(error) => print::failure(&format_args!("{error:#}")),
    }
}
