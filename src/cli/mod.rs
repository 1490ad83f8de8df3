//! The offline CLI.
