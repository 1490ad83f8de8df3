//! Any text as a policy file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsguard_fuzz::invariants;

fuzz_target!(|bytes: &[u8]| {
    if let Err(violation) = invariants::check_policy(bytes) {
        panic!("{violation}");
    }
});
