use std::process::ExitCode;

fn main() -> ExitCode {
    stsguard::cli::main()
}
