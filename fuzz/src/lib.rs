//! Support for stsguard's fuzz targets: the invariants (shared with
//! `tests/fuzz_regressions.rs`) and the StatefulSet shapes of the `patch` target.

#[path = "../../tests/fuzz_invariants/mod.rs"]
pub mod invariants;
pub mod shape;
