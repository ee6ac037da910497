//! The decoder named at a card's own selection ([`Decoder::at`]): exact after commands the
//! decoder never saw and after power events.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::decode::Decoder;
use mynasim_simulator::power::PowerEvent;
use mynasim_simulator::Sw;

#[test]
fn names_follow_the_cards_own_selection() {
    let mut card = card();
    // Commands sent by someone else (a client program): the decoder never saw them.
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0018);
    assert_eq!(Decoder::at(&card).command(&hex("00200080")), "VERIFY 0018 (auth PIN): tries left?");
    assert_eq!(Decoder::at(&card).command(&hex("00B0000004")), "READ BINARY 0018 (auth PIN) offset 0 len 4");
    // Another AP's objects under their own names.
    expect(&mut card, SELECT_SURFACE, Sw::SUCCESS);
    select_ef(&mut card, 0x0002);
    assert_eq!(Decoder::at(&card).command(&hex("00B0000010")), "READ BINARY 0002 (card face) offset 0 len 16");
    // After a power cycle: the MF level, nothing current.
    card.power(PowerEvent::Off);
    card.power(PowerEvent::On);
    assert_eq!(Decoder::at(&card).command(&hex("00B0000004")), "READ BINARY the current EF (none selected) offset 0 len 4");
    expect(&mut card, "00A4020C02001E", Sw::SUCCESS);
    assert_eq!(Decoder::at(&card).command(&hex("00B0000004")), "READ BINARY 001E (internal EF) offset 0 len 4");
}
