//! Power events and the session (spec §3.11, §13.4): warm reset per interface and profile,
//! power off always clearing, the optional `6F 00` after power-up.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::card::Session;
use mynasim_simulator::pins::PinId;
use mynasim_simulator::power::{Interface, PowerEvent, WarmReset};
use mynasim_simulator::profile::Profile;
use mynasim_simulator::Sw;

/// SELECT JPKI, VERIFY the auth PIN, SELECT the auth key: a session worth keeping.
fn log_in(card: &mut mynasim_simulator::Card) -> Session {
    expect(card, SELECT_JPKI, Sw::SUCCESS);
    assert_eq!(verify(card, 0x0018, "1234"), Sw::SUCCESS);
    select_ef(card, 0x0017);
    let session = card.session();
    assert!(session.verified.contains(PinId::AuthPin));
    session
}

/// `80 2A` with the current key (the auth key after [`log_in`]).
const SIGN_WITH_CURRENT_KEY: &str =
    "802A0080333031300D060960864801650304020105000420000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F00";

fn interface_of(yaml: &str) -> Interface {
    Profile::from_yaml(yaml, "test.yaml").unwrap().resolve(TODAY, "test.yaml").unwrap().interface
}

#[test]
fn the_interface_follows_the_atr_unless_chosen() {
    assert_eq!(interface_of(""), Interface::Contact);
    assert_eq!(interface_of("atr: opensc\n"), Interface::Contact);
    assert_eq!(interface_of("atr: contactless\n"), Interface::Contactless);
    assert_eq!(interface_of("atr: 3B 88 80 01 00 00 41 E0 B3 81 A1 00 3B\n"), Interface::Contactless);
    assert_eq!(interface_of("atr: contactless\ninterface: contact\n"), Interface::Contact);
}

#[test]
fn a_warm_reset_clears_the_session_on_contacts_by_default() {
    let mut card = card();
    assert_eq!(card.power_behaviour().warm_reset, WarmReset::Clear);
    log_in(&mut card);
    card.power(PowerEvent::WarmReset);
    assert_eq!(card.session(), Session::default());
    // The key is no longer current, nor the PIN verified: signing needs both again.
    assert_ne!(send(&mut card, &hex(SIGN_WITH_CURRENT_KEY)).1, Sw::SUCCESS);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0017);
    expect(&mut card, SIGN_WITH_CURRENT_KEY, Sw::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn a_warm_reset_keeps_the_session_contactless_by_default() {
    let mut card = card_from("atr: contactless\n");
    assert_eq!(card.power_behaviour().warm_reset, WarmReset::Keep);
    let session = log_in(&mut card);
    card.power(PowerEvent::WarmReset);
    assert_eq!(card.session(), session);
    // Another process can sign without the PIN: the behaviour a client must not rely on away.
    assert_eq!(expect(&mut card, SIGN_WITH_CURRENT_KEY, Sw::SUCCESS).len(), 256);
}

#[test]
fn the_profile_chooses_the_warm_reset_for_either_interface() {
    let mut contact_keeps = card_from("reset:\n  warm: keep\n");
    let session = log_in(&mut contact_keeps);
    contact_keeps.power(PowerEvent::WarmReset);
    assert_eq!(contact_keeps.session(), session);

    let mut contactless_clears = card_from("atr: contactless\nreset:\n  warm: clear\n");
    log_in(&mut contactless_clears);
    contactless_clears.power(PowerEvent::WarmReset);
    assert_eq!(contactless_clears.session(), Session::default());
}

#[test]
fn power_off_always_clears_and_keeps_the_counters() {
    let mut card = card_from("atr: contactless\nreset:\n  warm: keep\n");
    log_in(&mut card);
    assert_eq!(verify(&mut card, 0x001B, "WRONG1"), Sw::retries_left(4));
    for event in [PowerEvent::Off, PowerEvent::On] {
        log_in(&mut card);
        card.power(event);
        assert_eq!(card.session(), Session::default(), "after {event:?}");
    }
    assert_eq!(card.pin(PinId::SignPassword).remaining, 4);
}

#[test]
fn six_f_zero_on_the_first_command_after_power_up_when_asked() {
    let mut card = card_from("reset:\n  first_command_after_power_up: 6F00\n");
    // Issued cards start powered: the first power-up is the reader's.
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    card.power(PowerEvent::Off);
    card.power(PowerEvent::On);
    // The refused SELECT is not executed: no AP is current, so the wrong PIN costs no try.
    expect(&mut card, SELECT_JPKI, Sw::NO_PRECISE_DIAGNOSIS);
    assert_ne!(send(&mut card, &hex("0020009804 30303030")).1, Sw::retries_left(2));
    assert_eq!(card.pin(PinId::AuthPin).remaining, 3);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    assert_eq!(verify(&mut card, 0x0018, "0000"), Sw::retries_left(2));

    // A cold reset is a power-up.
    card.reset();
    expect(&mut card, SELECT_JPKI, Sw::NO_PRECISE_DIAGNOSIS);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);

    // A warm reset is not a power-up.
    card.power(PowerEvent::WarmReset);
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
}

#[test]
fn no_six_f_zero_by_default() {
    let mut card = card();
    card.reset();
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    let mut answering = card_from("reset:\n  first_command_after_power_up: answer\n");
    answering.reset();
    expect(&mut answering, SELECT_JPKI, Sw::SUCCESS);
}

#[test]
fn bad_reset_settings_say_what_to_write() {
    let err = Profile::from_yaml("reset:\n  warm: sometimes\n", "bad.yaml").unwrap_err().to_string();
    assert!(err.contains("bad.yaml:2:") && err.contains("keep") && err.contains("clear"), "{err}");
    let err = Profile::from_yaml("reset:\n  first_command_after_power_up: 6F01\n", "bad.yaml").unwrap_err().to_string();
    assert!(err.contains("bad.yaml:2:") && err.contains("6F00") && err.contains("answer"), "{err}");
    let err = Profile::from_yaml("interface: nfc\n", "bad.yaml").unwrap_err().to_string();
    assert!(err.contains("bad.yaml:1:") && err.contains("contactless"), "{err}");
    let err = Profile::from_yaml("reset:\n  cold: keep\n", "bad.yaml").unwrap_err().to_string();
    assert!(err.contains("bad.yaml:2:") && err.contains("cold"), "{err}");
}
