//! Sequences of APDUs, power events and save/restart cycles into one card; the invariants
//! of `mynasim_fuzz::Run::check` after every APDU (see README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mynasim_fuzz::Run::new().run_input(data);
});
