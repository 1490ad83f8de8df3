//! `stsguard explain`. (Placeholder: being written.)

use clap::Args;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// A rule id; without one, every rule is listed.
    pub rule: Option<String>,
}

/// Runs `stsguard explain`.
pub fn run(_args: &ExplainArgs) -> u8 {
    super::EXIT_USAGE
}
