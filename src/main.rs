use std::process::ExitCode;

/// mimalloc rather than glibc's malloc: reviews build and drop many small JSON values, and
/// glibc's allocator spent about a third of the CPU time of both the webhook and `validate`
/// (see BENCHMARKS.md). Built without transparent huge pages (`no_thp`): where the kernel
/// backs every anonymous mapping with huge pages, mimalloc's eagerly committed arenas made
/// `serve` resident at 30 MiB idle instead of 20 MiB, and 60 MiB instead of 36 MiB with the
/// cluster watches' first lists, for no measurable speed (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    stsguard::cli::main()
}
