//! Any sequence of APDUs, well-formed or not: the card answers every one with a status word,
//! never panics, never returns data with an error, and is still usable afterwards.
//!
//! Then five security properties over sequences of events (APDUs biased to the card's real
//! commands, power events, save + restore as across a restart), each checked after every
//! event: retry counters rise only on a successful VERIFY; a blocked PIN never verifies;
//! protected EFs and PIN-guarded keys answer only with their PIN verified in this session;
//! save + restore keeps the PIN state; the SM session counter never repeats.

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

    #[test]
    fn any_apdu_sequence_is_answered_by_a_phone_token(iphone in any::<bool>(), apdus in proptest::collection::vec(apdu(), 1..60)) {
        let (yaml, label) = if iphone { ("kind: iphone-token\n", &b"JPKIAPIOSTOKEN "[..]) } else { ("kind: android-token\n", &b"JPKIAPGPSETOKEN"[..]) };
        let mut card = card_from(yaml);
        for apdu in &apdus {
            let response = card.transmit(apdu);
            prop_assert!(response.len() >= 2);
            let sw = Sw::from_response(&response).unwrap();
            if response.len() > 2 {
                prop_assert!(sw == Sw::SUCCESS || sw == Sw::END_OF_FILE, "data with {sw}");
            }
            prop_assert!(sw.sw1() >= 0x61, "not a status word: {sw}");
        }
        card.reset();
        expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
        select_ef(&mut card, 0x0006);
        prop_assert_eq!(&expect(&mut card, "00B0000020", Sw::SUCCESS)[..15], label);
        // EF 000A stays closed after a reset, whatever the sequence did.
        select_ef(&mut card, 0x000A);
        expect(&mut card, "00B0000004", Sw::SECURITY_STATUS_NOT_SATISFIED);
    }
}

// ---------------------------------------------------------------------------------------
// Security properties over event sequences: APDUs biased to the card's real commands,
// power events and save + restore (as across a restart), checked after every event.
//
// One card is issued per test; every case runs on `Card::duplicate` of it, so key
// generation happens once. Each test checks one property, so that a finding fails only
// the property it breaks. `run_events` replays a list of events and is what a minimal
// case of a finding calls as a regular test.

use mynasim_simulator::applets::{Applet, AppletId, KeyUse};
use mynasim_simulator::files::{self, Access, Content};
use mynasim_simulator::pins::{PinFormat, PinId, PinSet};
use mynasim_simulator::sm::SmState;
use mynasim_simulator::Card;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rand_core::SeedableRng;

/// The property a run checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Property {
    /// 1. No retry counter goes up, except that a VERIFY answered `90 00` puts its PIN's
    ///    counter back to the maximum.
    CountersRiseOnlyOnSuccessfulVerify,
    /// 2. A VERIFY of a PIN whose counter is 0 is never answered `90 00`.
    BlockedPinsNeverVerify,
    /// 3. Data of an EF whose read rule needs a PIN (and signatures of a key guarded by a
    ///    PIN) come out only while that PIN is verified in this session, in this
    ///    application; and a PIN is verified only after a VERIFY of it answered `90 00`.
    ProtectedDataNeedsItsPin,
    /// 4. persistent_state + restore into a fresh duplicate gives the same state and counters.
    SaveRestoreKeepsState,
    /// 5. Each SM command of a session uses the next counter value: the card's answers
    ///    decrypt under IV(N) for the N-th command, so no IV is ever used twice.
    ///    `SmSession`'s counter is private (only its `Debug` shows it), so it is observed
    ///    black-box: the host counts SM commands, protects with IV(N), and requires SM READ
    ///    BINARY answers to decrypt under IV(N) to the file's bytes, and well-formed SM
    ///    SELECT / VERIFY never to meet `69 88`. (`u32` wrap-around after 2^32 commands is
    ///    out of reach of a test.)
    SmCounterNeverRepeats,
}

/// A key (PIN) object reference: P2 = `80` (current EF) or `80|SFI`.
#[derive(Clone, Copy, Debug)]
enum Key {
    Current,
    Sfi(u8),
    /// The SFI of the object of `PinId::ALL[i]` (in whichever applet is current).
    Pin(usize),
}

impl Key {
    fn p2(self, card: &Card) -> u8 {
        match self {
            Key::Current => 0x80,
            Key::Sfi(sfi) => 0x80 | (sfi & 0x1F),
            Key::Pin(i) => home_of(card, PinId::ALL[i % PinId::ALL.len()]).map_or(0x80, |(_, fid)| 0x80 | (fid as u8 & 0x1F)),
        }
    }
}

