//! The control protocol in process: requests as JSON lines into a [`Controller`] whose
//! cards answer APDUs through their slots (the transport-free half of `serve`'s control
//! socket; `control_pcsc.rs` crosses the real stack).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mynasim_harness::control::events::Next;
use mynasim_harness::control::protocol::{Event, Request, Snapshot, StatusReply};
use mynasim_harness::control::server::{parse_request, reply, Controller};
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;
use mynasim_harness::slot::Answer;

const SELECT_JPKI: &[u8] = &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
const SELECT_AUTH_PIN: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18];
const VERIFY_1234: &[u8] = &[0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34];

fn controller(cards: usize) -> Controller {
    let cards = (0..cards).map(|_| (load_card(None, &mut DirKeyCache::default_location()).unwrap(), None)).collect();
    Controller::new(cards)
}

/// One request line in, its reply as JSON out.
fn call(controller: &Controller, line: &str) -> serde_json::Value {
    let reply = match parse_request(line) {
        Ok((id, request)) => reply(id, controller.handle(request)),
        Err(refusal) => refusal,
    };
    serde_json::to_value(reply).unwrap()
}

fn send(controller: &Controller, card: usize, apdu: &[u8]) -> Vec<u8> {
    match controller.slots()[card].transmit(apdu) {
        Answer::Response(r) => r,
        Answer::NoCard => panic!("no card"),
    }
}

fn error(reply: &serde_json::Value) -> &str {
    assert_eq!(reply["ok"], false, "{reply}");
    reply["error"].as_str().unwrap()
}

