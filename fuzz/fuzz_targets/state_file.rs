//! State files: arbitrary text parsed as the harness parses a state file
//! (`serde_saphyr::from_str::<PersistentState>`) and restored into the card. A state is
//! refused with an error, or leaves every PIN within 0..=max_tries, answers the tries
//! query, and writes back (as `save_state` does) to text that parses to the same state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mynasim_simulator::state::PersistentState;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(state) = serde_saphyr::from_str::<PersistentState>(text) else { return };
    let mut card = mynasim_fuzz::Run::new().card;
    if card.restore(&state).is_err() {
        return;
    }
    mynasim_fuzz::check_restored(&mut card);
    let saved = card.persistent_state();
    let written = serde_saphyr::to_string(&saved).expect("a restored state serializes");
    let reread: PersistentState = serde_saphyr::from_str(&written)
        .unwrap_or_else(|e| panic!("the state file written for a restored state does not parse: {e}\n{written}"));
    mynasim_fuzz::assert_same_state(&reread, &saved, &written);
    // What the harness writes, the harness can load again.
    let mut again = mynasim_fuzz::Run::new().card;
    again.restore(&reread).unwrap_or_else(|e| panic!("a written state file is refused: {e}\n{written}"));
});