/// The value of a VERIFY.
#[derive(Clone, Debug)]
enum PinValue {
    /// The addressed PIN's current value.
    Right,
    /// The value the default card was issued with (wrong after a CHANGE).
    Issued,
    /// The right value with its last character changed: same length and alphabet.
    Wrong,
    /// No data: the retries query.
    Empty,
    Bytes(Vec<u8>),
}

/// The new value of a CHANGE REFERENCE DATA / CHANGE KEY.
#[derive(Clone, Debug)]
enum NewValue {
    /// A value the addressed PIN's format accepts (one of a few).
    Valid(usize),
    Bytes(Vec<u8>),
}

/// The data of a SET SESSION KEY.
#[derive(Clone, Debug)]
enum SessionKey {
    /// One of the test's well-formed messages, encrypted under the text AP's key.
    Valid(usize),
    Bytes(Vec<u8>),
}

#[derive(Clone, Debug)]
enum Event {
    /// SELECT by DF name of an applet (index into `Card::applets`); past the end, the MF.
    SelectAp(usize),
    SelectEf(u16),
    Read {
        p1: u8,
        p2: u8,
        le: u8,
    },
    Verify {
        key: Key,
        value: PinValue,
    },
    Change {
        jicsap: bool,
        key: Key,
        value: NewValue,
    },
    Sign {
        p1: u8,
        p2: u8,
        data: Vec<u8>,
    },
    GetChallenge(u8),
    SetSessionKey(SessionKey),
    /// SELECT the text AP, VERIFY its PIN, SET SESSION KEY (each step checked).
    OpenSm(usize),
    /// SELECT the application of `PinId::ALL[i]`, then max + 1 wrong VERIFYs of it by SFI.
    Block(usize),
    /// SELECT the application of `PinId::ALL[i]`, then VERIFY it by SFI with `PinValue`.
    Login(usize, PinValue),
    SmSelect(u16),
    SmVerify {
        key: Key,
        value: PinValue,
    },
    SmRead {
        p1: u8,
        p2: u8,
        len: u16,
    },
    /// An SM-class command the card routes to secure messaging (CLA 08 + an ISO INS, or
    /// CLA 88 + a proprietary INS), with unprotected data.
    SmRaw {
        cla: u8,
        ins: u8,
        p1: u8,
        p2: u8,
        data: Vec<u8>,
    },
    /// Grammar-biased bytes; the SM bits of CLA are cleared (SM-class commands are SmRaw,
    /// so that the host knows the session counter).
    Raw(Vec<u8>),
    Reset,
    SaveRestore,
}

/// The FIDs of every applet, for biased SELECT EF.
fn real_fids(card: &Card) -> Vec<u16> {
    let mut fids: Vec<u16> = card.applets().iter().flat_map(|a| a.files.iter().map(|ef| ef.fid)).collect();
    fids.sort_unstable();
    fids.dedup();
    fids
}

fn key_ref(fids: &[u16]) -> impl Strategy<Value = Key> {
    let pin_sfis: Vec<u8> = fids.iter().filter(|f| **f <= 0x1E).map(|f| *f as u8).collect();
    prop_oneof![
        2 => Just(Key::Current),
        6 => (0..PinId::ALL.len()).prop_map(Key::Pin),
        2 => proptest::sample::select(pin_sfis).prop_map(Key::Sfi),
        1 => (0u8..0x20).prop_map(Key::Sfi),
    ]
}

fn pin_value() -> impl Strategy<Value = PinValue> {
    prop_oneof![
        4 => Just(PinValue::Right),
        1 => Just(PinValue::Issued),
        4 => Just(PinValue::Wrong),
        2 => Just(PinValue::Empty),
        1 => proptest::collection::vec(prop_oneof![Just(b'1'), Just(b'2'), Just(b'3'), Just(b'4'), any::<u8>()], 1..18).prop_map(PinValue::Bytes),
    ]
}

