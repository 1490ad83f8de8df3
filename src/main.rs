use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: reviews build and drop many small JSON values, and
/// glibc's allocator spent about a third of the CPU time of both the webhook and `validate`
/// (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    stsguard::cli::main()
}
