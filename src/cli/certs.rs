//! `stsguard certs`. (Placeholder: being written.)

use clap::Args;

#[derive(Debug, Args)]
pub struct CertsArgs {}

/// Runs `stsguard certs`.
pub fn run(_args: &CertsArgs) -> u8 {
    super::EXIT_USAGE
}