fn event(card: &Card, session_keys: usize) -> impl Strategy<Value = Event> {
    let fids = real_fids(card);
    let applets = card.applets().len();
    let fid = prop_oneof![6 => proptest::sample::select(fids.clone()), 1 => any::<u16>()];
    let sfis: Vec<u8> = fids.iter().filter(|f| (1..=0x1E).contains(*f)).map(|f| *f as u8).collect();
    let key_p2s: Vec<u8> = card
        .applets()
        .iter()
        .flat_map(|a| a.files.iter().filter(|ef| matches!(ef.content, Content::Key(_))).map(|ef| 0x80 | ef.fid as u8))
        .collect();
    let read = prop_oneof![
        (0u8..2, any::<u8>(), any::<u8>()).prop_map(|(p1, p2, le)| Event::Read { p1, p2, le }),
        (prop_oneof![3 => proptest::sample::select(sfis.clone()), 1 => 1u8..0x1F], prop_oneof![Just(0u8), 0u8..0x40], any::<u8>())
            .prop_map(|(sfi, p2, le)| Event::Read { p1: 0x80 | sfi, p2, le }),
    ];
    let sign = (
        prop_oneof![0u8..6, any::<u8>()],
        prop_oneof![1 => Just(0x00u8), 1 => Just(0x80), 5 => proptest::sample::select(key_p2s), 1 => 0x81u8..0x9F, 1 => any::<u8>()],
        prop_oneof![proptest::collection::vec(any::<u8>(), 32..=32), proptest::collection::vec(any::<u8>(), 0..80)],
    )
        .prop_map(|(p1, p2, data)| Event::Sign { p1, p2, data });
    let new_value = prop_oneof![3 => (0usize..3).prop_map(NewValue::Valid), 1 => proptest::collection::vec(any::<u8>(), 1..18).prop_map(NewValue::Bytes)];
    let session_key = prop_oneof![
        3 => (0..session_keys).prop_map(SessionKey::Valid),
        1 => prop_oneof![proptest::collection::vec(any::<u8>(), 256..=256), proptest::collection::vec(any::<u8>(), 0..300)]
            .prop_map(SessionKey::Bytes),
    ];
    let sm_raw = (
        prop_oneof![
            (Just(0x08u8), proptest::sample::select(vec![0xA4u8, 0xB0, 0xB2, 0x20, 0x24, 0x84, 0x88, 0xCA])),
            (Just(0x88u8), proptest::sample::select(vec![0x2Au8, 0x32, 0xAE])),
        ],
        prop_oneof![Just(0x00u8), Just(0x02), any::<u8>()],
        prop_oneof![Just(0x0Cu8), Just(0x80), any::<u8>()],
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|((cla, ins), p1, p2, data)| Event::SmRaw { cla, ins, p1, p2, data });
    prop_oneof![
        6 => (0..=applets).prop_map(Event::SelectAp),
        6 => fid.clone().prop_map(Event::SelectEf),
        6 => read,
        8 => (key_ref(&fids), pin_value()).prop_map(|(key, value)| Event::Verify { key, value }),
        3 => (any::<bool>(), key_ref(&fids), new_value).prop_map(|(jicsap, key, value)| Event::Change { jicsap, key, value }),
        4 => sign,
        1 => any::<u8>().prop_map(Event::GetChallenge),
        2 => session_key.prop_map(Event::SetSessionKey),
        3 => (0..session_keys).prop_map(Event::OpenSm),
        2 => (0..PinId::ALL.len()).prop_map(Event::Block),
        5 => (0..PinId::ALL.len(), prop_oneof![3 => Just(PinValue::Right), 1 => Just(PinValue::Wrong)]).prop_map(|(i, v)| Event::Login(i, v)),
        3 => fid.prop_map(Event::SmSelect),
        3 => (key_ref(&fids), pin_value()).prop_map(|(key, value)| Event::SmVerify { key, value }),
        5 => (
            prop_oneof![1 => 0u8..2, 4 => (1u8..9).prop_map(|sfi| 0x80 | sfi), 1 => any::<u8>()],
            prop_oneof![Just(0u8), any::<u8>()],
            prop_oneof![Just(0u16), 1u16..600]
        )
            .prop_map(|(p1, p2, len)| Event::SmRead { p1, p2, len }),
        1 => sm_raw,
        3 => apdu().prop_map(|mut a| {
            a[0] &= !0x0C;
            Event::Raw(a)
        }),
        2 => Just(Event::Reset),
        2 => Just(Event::SaveRestore),
    ]
}

/// A C-APDU with short lengths where they fit, extended ones otherwise.
fn build(header: [u8; 4], data: &[u8], le: Option<usize>) -> Vec<u8> {
    let mut apdu = header.to_vec();
    let extended = data.len() > 255 || le.is_some_and(|le| le > 256);
    if extended {
        apdu.push(0);
        if !data.is_empty() {
            apdu.extend_from_slice(&(data.len() as u16).to_be_bytes());
            apdu.extend_from_slice(data);
        }
        if let Some(le) = le {
            apdu.extend_from_slice(&((le % 65_536) as u16).to_be_bytes());
        }
    } else {
        if !data.is_empty() {
            apdu.push(data.len() as u8);
            apdu.extend_from_slice(data);
        }
        if let Some(le) = le {
            apdu.push((le % 256) as u8);
        }
    }
    apdu
}

fn aes(mode: openssl::symm::Mode, cipher: openssl::symm::Cipher, key: &[u8; 16], iv: Option<&[u8]>, data: &[u8]) -> Option<Vec<u8>> {
    let mut c = openssl::symm::Crypter::new(cipher, mode, key, iv).ok()?;
    c.pad(false);
    let mut out = vec![0u8; data.len() + 16];
    let n = c.update(data, &mut out).ok()?;
    let m = c.finalize(&mut out[n..]).ok()?;
    out.truncate(n + m);
    Some(out)
}

