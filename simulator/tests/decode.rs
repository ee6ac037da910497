//! The decoder named at a card's own selection ([`Decoder::at`]): exact after commands the
//! decoder never saw and after power events.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::applets::AppletId;
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

#[test]
fn a_partial_name_is_named_as_the_card_selects_it() {
    let mut card = card();
    // The card's applications are `AppletId::ALL`, in that order, so the decoder's table
    // matches a partial name as the card does.
    let ids: Vec<AppletId> = card.applets().iter().map(|a| a.id).collect();
    assert_eq!(ids, AppletId::ALL);
    assert!(card.applets().iter().all(|a| a.aid == a.id.aid()));
    // `D3 92 10 00 31 00 01 01` begins the text, surface, common and juki AIDs: the first
    // in the card's order whose AID begins with it (the text AP) is selected and named.
    let select = "00A4040C08D392100031000101";
    assert_eq!(Decoder::at(&card).command(&hex(select)), "SELECT 券面事項入力補助AP");
    expect(&mut card, select, Sw::SUCCESS);
    assert_eq!(card.session().applet.and_then(|i| card.applets().get(i)).map(|a| a.id), Some(AppletId::Text));
}
