//! Any sequence of APDUs, well-formed or not: the card answers every one with a status word,
//! never panics, never returns data with an error, and is still usable afterwards.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::Sw;
use proptest::prelude::*;

/// APDUs biased towards what the card understands, so that deep states are reached.
fn apdu() -> impl Strategy<Value = Vec<u8>> {
    let aid = prop_oneof![
        Just(hex("D392F000260100000001")),
        Just(hex("D3921000310001010408")),
        Just(hex("D3921000310001010402")),
        Just(hex("D3921000310001010100")),
        Just(hex("D3921000310001010401")),
        proptest::collection::vec(any::<u8>(), 0..17),
    ];
    let select_app = aid.prop_map(|aid| {
        let mut a = vec![0x00, 0xA4, 0x04, 0x0C, aid.len() as u8];
        a.extend(aid);
        a
    });
    let select_ef = (0u16..0x20).prop_map(|fid| vec![0x00, 0xA4, 0x02, 0x0C, 0x02, (fid >> 8) as u8, fid as u8]);
    let verify =
        proptest::collection::vec(prop_oneof![Just(b'1'), Just(b'2'), Just(b'3'), Just(b'4'), any::<u8>()], 0..20).prop_map(|pin| {
            let mut a = vec![0x00, 0x20, 0x00, 0x80];
            if !pin.is_empty() {
                a.push(pin.len() as u8);
                a.extend(pin);
            }
            a
        });
    let header = (
        prop_oneof![Just(0x00u8), Just(0x80), Just(0x08), Just(0x0C), any::<u8>()],
        prop_oneof![
            Just(0xB0u8),
            Just(0xB2),
            Just(0x2A),
            Just(0x24),
            Just(0x32),
            Just(0x84),
            Just(0x88),
            Just(0xAE),
            Just(0xCA),
            any::<u8>()
        ],
        any::<u8>(),
        any::<u8>(),
    );
    let generic = (header, proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|((cla, ins, p1, p2), body)| {
        let mut a = vec![cla, ins, p1, p2];
        a.extend(body);
        a
    });
    prop_oneof![select_app, select_ef, verify, generic.clone(), generic]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_apdu_sequence_is_answered(apdus in proptest::collection::vec(apdu(), 1..60)) {
        let mut card = card();
        for apdu in &apdus {
            let response = card.transmit(apdu);
            prop_assert!(response.len() >= 2);
            let sw = Sw::from_response(&response).unwrap();
            if response.len() > 2 {
                prop_assert!(sw == Sw::SUCCESS || sw == Sw::END_OF_FILE, "data with {sw}");
            }
            prop_assert!(sw.sw1() >= 0x61, "not a status word: {sw}");
        }
        // The card is still usable: after a reset the token information reads as always.
        card.reset();
        expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
        select_ef(&mut card, 0x0006);
        prop_assert_eq!(&expect(&mut card, "00B0000020", Sw::SUCCESS)[..15], b"JPKIAPICCTOKEN2");
    }
}