/// The host side of an open text-AP SM session (spec §5.6).
#[derive(Clone, Copy, Debug)]
struct HostSm {
    key: [u8; 16],
    /// SM commands sent in this session.
    counter: u32,
}

impl HostSm {
    fn next_iv(&mut self) -> [u8; 16] {
        self.counter += 1;
        let mut block = [0u8; 16];
        block[12..].copy_from_slice(&self.counter.to_be_bytes());
        let iv = aes(openssl::symm::Mode::Encrypt, openssl::symm::Cipher::aes_128_ecb(), &self.key, None, &block).unwrap();
        iv[..16].try_into().unwrap()
    }

    fn protect(&self, iv: &[u8; 16], plain: &[u8]) -> Vec<u8> {
        let mut padded = plain.to_vec();
        padded.push(0x80);
        padded.resize(padded.len().div_ceil(16) * 16, 0);
        let ct = aes(openssl::symm::Mode::Encrypt, openssl::symm::Cipher::aes_128_cbc(), &self.key, Some(iv), &padded).unwrap();
        let mut value = vec![0x01];
        value.extend_from_slice(&ct);
        let mut out = vec![0x86];
        match value.len() {
            n @ 0..=0x7F => out.push(n as u8),
            n @ 0x80..=0xFF => out.extend_from_slice(&[0x81, n as u8]),
            n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(&value);
        out
    }

    /// `86 L 01 <ciphertext>` back to the plaintext; `None` if it is not that or the
    /// padding is wrong (a wrong IV garbles the first block).
    fn unprotect(&self, iv: &[u8; 16], data: &[u8]) -> Option<Vec<u8>> {
        let tlv = mynasim_simulator::tlv::parse_all(data)?;
        let [only] = tlv.as_slice() else { return None };
        let ct = only.value.strip_prefix(&[0x01])?;
        if only.tag != 0x86 || ct.is_empty() || ct.len() % 16 != 0 {
            return None;
        }
        let mut plain = aes(openssl::symm::Mode::Decrypt, openssl::symm::Cipher::aes_128_cbc(), &self.key, Some(iv), ct)?;
        let end = plain.iter().rposition(|b| *b != 0)?;
        (plain[end] == 0x80).then(|| {
            plain.truncate(end);
            plain
        })
    }
}

/// Well-formed SET SESSION KEY messages `A0 22 80 20 <32>` under the text AP's key
/// (RSAES-OAEP-SHA-256), with the session key each opens.
fn session_keys(card: &Card) -> Vec<([u8; 16], Vec<u8>)> {
    let public = card.applet(AppletId::Text).unwrap().key_for_use(KeyUse::SessionKeyDelivery).unwrap().openssl_public().unwrap();
    (0u8..4)
        .map(|i| {
            let mut message = vec![0xA0, 0x22, 0x80, 0x20];
            message.extend((0u8..32).map(|j| j.wrapping_mul(31).wrapping_add(i.wrapping_mul(97)).wrapping_add(1)));
            let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&public).unwrap();
            ctx.encrypt_init().unwrap();
            ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP).unwrap();
            ctx.set_rsa_oaep_md(openssl::md::Md::sha256()).unwrap();
            ctx.set_rsa_mgf1_md(openssl::md::Md::sha256()).unwrap();
            let mut ciphertext = Vec::new();
            ctx.encrypt_to_vec(&message, &mut ciphertext).unwrap();
            (message[4..20].try_into().unwrap(), ciphertext)
        })
        .collect()
}

/// An EF reference as the card resolves it: the current EF, or by SFI in the current applet.
#[derive(Clone, Copy, Debug)]
enum Ref {
    Current,
    Sfi(u8),
}

fn current_applet<'c>(card: &'c Card, session: &mynasim_simulator::card::Session) -> Option<(usize, &'c Applet)> {
    session.applet.and_then(|i| card.applets().get(i).map(|a| (i, a)))
}

/// The EF (index in the current applet's file table) a command addresses, from the
/// session before it.
fn resolve(card: &Card, session: &mynasim_simulator::card::Session, reference: Ref) -> Option<usize> {
    let (_, applet) = current_applet(card, session)?;
    match reference {
        Ref::Current => session.current,
        Ref::Sfi(sfi) => applet.files.iter().position(|ef| ef.sfi() == Some(sfi)),
    }
}

/// P2 of VERIFY / CHANGE (spec §5.2).
fn key_object(p2: u8) -> Option<Ref> {
    match p2 {
        0x80 => Some(Ref::Current),
        0x81..=0x9E => Some(Ref::Sfi(p2 & 0x1F)),
        _ => None,
    }
}