#[test]
fn a_locked_pin_is_refused_and_an_office_reset_sets_a_new_one() {
    let c = controller(1);
    send(&c, 0, SELECT_JPKI);
    send(&c, 0, SELECT_AUTH_PIN);
    let done = call(&c, r#"{"id":7,"op":"lock","pin":"auth"}"#);
    assert_eq!(done, serde_json::json!({"id":7,"ok":true,"result":{"card":"default","done":"auth PIN locked (0 of 3 tries left)"}}));
    assert_eq!(send(&c, 0, VERIFY_1234), [0x69, 0x84]);
    let done = call(&c, r#"{"op":"office_reset","pin":"auth","new_pin":"5678"}"#);
    assert_eq!(done["result"]["done"], "auth PIN reset (3 of 3 tries left, new value)");
    assert_eq!(send(&c, 0, VERIFY_1234), [0x63, 0xC2]);
    assert_eq!(send(&c, 0, &[0x00, 0x20, 0x00, 0x80, 0x04, b'5', b'6', b'7', b'8']), [0x90, 0x00]);
    call(&c, r#"{"op":"pin","pin":"sign","remaining":1}"#);
    let status: StatusReply = serde_json::from_value(call(&c, r#"{"op":"status"}"#)["result"].clone()).unwrap();
    let card = &status.cards[0];
    let sign = card.state.pins.iter().find(|p| p.pin.as_str() == "sign").unwrap();
    assert_eq!((sign.remaining, sign.max_tries, sign.blocked), (1, 5, false));
    let auth = card.state.pins.iter().find(|p| p.pin.as_str() == "auth").unwrap();
    assert!(auth.verified);
    assert_eq!((card.state.applet.as_deref(), card.state.ef.as_deref()), (Some("jpki"), Some("0018")));
    assert_eq!(card.certificates.len(), 4);
    assert!(card.certificates.iter().all(|c| c.valid_now), "{:?}", card.certificates);
}

#[test]
fn bad_requests_say_what_to_write() {
    let c = controller(2);
    assert!(error(&call(&c, "lock auth")).contains("not a JSON object"));
    assert!(error(&call(&c, r#"{"op":"explode"}"#)).contains("unknown variant `explode`"));
    assert!(error(&call(&c, r#"{"op":"lock","pin":"pin","card":"0"}"#)).contains("expected one of `auth`, `sign`"));
    assert!(error(&call(&c, r#"{"op":"lock","pin":"auth","colour":"red"}"#)).contains("unknown field `colour`"));
    assert!(error(&call(&c, r#"{"v":2,"op":"status"}"#)).contains("speaks version 1"));
    assert_eq!(error(&call(&c, r#"{"op":"remove"}"#)), "this server has 2 cards (default-0, default-1); name one with `card`");
    assert!(error(&call(&c, r#"{"op":"remove","card":"alice"}"#)).contains("no card \"alice\" here"));
    assert!(error(&call(&c, r#"{"op":"pin","card":"1","pin":"auth","value":"12a4"}"#)).contains("not a valid value for the auth PIN"));
    assert!(error(&call(&c, r#"{"op":"pin","card":"1","pin":"auth","remaining":9}"#)).contains("at most 3 tries, not 9"));
    assert!(error(&call(&c, r#"{"op":"fault","card":"1","fault":{"latency":"5ms","tear":true}}"#)).contains("one of"));
    assert!(error(&call(&c, r#"{"op":"fault","card":"1","fault":{"latency":"soon"}}"#)).contains("is not a duration"));
    // Nothing was changed by the refused requests.
    let status: StatusReply = serde_json::from_value(call(&c, r#"{"op":"status"}"#)["result"].clone()).unwrap();
    assert!(status.cards.iter().all(|c| c.state.inserted && c.state.pins.iter().all(|p| p.remaining == p.max_tries)));
}

#[test]
fn faults_act_on_the_next_matching_command() {
    let c = controller(1);
    send(&c, 0, SELECT_JPKI);
    let done = call(&c, r#"{"op":"fault","fault":{"sw":"6F00","match":"00 B0"}}"#);
    assert_eq!(done["result"]["done"], "fault added: answer 6F00 without executing on commands 00 B0 (1 more)");
    assert_eq!(send(&c, 0, SELECT_AUTH_PIN), [0x90, 0x00], "a SELECT does not match");
    assert_eq!(send(&c, 0, &[0x00, 0xB0, 0x00, 0x00, 0x01]), [0x6F, 0x00]);
    assert_ne!(send(&c, 0, &[0x00, 0xB0, 0x00, 0x00, 0x01]), [0x6F, 0x00], "only once");
    call(&c, r#"{"op":"fault","fault":{"tear":true,"match":"20"}}"#);
    assert_eq!(c.slots()[0].transmit(VERIFY_1234), Answer::NoCard);
    let status: StatusReply = serde_json::from_value(call(&c, r#"{"op":"status"}"#)["result"].clone()).unwrap();
    assert!(!status.cards[0].state.inserted, "torn out");
    assert_eq!(status.cards[0].state.pins[0].remaining, 3, "a correct PIN was verified before the tear");
    // A timing profile adds one fault per INS, and the reply names each.
    call(&c, r#"{"op":"insert"}"#);
    let done = call(&c, r#"{"op":"fault","fault":{"latency":"contactless"}}"#);
    let done = done["result"]["done"].as_str().unwrap();
    assert!(done.starts_with("fault added: latency 6ms on every command"), "{done}");
    assert_eq!(done.matches("; latency ").count(), 4, "{done}");
    assert!(done.contains("latency 300ms on INS 2A"), "{done}");
}

#[test]
fn a_snapshot_restores_pins_and_presence() {
    let c = controller(1);
    let saved: Snapshot = serde_json::from_value(call(&c, r#"{"op":"snapshot"}"#)["result"].clone()).unwrap();
    call(&c, r#"{"op":"lock","pin":"sign"}"#);
    call(&c, r#"{"op":"remove"}"#);
    let line = serde_json::to_string(&serde_json::json!({"op":"restore","snapshot":saved})).unwrap();
    assert_eq!(call(&c, &line)["ok"], true);
    let status: StatusReply = serde_json::from_value(call(&c, r#"{"op":"status"}"#)["result"].clone()).unwrap();
    assert!(status.cards[0].state.inserted);
    assert!(status.cards[0].state.pins.iter().all(|p| !p.blocked));
    // Another card's snapshot is refused.
    let mut other = saved.clone();
    other.cards[0].state.card_id = "someone-else".into();
    let line = serde_json::to_string(&Request::Restore { snapshot: other }).unwrap();
    assert!(error(&call(&c, &line)).contains("is card someone-else"));
}

#[test]
fn watchers_see_each_apdu_named_with_pins_masked_and_state_changes() {
    let c = controller(1);
    send(&c, 0, SELECT_JPKI);
    let watch = c.events().watch();
    send(&c, 0, SELECT_AUTH_PIN);
    send(&c, 0, &[0x00, 0x20, 0x00, 0x80, 0x04, b'9', b'9', b'9', b'9']);
    call(&c, r#"{"op":"remove"}"#);
    let mut events = Vec::new();
    while let Next::Line(line) = watch.next(Duration::from_millis(50)) {
        events.push(serde_json::from_str::<Event>(&line).unwrap());
    }
    let apdus: Vec<(&str, &str, Option<&str>)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Apdu { command, name, meaning, .. } => Some((command.as_str(), name.as_str(), meaning.as_deref())),
            _ => None,
        })
        .collect();
    assert_eq!(apdus.len(), 2, "{events:#?}");
    assert_eq!(apdus[0].1, "SELECT EF 0018 (auth PIN)");
    assert_eq!(apdus[1].0, "0020008004********");
    assert!(apdus[1].1.starts_with("VERIFY 0018 (auth PIN)"), "{}", apdus[1].1);
    assert_eq!(apdus[1].2, Some("63 C2 wrong PIN or tries query, 2 tries left"));
    let last_pins = events.iter().rev().find_map(|e| match e {
        Event::State { state, .. } if state.inserted => Some(state.pins[0].remaining),
        _ => None,
    });
    assert_eq!(last_pins, Some(2), "a state event after the wrong PIN");
    assert!(events.iter().any(|e| matches!(e, Event::Removed { .. })));
    assert!(events.iter().any(|e| matches!(e, Event::Control { done, .. } if done == "removed")));
    assert!(events.iter().any(|e| matches!(e, Event::State { state, .. } if !state.inserted)));
    // Each state has a higher `seq` than the one before, and `status` carries the newest.
    let seqs: Vec<u64> = events.iter().filter_map(|e| if let Event::State { state, .. } = e { Some(state.seq) } else { None }).collect();
    assert!(seqs.len() >= 3 && seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let status: StatusReply = serde_json::from_value(call(&c, r#"{"op":"status"}"#)["result"].clone()).unwrap();
    assert_eq!(Some(status.cards[0].state.seq), seqs.last().copied());
    call(&c, r#"{"op":"insert"}"#);
    let status: StatusReply = serde_json::from_value(call(&c, r#"{"op":"status"}"#)["result"].clone()).unwrap();
    assert_eq!(status.cards[0].state.seq, seqs.last().unwrap() + 1, "one change: the insert");
}

#[test]
fn a_swap_puts_another_card_in_the_slot() {
    let c = controller(1);
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("bob.yaml");
    std::fs::write(&profile, "holder:\n  name: \"番号　次郎\"\n").unwrap();
    let line = serde_json::to_string(&Request::Swap { card: None, profile: profile.display().to_string() }).unwrap();
    let done = call(&c, &line);
    assert_eq!(done["result"]["done"], format!("swapped in {} (番号　次郎)", profile.display()), "{done}");
    let status: StatusReply = serde_json::from_value(call(&c, r#"{"op":"status"}"#)["result"].clone()).unwrap();
    assert_eq!(status.cards[0].holder, "番号　次郎");
    assert!(status.cards[0].state.inserted);
    let missing = call(&c, r#"{"op":"swap","profile":"/nonexistent/carol.yaml"}"#);
    assert!(error(&missing).starts_with("cannot load /nonexistent/carol.yaml"), "{missing}");
}

#[test]
fn unlock_reset_and_power_cycle_act_on_the_card() {
    let c = controller(1);
    call(&c, r#"{"op":"lock","pin":"auth"}"#);
    let done = call(&c, r#"{"op":"unlock","pin":"auth"}"#);
    assert_eq!(done["result"]["done"], "auth PIN unlocked (3 of 3 tries left)", "{done}");
    let session = |c: &Controller| {
        let status: StatusReply = serde_json::from_value(call(c, r#"{"op":"status"}"#)["result"].clone()).unwrap();
        (status.cards[0].state.applet.clone(), status.cards[0].state.pins[0].verified)
    };
    for op in ["power_cycle", "reset"] {
        send(&c, 0, SELECT_JPKI);
        send(&c, 0, SELECT_AUTH_PIN);
        assert_eq!(send(&c, 0, VERIFY_1234), [0x90, 0x00], "unlocked, the value unchanged");
        assert_eq!(session(&c), (Some("jpki".to_owned()), true));
        // The default card's contact interface clears the session on a warm reset too.
        assert_eq!(call(&c, &format!(r#"{{"op":"{op}"}}"#))["ok"], true, "{op}");
        assert_eq!(session(&c), (None, false), "after {op}");
    }
}
