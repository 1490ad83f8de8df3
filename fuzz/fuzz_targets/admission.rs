//! Any bytes as an AdmissionReview body: parse, both webhooks under both policies, encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsguard_fuzz::invariants;

fuzz_target!(|body: &[u8]| {
    if let Err(violation) = invariants::check_admission(body) {
        panic!("{violation}");
    }
});