/// The PIN a VERIFY / CHANGE with this P2 addresses.
fn pin_target(card: &Card, session: &mynasim_simulator::card::Session, p2: u8) -> Option<PinId> {
    let index = resolve(card, session, key_object(p2)?)?;
    match current_applet(card, session)?.1.files[index].content {
        Content::Pin(pin) => Some(pin),
        _ => None,
    }
}

/// The oracle of a read rule, written from the rule's definition (files.rs).
fn rule_allows(rule: Access, verified: PinSet) -> bool {
    match rule {
        Access::Free => true,
        Access::AnyOf(pins) => PinId::ALL.iter().any(|p| pins.contains(*p) && verified.contains(*p)),
        Access::Never => false,
    }
}

fn pins_of(set: PinSet) -> Vec<PinId> {
    PinId::ALL.iter().copied().filter(|p| set.contains(*p)).collect()
}

/// Where a PIN object lives: (applet index, FID).
fn home_of(card: &Card, pin: PinId) -> Option<(usize, u16)> {
    card.applets().iter().enumerate().find_map(|(i, a)| a.files.iter().find(|ef| ef.content == Content::Pin(pin)).map(|ef| (i, ef.fid)))
}

/// The valid new values offered for a PIN's format.
fn valid_new_value(format: PinFormat, i: usize) -> Vec<u8> {
    let options: &[&str] = match format {
        PinFormat::SignPassword => &["ABC123", "XYZ7890", "PASSWORD2026"],
        _ => &["1234", "5678", "0000"],
    };
    options[i % options.len()].as_bytes().to_vec()
}

/// One run of events over a duplicate of the issued card.
struct Run<'a> {
    base: &'a Card,
    card: Card,
    property: Property,
    session_keys: &'a [([u8; 16], Vec<u8>)],
    seed: u64,
    /// PINs that answered `90 00` to a VERIFY since the last power event / restore.
    earned: PinSet,
    sm: Option<HostSm>,
    step: usize,
}

macro_rules! check {
    ($run:expr, $property:ident, $cond:expr, $($fmt:tt)+) => {
        if $run.property == Property::$property && !$cond {
            return Err(TestCaseError::fail(format!("step {}: {}", $run.step, format!($($fmt)+))));
        }
    };
}

