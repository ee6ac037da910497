//! Card profiles: `Profile::from_yaml` then `resolve` on arbitrary UTF-8 (no panic; errors
//! are fine), and a resolved profile survives `overlay` onto the default.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mynasim_simulator::profile::Profile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(profile) = Profile::from_yaml(text, "fuzz.yaml") else { return };
    let _ = profile.resolve(mynasim_fuzz::TODAY, "fuzz.yaml");
    let _ = profile.resolve(time::macros::date!(2099 - 12 - 31), "fuzz.yaml");
    let _ = profile.resolve(time::macros::date!(1990 - 01 - 01), "fuzz.yaml");
    let _ = Profile::default().overlay(profile).resolve(mynasim_fuzz::TODAY, "fuzz.yaml");
});
