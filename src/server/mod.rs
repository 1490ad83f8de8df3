//! The webhook server. (Placeholder: being written.)

use clap::Args;

#[derive(Debug, Args)]
pub struct ServeArgs {}

/// Runs `stsguard serve` until SIGTERM; returns the exit code.
pub fn run(_args: &ServeArgs) -> u8 {
    crate::cli::EXIT_USAGE
}