impl Run<'_> {
    fn counters(&self) -> Vec<u8> {
        PinId::ALL.iter().map(|p| self.card.pin(*p).remaining).collect()
    }

    /// The value a VERIFY of `PinValue` sends to the PIN `p2` addresses now.
    fn value_for(&self, p2: u8, value: &PinValue) -> Vec<u8> {
        let target = pin_target(&self.card, &self.card.session(), p2);
        let right = |card: &Card| target.map(|p| card.pin(p).value.to_vec()).unwrap_or_else(|| b"1234".to_vec());
        match value {
            PinValue::Right => right(&self.card),
            PinValue::Issued => right(self.base),
            PinValue::Wrong => {
                let mut v = right(&self.card);
                if let Some(last) = v.last_mut() {
                    *last = if *last == b'0' { b'1' } else { b'0' };
                }
                v
            }
            PinValue::Empty => Vec::new(),
            PinValue::Bytes(bytes) => bytes.clone(),
        }
    }

    /// Sends one APDU and checks properties 1–3 on it; returns the data and SW.
    fn send(&mut self, apdu: &[u8]) -> Result<(Vec<u8>, Sw), TestCaseError> {
        self.step += 1;
        let session = self.card.session();
        let counters = self.counters();
        let response = self.card.transmit(apdu);
        let sw = Sw::from_response(&response).ok_or_else(|| TestCaseError::fail("no status word"))?;
        let data = response[..response.len() - 2].to_vec();
        let (cla, ins, p1, p2) = match apdu {
            [cla, ins, p1, p2, ..] => (*cla, *ins, *p1, *p2),
            _ => (0xFF, 0, 0, 0),
        };
        let known_class = cla & 0xE0 == 0x00 || cla & 0xE0 == 0x80;
        let succeeded = sw == Sw::SUCCESS || sw == Sw::END_OF_FILE;
        let verify_target = (known_class && ins == 0x20).then(|| pin_target(&self.card, &session, p2)).flatten();
        let verified_ok = known_class && ins == 0x20 && sw == Sw::SUCCESS;

        // 1. Counters.
        for (i, pin) in PinId::ALL.iter().enumerate() {
            let (before, after) = (counters[i], self.card.pin(*pin).remaining);
            let restored = verified_ok && verify_target == Some(*pin) && after == self.card.pin(*pin).max_tries;
            check!(
                self,
                CountersRiseOnlyOnSuccessfulVerify,
                after <= before || restored,
                "{pin:?} counter went from {before} to {after} on {} answered {sw}",
                pki_hex(apdu)
            );
        }
        // 2. Blocked PINs.
        if verified_ok {
            check!(self, BlockedPinsNeverVerify, verify_target.is_some(), "VERIFY answered 90 00 without a PIN object: {}", pki_hex(apdu));
            if let Some(pin) = verify_target {
                check!(self, BlockedPinsNeverVerify, counters[pin.index()] > 0, "blocked {pin:?} answered 90 00 to {}", pki_hex(apdu));
                self.earned.insert(pin);
            }
        }
        // 3. Protected data.
        if known_class && succeeded && !data.is_empty() {
            let reference = match ins {
                0xB0 if p1 & 0x80 == 0 => Some(Ref::Current),
                0xB0 if p1 & 0x60 == 0 && p1 & 0x1F != 0 => Some(Ref::Sfi(p1 & 0x1F)),
                0xB2 if p2 >> 3 == 0 => Some(Ref::Current),
                0xB2 => Some(Ref::Sfi(p2 >> 3)),
                _ => None,
            };
            if matches!(ins, 0xB0 | 0xB2) {
                let index = reference.and_then(|r| resolve(&self.card, &session, r));
                check!(self, ProtectedDataNeedsItsPin, index.is_some(), "{} answered data from no EF", pki_hex(apdu));
                if let (Some(index), Some((_, applet))) = (index, current_applet(&self.card, &session)) {
                    let ef = &applet.files[index];
                    check!(
                        self,
                        ProtectedDataNeedsItsPin,
                        rule_allows(ef.read, session.verified),
                        "{:?} EF {:04X} (rule {:?}) read with only {:?} verified: {}",
                        applet.id,
                        ef.fid,
                        ef.read,
                        pins_of(session.verified),
                        pki_hex(apdu)
                    );
                }
            }
            if ins == 0x2A {
                if let Some((_, applet)) = current_applet(&self.card, &session) {
                    let key = match p2 {
                        0x00 => applet.default_key,
                        _ => key_object(p2).and_then(|r| resolve(&self.card, &session, r)).and_then(|i| match applet.files[i].content {
                            Content::Key(k) => Some(k),
                            _ => None,
                        }),
                    };
                    let guard = key.and_then(|k| applet.keys.get(k)).and_then(|k| k.guard);
                    check!(
                        self,
                        ProtectedDataNeedsItsPin,
                        guard.is_none_or(|g| session.verified.contains(g)),
                        "{:?} key guarded by {guard:?} signed with only {:?} verified",
                        applet.id,
                        pins_of(session.verified)
                    );
                }
            }
        }
        self.after_event()?;
        Ok((data, sw))
    }

    /// Checks on the state after every event.
    fn after_event(&mut self) -> Result<(), TestCaseError> {
        let session = self.card.session();
        let applet_pins: Vec<PinId> = current_applet(&self.card, &session)
            .map(|(_, a)| a.files.iter().filter_map(|ef| if let Content::Pin(p) = ef.content { Some(p) } else { None }).collect())
            .unwrap_or_default();
        for pin in pins_of(session.verified) {
            check!(self, ProtectedDataNeedsItsPin, self.earned.contains(pin), "{pin:?} verified without a VERIFY answered 90 00");
            check!(self, ProtectedDataNeedsItsPin, applet_pins.contains(&pin), "{pin:?} still verified outside its application");
        }
        if !matches!(session.sm, SmState::Open(_)) {
            self.sm = None;
        }
        Ok(())
    }

    /// An SM command: advances the host counter if a session is open; `plain` is protected
    /// under the session's IV (or sent as a garbage DO when the host has no session).
    fn send_sm(&mut self, header: [u8; 4], plain: &[u8]) -> Result<(), TestCaseError> {
        let (iv, body) = match self.sm.as_mut() {
            Some(sm) => {
                let iv = sm.next_iv();
                (Some(iv), sm.protect(&iv, plain))
            }
            None => (None, HostSm { key: [0; 16], counter: 0 }.protect(&[0; 16], plain)),
        };
        let (_, sw) = self.send(&build(header, &body, None))?;
        if iv.is_some() {
            check!(
                self,
                SmCounterNeverRepeats,
                sw != Sw::SM_DATA_OBJECTS_INCORRECT,
                "well-formed SM command {:02X?} under IV(counter {}) refused 69 88: the card used another counter",
                header,
                self.sm.map_or(0, |s| s.counter)
            );
        }
        Ok(())
    }

    fn event(&mut self, event: &Event) -> Result<(), TestCaseError> {
        match event {
            Event::SelectAp(i) => {
                let apdu = match self.card.applets().get(*i) {
                    Some(applet) => build([0x00, 0xA4, 0x04, 0x0C], applet.aid, None),
                    // The MF level is the Issuer Security Domain, selected by its AID (spec §13.1).
                    None => build([0x00, 0xA4, 0x04, 0x0C], mynasim_simulator::applets::isd::AID, None),
                };
                self.send(&apdu)?;
            }
            Event::SelectEf(fid) => {
                self.send(&build([0x00, 0xA4, 0x02, 0x0C], &fid.to_be_bytes(), None))?;
            }
            Event::Read { p1, p2, le } => {
                self.send(&build([0x00, 0xB0, *p1, *p2], &[], Some(usize::from(*le))))?;
            }
            Event::Verify { key, value } => {
                let value = self.value_for(key.p2(&self.card), value);
                self.send(&build([0x00, 0x20, 0x00, key.p2(&self.card)], &value, None))?;
            }
            Event::Change { jicsap, key, value } => {
                let value = match value {
                    NewValue::Valid(i) => {
                        let format =
                            pin_target(&self.card, &self.card.session(), key.p2(&self.card)).map_or(PinFormat::FourDigits, PinId::format);
                        valid_new_value(format, *i)
                    }
                    NewValue::Bytes(bytes) => bytes.clone(),
                };
                let header = if *jicsap { [0x80, 0x32, 0x00, key.p2(&self.card)] } else { [0x00, 0x24, 0x01, key.p2(&self.card)] };
                self.send(&build(header, &value, None))?;
            }
            Event::Sign { p1, p2, data } => {
                self.send(&build([0x80, 0x2A, *p1, *p2], data, Some(0)))?;
            }
            Event::GetChallenge(le) => {
                self.send(&build([0x00, 0x84, 0x00, 0x00], &[], Some(usize::from(*le))))?;
            }
            Event::SetSessionKey(message) => {
                let (key, data) = match message {
                    SessionKey::Valid(i) => {
                        let (key, ct) = &self.session_keys[i % self.session_keys.len()];
                        (Some(*key), ct.clone())
                    }
                    SessionKey::Bytes(bytes) => (None, bytes.clone()),
                };
                let (_, sw) = self.send(&build([0x80, 0xAE, 0x00, 0x00], &data, None))?;
                if sw == Sw::SUCCESS {
                    self.sm = key.map(|key| HostSm { key, counter: 0 });
                }
            }
            Event::OpenSm(i) => {
                let text = self.card.applets().iter().position(|a| a.id == AppletId::Text).unwrap();
                self.event(&Event::SelectAp(text))?;
                let pin = home_of(&self.card, PinId::TextPin).unwrap().1 as u8;
                self.event(&Event::Verify { key: Key::Sfi(pin), value: PinValue::Right })?;
                self.event(&Event::SetSessionKey(SessionKey::Valid(*i)))?;
            }
            Event::Login(i, value) => {
                let pin = PinId::ALL[*i];
                if let Some((applet, fid)) = home_of(&self.card, pin) {
                    self.event(&Event::SelectAp(applet))?;
                    self.event(&Event::Verify { key: Key::Sfi(fid as u8), value: value.clone() })?;
                }
            }
            Event::Block(i) => {
                let pin = PinId::ALL[*i];
                if let Some((applet, fid)) = home_of(&self.card, pin) {
                    self.event(&Event::SelectAp(applet))?;
                    for _ in 0..=self.card.pin(pin).max_tries {
                        self.event(&Event::Verify { key: Key::Sfi(fid as u8), value: PinValue::Wrong })?;
                    }
                }
            }
            Event::SmSelect(fid) => {
                self.send_sm([0x08, 0xA4, 0x02, 0x0C], &fid.to_be_bytes())?;
            }
            Event::SmVerify { key, value } => {
                let value = self.value_for(key.p2(&self.card), value);
                self.send_sm([0x08, 0x20, 0x00, key.p2(&self.card)], &value)?;
            }
            Event::SmRead { p1, p2, len } => {
                let session = self.card.session();
                let iv = self.sm.as_mut().map(HostSm::next_iv);
                let body = [0x96, 0x03, 0x00, (len >> 8) as u8, *len as u8];
                let mut apdu = vec![0x08, 0xB0, *p1, *p2, 0x00, 0x00, 0x05];
                apdu.extend_from_slice(&body);
                apdu.extend_from_slice(&[0x00, 0x00]);
                let (data, sw) = self.send(&apdu)?;
                if let (Some(iv), Some(sm), true) = (iv, self.sm, sw == Sw::SUCCESS || sw == Sw::END_OF_FILE) {
                    let plain = sm.unprotect(&iv, &data);
                    check!(
                        self,
                        SmCounterNeverRepeats,
                        plain.is_some(),
                        "SM READ BINARY answer does not decrypt under IV(counter {}): the card used another counter",
                        sm.counter
                    );
                    // The plaintext is exactly the file's bytes: the IV was right.
                    let reference = if p1 & 0x80 == 0 { Some(Ref::Current) } else { Some(Ref::Sfi(p1 & 0x1F)) };
                    let (offset, wanted) =
                        if p1 & 0x80 == 0 { (usize::from(u16::from_be_bytes([*p1, *p2])), *len) } else { (usize::from(*p2), *len) };
                    let file = reference
                        .and_then(|r| resolve(&self.card, &session, r))
                        .and_then(|i| current_applet(&self.card, &session).map(|(_, a)| &a.files[i].content));
                    if let (Some(plain), Some(Content::Binary(file))) = (plain, file) {
                        let expected = files::read_binary(
                            file.as_slice(),
                            offset,
                            if wanted == 0 { usize::MAX } else { usize::from(wanted) },
                            wanted == 0,
                        )
                        .map(|(chunk, _)| chunk.to_vec())
                        .unwrap_or_default();
                        check!(self, SmCounterNeverRepeats, plain == expected, "SM READ BINARY decrypted to other bytes than the file's");
                    }
                }
            }
            Event::SmRaw { cla, ins, p1, p2, data } => {
                if let Some(sm) = self.sm.as_mut() {
                    sm.next_iv();
                }
                self.send(&build([*cla, *ins, *p1, *p2], data, None))?;
            }
            Event::Raw(apdu) => {
                self.send(apdu)?;
            }
            Event::Reset => {
                self.step += 1;
                let counters = self.counters();
                self.card.reset();
                check!(self, CountersRiseOnlyOnSuccessfulVerify, self.counters() == counters, "reset changed counters");
                self.earned = PinSet::EMPTY;
                self.after_event()?;
            }
            Event::SaveRestore => {
                self.step += 1;
                let saved = self.card.persistent_state();
                self.seed = self.seed.wrapping_add(1);
                let mut fresh = self.base.duplicate(Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(self.seed)));
                let restored = fresh.restore(&saved);
                check!(self, SaveRestoreKeepsState, restored.is_ok(), "restore refused the card's own state: {restored:?}");
                check!(self, SaveRestoreKeepsState, fresh.persistent_state() == saved, "restored state differs from the saved one");
                for pin in PinId::ALL {
                    let (before, after) = (self.card.pin(pin), fresh.pin(pin));
                    check!(
                        self,
                        SaveRestoreKeepsState,
                        before == after,
                        "{pin:?}: {}/{} before, {}/{} after restore",
                        before.remaining,
                        before.max_tries,
                        after.remaining,
                        after.max_tries
                    );
                }
                let counters = self.counters();
                self.card = fresh;
                check!(self, CountersRiseOnlyOnSuccessfulVerify, self.counters() == counters, "restore changed counters");
                self.earned = PinSet::EMPTY;
                self.after_event()?;
            }
        }
        Ok(())
    }
}

