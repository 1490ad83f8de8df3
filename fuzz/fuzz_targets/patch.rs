//! StatefulSet-shaped objects (see `shape`) through the engine's defaults, CREATE and
//! UPDATE. `cargo fuzz fmt patch <file>` prints an input as the JSON that
//! `tests/data/fuzz/patch/` keeps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsguard_fuzz::{invariants, shape};

fuzz_target!(|input: shape::Input| {
    let (object, old) = input.objects();
    if let Err(violation) = invariants::check_object(&object, old.as_ref()) {
        panic!("{violation}");
    }
});
