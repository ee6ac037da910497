//! Control protocol requests (the lines `mynasim ctl` and the inspector send), one per line,
//! against a controller of two built-in cards; a line starting with `>` is an APDU in hex
//! sent to the first card instead, so requests meet a card in any state.
//! Invariants: no panic; every reply serializes; at the end, `status` survives a round
//! trip through JSON into the protocol's own `StatusReply`. Swaps (which wait a
//! second with the card out) and latency faults (which sleep in the APDU path) are
//! skipped to keep runs fast.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mynasim_harness::control::protocol::{Request, Snapshot, StatusReply};
use mynasim_harness::control::server::{parse_request, reply, Controller};
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;

/// A controller of two built-in cards, issued once per process, and its first snapshot.
fn controller() -> &'static (Controller, Snapshot) {
    static CONTROLLER: OnceLock<(Controller, Snapshot)> = OnceLock::new();
    CONTROLLER.get_or_init(|| {
        let cards = (0..2).map(|_| (load_card(None, &mut DirKeyCache::default_location()).expect("built-in card"), None)).collect();
        let controller = Controller::new(cards);
        let snapshot = controller.snapshot();
        (controller, snapshot)
    })
}

/// Back to the cards as issued, through the protocol's own operations: the snapshot (PINs,
/// presence), no faults, and a power cycle (selection, verified PINs, secure messaging).
fn reset(controller: &Controller, snapshot: &Snapshot) {
    controller.restore(snapshot).expect("the first snapshot restores");
    for card in ["0", "1"] {
        for line in [r#"{"op":"fault","card":"CARD","fault":{"clear":true}}"#, r#"{"op":"power_cycle","card":"CARD"}"#] {
            let (_, request) = parse_request(&line.replace("CARD", card)).expect("a valid request");
            controller.handle(request).expect("the reset's requests succeed");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (controller, snapshot) = controller();
    reset(controller, snapshot);
    for line in text.lines().take(64) {
        if let Some(hex) = line.strip_prefix('>') {
            if let Some(apdu) = mynasim_simulator::apdu::parse_hex(hex) {
                let _ = controller.slots()[0].transmit(&apdu);
            }
            continue;
        }
        let answer = match parse_request(line) {
            Ok((_, Request::Swap { .. })) => continue,
            Ok((_, Request::Fault { fault, .. })) if fault.latency.is_some() => continue,
            Ok((id, request)) => reply(id, controller.handle(request)),
            Err(refusal) => refusal,
        };
        serde_json::to_string(&answer).expect("a reply serializes");
    }
    let status = serde_json::to_string(&controller.status()).expect("status serializes");
    let back: StatusReply = serde_json::from_str(&status).expect("status reads back as a StatusReply");
    assert_eq!(back.cards.len(), 2);
});
