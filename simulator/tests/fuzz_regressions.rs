//! Regression tests for findings of the fuzz targets in `fuzz/` (see fuzz/README.md). Each
//! replays a minimized input through the public API; a test marked `#[ignore = "fuzz
//! finding: ..."]` fails until the bug it names is fixed.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::pins::PinId;
use mynasim_simulator::state::PersistentState;

/// `card_sequence` / `state_file`: restoring the card's own persistent state, in memory,
/// is the identity (passes; the guard for the finding below).
#[test]
fn restore_of_persistent_state_is_the_identity() {
    let mut card = card();
    let state = card.persistent_state();
    card.restore(&state).unwrap();
    assert_eq!(card.persistent_state(), state);
}

/// `card_sequence` (event SaveRestore) on the default card, no APDU needed: the state
/// file the harness writes (`serde_saphyr::to_string`, as `load::save_state`) must read
/// back (`serde_saphyr::from_str`, as `load::load_profile`) to the same state. It does
/// not: `PinRecord`'s value was serialized with `String::from_utf8_lossy`, and the text
/// AP's reserved key 0012 (`PinId::TextReserved`) is issued with a value of derived,
/// non-UTF-8 bytes, so every save + reload replaced it with U+FFFD characters. Fixed:
/// such values are written `hex:…`.
#[test]
fn state_file_round_trips_every_pin_value() {
    let card = card();
    let state = card.persistent_state();
    let text = serde_saphyr::to_string(&state).unwrap();
    let back: PersistentState = serde_saphyr::from_str(&text).unwrap();
    let reserved = |s: &PersistentState| s.pins.iter().find(|p| p.pin == PinId::TextReserved).map(|p| p.record.value.to_vec());
    assert_eq!(reserved(&back), reserved(&state), "text AP key 0012 changed by the state file:\n{text}");
    assert_eq!(back, state);
}