fn pki_hex(bytes: &[u8]) -> String {
    mynasim_simulator::pki::hex(bytes)
}

/// Replays `events` on a duplicate of `base`, checking `property` after every event.
fn run_events(base: &Card, keys: &[([u8; 16], Vec<u8>)], property: Property, seed: u64, events: &[Event]) -> Result<(), TestCaseError> {
    let card = base.duplicate(Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(seed)));
    let mut run = Run { base, card, property, session_keys: keys, seed, earned: PinSet::EMPTY, sm: None, step: 0 };
    for event in events {
        run.event(event)?;
    }
    Ok(())
}

/// Runs `property` over `cases` random event sequences on one issued card.
fn check_property(property: Property, cases: u32) {
    let base = card();
    let keys = session_keys(&base);
    let strategy = (any::<u64>(), proptest::collection::vec(event(&base, keys.len()), 1..50));
    let mut runner = TestRunner::new(Config { cases, source_file: Some(file!()), ..Config::default() });
    if let Err(failure) = runner.run(&strategy, |(seed, events)| run_events(&base, &keys, property, seed, &events)) {
        panic!("{property:?}: {failure}");
    }
}

#[test]
fn retry_counters_rise_only_on_a_successful_verify() {
    check_property(Property::CountersRiseOnlyOnSuccessfulVerify, 200);
}

#[test]
fn blocked_pins_never_verify() {
    check_property(Property::BlockedPinsNeverVerify, 200);
}

#[test]
fn protected_files_and_keys_need_their_pin_in_this_session() {
    check_property(Property::ProtectedDataNeedsItsPin, 200);
}

#[test]
fn save_and_restore_keep_pin_state() {
    check_property(Property::SaveRestoreKeepsState, 200);
}

#[test]
fn sm_session_counter_never_repeats() {
    check_property(Property::SmCounterNeverRepeats, 200);
}
