//! Shared code of the mynasim fuzz targets: one issued card per process, the event format
//! of `card_sequence` (decoder and encoder, so seeds can be written), and the invariant
//! checks run after every event.
//!
//! Input format of `card_sequence`: a list of events, each an opcode byte (`op % 16`)
//! followed by its fields; a vector is a length byte then that many bytes (for `Raw`,
//! length `FF` means a 2-byte big-endian length follows). Decoding stops at the first
//! truncated event. See [`Event`].

use std::sync::{Mutex, OnceLock};

use mynasim_simulator::applets::{Applet, KeyUse};
use mynasim_simulator::card::Session;
use mynasim_simulator::files::{Access, Content};
use mynasim_simulator::pins::{PinId, PinRecord};
use mynasim_simulator::profile::Profile;
use mynasim_simulator::sm::SmState;
use mynasim_simulator::state::PersistentState;
use mynasim_simulator::{issue, Card, Sw};
use openssl::pkey::{PKey, Public};
use rand_core::SeedableRng;

/// The fixed "today" every fuzz card is issued on (as in the simulator's tests).
pub const TODAY: time::Date = time::macros::date!(2026 - 11 - 23);

/// The five DF names, in the order `SelectApp` indexes them.
pub const AIDS: [&[u8]; 5] = [
    mynasim_simulator::applets::jpki::AID,
    mynasim_simulator::applets::text::AID,
    mynasim_simulator::applets::surface::AID,
    mynasim_simulator::applets::common::AID,
    mynasim_simulator::applets::juki::AID,
];

/// Where a PIN lives: its application's index in [`Card::applets`] and its FID there.
#[derive(Clone, Copy, Debug)]
pub struct PinHome {
    /// Index of the application.
    pub applet: usize,
    /// FID of the PIN object.
    pub fid: u16,
}

/// The card issued once per process, and what the events need to know about it.
pub struct Fixture {
    card: Mutex<Card>,
    /// Where each PIN of [`PinId::ALL`] lives.
    pub homes: Vec<Option<PinHome>>,
    /// The public half of the text AP's session-key delivery key (EF 0006).
    pub session_public: Option<PKey<Public>>,
}

impl Fixture {
    /// A fresh copy of the issued card (own session, own RNG).
    pub fn card(&self) -> Card {
        let base = self.card.lock().unwrap_or_else(|e| e.into_inner());
        base.duplicate(Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(2)))
    }
}

/// The default card, issued on first use from a fixed seed; keys come from the on-disk
/// key cache (`~/.cache/mynasim/keys`, see `DirKeyCache::default_location`).
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let card = issue_default();
        let homes = PinId::ALL
            .iter()
            .map(|pin| {
                card.applets().iter().enumerate().find_map(|(i, applet)| {
                    applet.files.iter().find(|ef| ef.content == Content::Pin(*pin)).map(|ef| PinHome { applet: i, fid: ef.fid })
                })
            })
            .collect();
        let session_public = card
            .applets()
            .iter()
            .find_map(|a| a.key_for_use(KeyUse::SessionKeyDelivery))
            .and_then(|k| k.openssl_public().ok());
        Fixture { card: Mutex::new(card), homes, session_public }
    })
}

/// Issues the default card (fixed seed, [`TODAY`]).
pub fn issue_default() -> Card {
    let personalization = Profile::from_yaml("", "default")
        .and_then(|p| p.resolve(TODAY, "default"))
        .unwrap_or_else(|e| panic!("fuzz fixture: the default profile does not resolve: {e}"));
    let mut cache = mynasim_harness::keycache::DirKeyCache::default_location();
    issue::issue(&personalization, &mut cache, Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(1)))
        .unwrap_or_else(|e| panic!("fuzz fixture: issuing the default card failed: {e}"))
}

/// One step of a `card_sequence` input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// 0: any bytes as a C-APDU.
    Raw(Vec<u8>),
    /// 1: SELECT by DF name: `AIDS[app % 5]`, the first `1 + prefix % 10` bytes if
    /// `prefix` is non-zero, P2 from `[0C, 00, 04, p2]`.
    SelectApp { app: u8, prefix: u8, p2: u8 },
    /// 2: SELECT EF `00 A4 02 0C 02 fid`.
    SelectEf(u16),
    /// 3: READ BINARY; `flags` bit 0 = extended Le, bit 1 = SFI form (`P1 = 80 | p1 & 1F`).
    ReadBinary { p1: u8, p2: u8, le: u8, flags: u8 },
    /// 4: READ RECORD `00 B2 p1 p2 00`; `flags` bit 0 forces "record P1" (`p2 & F8 | 04`).
    ReadRecord { p1: u8, p2: u8, flags: u8 },
    /// 5: VERIFY with the PIN's current right value (`PinId::ALL[pin % 11]`), P2 `80` or `80|FID`.
    VerifyRight { pin: u8, by_sfi: bool },
    /// 6: VERIFY with `value` (empty = the tries query).
    VerifyWrong { pin: u8, by_sfi: bool, value: Vec<u8> },
    /// 7: CHANGE REFERENCE DATA / CHANGE KEY (the PIN's own command unless `swap`); a
    /// one-byte `value` picks from [`NEW_VALUES`].
    Change { pin: u8, by_sfi: bool, swap: bool, value: Vec<u8> },
    /// 8: COMPUTE DIGITAL SIGNATURE `80 2A p1 p2 Lc data 00`.
    Sign { p1: u8, p2: u8, data: Vec<u8> },
    /// 9: GET CHALLENGE; `extended` uses the 3-byte Le.
    GetChallenge { le: u8, extended: bool },
    /// 10: INTERNAL AUTHENTICATE `00 88 00 p2 Lc data 00`.
    InternalAuth { p2: u8, data: Vec<u8> },
    /// 11: SET SESSION KEY. `kind % 3`: 0 a valid message with the key from `body`,
    /// 1 `body` as the plaintext (OAEP-encrypted properly), 2 `body` as the raw data.
    SetSessionKey { kind: u8, body: Vec<u8> },
    /// 12: a CLA 08 command encrypted under the current SM session (if any). `kind % 3`:
    /// 0 SELECT EF (`body` = FID), 1 VERIFY (P2 = `p2`; a one-byte `body` = the right value
    /// of `PinId::ALL[body[0] % 11]`), 2 READ BINARY (P1 P2, `body` = 2-byte length).
    /// `corrupt` non-zero sends `body` unencrypted instead.
    Sm { kind: u8, p1: u8, p2: u8, body: Vec<u8>, corrupt: u8 },
    /// 13: power cycle (`Card::reset`).
    Reset,
    /// 14: save and restart: persistent state through the state-file format into a fresh
    /// copy of the card.
    SaveRestore,
    /// 15: a well-framed APDU: short Lc if `data` is non-empty, Le if `le` is given.
    Framed { cla: u8, ins: u8, p1: u8, p2: u8, data: Vec<u8>, le: Option<u8> },
}

/// New PIN values a one-byte `Change` picks from (valid for the 4-digit PINs or the
/// signature password, or for none).
pub const NEW_VALUES: [&[u8]; 8] = [b"5678", b"0000", b"1234", b"ABC123", b"ZZZZ99", b"A1B2C3D4E5F6G7H8", b"12a4", b"abc123"];

/// At most this many events per input (signatures cost a millisecond each).
pub const MAX_EVENTS: usize = 256;

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head.to_vec())
    }
    fn vec(&mut self) -> Option<Vec<u8>> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }
    fn bool(&mut self) -> Option<bool> {
        Some(self.u8()? & 1 == 1)
    }
}

/// Decodes an input into events (at most [`MAX_EVENTS`]).
pub fn decode(input: &[u8]) -> Vec<Event> {
    let mut r = Reader(input);
    let mut events = Vec::new();
    while events.len() < MAX_EVENTS {
        match decode_one(&mut r) {
            Some(e) => events.push(e),
            None => break,
        }
    }
    events
}

fn decode_one(r: &mut Reader<'_>) -> Option<Event> {
    Some(match r.u8()? % 16 {
        0 => {
            let n = match r.u8()? {
                0xFF => usize::from(u16::from_be_bytes([r.u8()?, r.u8()?])),
                n => usize::from(n),
            };
            Event::Raw(r.take(n)?)
        }
        1 => Event::SelectApp { app: r.u8()?, prefix: r.u8()?, p2: r.u8()? },
        2 => Event::SelectEf(u16::from_be_bytes([r.u8()?, r.u8()?])),
        3 => Event::ReadBinary { p1: r.u8()?, p2: r.u8()?, le: r.u8()?, flags: r.u8()? },
        4 => Event::ReadRecord { p1: r.u8()?, p2: r.u8()?, flags: r.u8()? },
        5 => Event::VerifyRight { pin: r.u8()?, by_sfi: r.bool()? },
        6 => Event::VerifyWrong { pin: r.u8()?, by_sfi: r.bool()?, value: r.vec()? },
        7 => Event::Change { pin: r.u8()?, by_sfi: r.bool()?, swap: r.bool()?, value: r.vec()? },
        8 => Event::Sign { p1: r.u8()?, p2: r.u8()?, data: r.vec()? },
        9 => Event::GetChallenge { le: r.u8()?, extended: r.bool()? },
        10 => Event::InternalAuth { p2: r.u8()?, data: r.vec()? },
        11 => Event::SetSessionKey { kind: r.u8()?, body: r.vec()? },
        12 => Event::Sm { kind: r.u8()?, p1: r.u8()?, p2: r.u8()?, body: r.vec()?, corrupt: r.u8()? },
        13 => Event::Reset,
        14 => Event::SaveRestore,
        _ => {
            let (cla, ins, p1, p2) = (r.u8()?, r.u8()?, r.u8()?, r.u8()?);
            let data = r.vec()?;
            let le = match r.u8()? {
                0 => None,
                _ => Some(r.u8()?),
            };
            Event::Framed { cla, ins, p1, p2, data, le }
        }
    })
}

fn push_vec(out: &mut Vec<u8>, v: &[u8]) {
    let v = &v[..v.len().min(255)];
    out.push(v.len() as u8);
    out.extend_from_slice(v);
}

/// Encodes events in the input format (the inverse of [`decode`]; vectors are cut to 255
/// bytes, `Raw` to 65,535).
pub fn encode(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        match e {
            Event::Raw(apdu) => {
                out.push(0);
                let apdu = &apdu[..apdu.len().min(0xFFFF)];
                if apdu.len() >= 0xFF {
                    out.push(0xFF);
                    out.extend_from_slice(&(apdu.len() as u16).to_be_bytes());
                } else {
                    out.push(apdu.len() as u8);
                }
                out.extend_from_slice(apdu);
            }
            Event::SelectApp { app, prefix, p2 } => out.extend_from_slice(&[1, *app, *prefix, *p2]),
            Event::SelectEf(fid) => {
                out.push(2);
                out.extend_from_slice(&fid.to_be_bytes());
            }
            Event::ReadBinary { p1, p2, le, flags } => out.extend_from_slice(&[3, *p1, *p2, *le, *flags]),
            Event::ReadRecord { p1, p2, flags } => out.extend_from_slice(&[4, *p1, *p2, *flags]),
            Event::VerifyRight { pin, by_sfi } => out.extend_from_slice(&[5, *pin, u8::from(*by_sfi)]),
            Event::VerifyWrong { pin, by_sfi, value } => {
                out.extend_from_slice(&[6, *pin, u8::from(*by_sfi)]);
                push_vec(&mut out, value);
            }
            Event::Change { pin, by_sfi, swap, value } => {
                out.extend_from_slice(&[7, *pin, u8::from(*by_sfi), u8::from(*swap)]);
                push_vec(&mut out, value);
            }
            Event::Sign { p1, p2, data } => {
                out.extend_from_slice(&[8, *p1, *p2]);
                push_vec(&mut out, data);
            }
            Event::GetChallenge { le, extended } => out.extend_from_slice(&[9, *le, u8::from(*extended)]),
            Event::InternalAuth { p2, data } => {
                out.extend_from_slice(&[10, *p2]);
                push_vec(&mut out, data);
            }
            Event::SetSessionKey { kind, body } => {
                out.extend_from_slice(&[11, *kind]);
                push_vec(&mut out, body);
            }
            Event::Sm { kind, p1, p2, body, corrupt } => {
                out.extend_from_slice(&[12, *kind, *p1, *p2]);
                push_vec(&mut out, body);
                out.push(*corrupt);
            }
            Event::Reset => out.push(13),
            Event::SaveRestore => out.push(14),
            Event::Framed { cla, ins, p1, p2, data, le } => {
                out.extend_from_slice(&[15, *cla, *ins, *p1, *p2]);
                push_vec(&mut out, data);
                match le {
                    None => out.push(0),
                    Some(le) => out.extend_from_slice(&[1, *le]),
                }
            }
        }
    }
    out
}

/// A short APDU with data and optional Le.
fn apdu(header: [u8; 4], data: &[u8], le: Option<u8>) -> Vec<u8> {
    let mut a = header.to_vec();
    if !data.is_empty() {
        let data = &data[..data.len().min(255)];
        a.push(data.len() as u8);
        a.extend_from_slice(data);
    }
    if let Some(le) = le {
        a.push(le);
    }
    a
}

/// What is known about the card just before an APDU, to judge the answer.
struct Before {
    pins: Vec<PinRecord>,
    session: Session,
}

/// A card under test plus the invariant checks. Every violation panics with a message
/// naming the invariant, the APDU and the answer.
pub struct Run {
    fixture: &'static Fixture,
    /// The card.
    pub card: Card,
    response: Vec<u8>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

impl Run {
    /// A fresh card from the process's fixture.
    pub fn new() -> Run {
        let fixture = fixture();
        Run { fixture, card: fixture.card(), response: Vec::with_capacity(1024) }
    }

    /// Runs every event of `input`, checking the invariants after each; then checks the
    /// card still answers a plain SELECT + READ after a reset.
    pub fn run_input(&mut self, input: &[u8]) {
        for event in decode(input) {
            self.event(&event);
        }
        self.card.reset();
        let r = self.send(&apdu([0x00, 0xA4, 0x04, 0x0C], AIDS[0], None));
        assert_eq!(r, [0x90, 0x00], "the JPKI AP no longer selects after a reset");
    }

    fn pin_at(&self, index: u8) -> PinId {
        PinId::ALL[usize::from(index) % PinId::ALL.len()]
    }

    fn pin_p2(&self, pin: PinId, by_sfi: bool) -> u8 {
        match self.fixture.homes[pin.index()] {
            Some(home) if by_sfi => 0x80 | (home.fid as u8 & 0x1F),
            _ => 0x80,
        }
    }

    /// Runs one event.
    pub fn event(&mut self, event: &Event) {
        match event {
            Event::Raw(bytes) => {
                self.send(bytes);
            }
            Event::SelectApp { app, prefix, p2 } => {
                let aid = AIDS[usize::from(*app) % AIDS.len()];
                let aid = if *prefix == 0 { aid } else { &aid[..1 + usize::from(*prefix) % 10] };
                let p2 = [0x0C, 0x00, 0x04, *p2][usize::from(*p2) % 4];
                self.send(&apdu([0x00, 0xA4, 0x04, p2], aid, None));
            }
            Event::SelectEf(fid) => {
                self.send(&apdu([0x00, 0xA4, 0x02, 0x0C], &fid.to_be_bytes(), None));
            }
            Event::ReadBinary { p1, p2, le, flags } => {
                let p1 = if flags & 2 != 0 { 0x80 | (p1 & 0x1F) } else { *p1 };
                let mut a = vec![0x00, 0xB0, p1, *p2];
                if flags & 1 != 0 {
                    a.extend_from_slice(&[0x00, 0x00, *le]);
                } else {
                    a.push(*le);
                }
                self.send(&a);
            }
            Event::ReadRecord { p1, p2, flags } => {
                let p2 = if flags & 1 != 0 { (p2 & 0xF8) | 0x04 } else { *p2 };
                self.send(&[0x00, 0xB2, *p1, p2, 0x00]);
            }
            Event::VerifyRight { pin, by_sfi } => {
                let pin = self.pin_at(*pin);
                let value = self.card.pin(pin).value.to_vec();
                let p2 = self.pin_p2(pin, *by_sfi);
                self.send(&apdu([0x00, 0x20, 0x00, p2], &value, None));
            }
            Event::VerifyWrong { pin, by_sfi, value } => {
                let p2 = self.pin_p2(self.pin_at(*pin), *by_sfi);
                self.send(&apdu([0x00, 0x20, 0x00, p2], value, None));
            }
            Event::Change { pin, by_sfi, swap, value } => {
                let pin = self.pin_at(*pin);
                let p2 = self.pin_p2(pin, *by_sfi);
                let iso = !matches!(pin, PinId::CommonPin | PinId::JukiPin) ^ swap;
                let header = if iso { [0x00, 0x24, 0x01, p2] } else { [0x80, 0x32, 0x00, p2] };
                let value = match value.as_slice() {
                    [pick] => NEW_VALUES[usize::from(*pick) % NEW_VALUES.len()].to_vec(),
                    v => v.to_vec(),
                };
                self.send(&apdu(header, &value, None));
            }
            Event::Sign { p1, p2, data } => {
                self.send(&apdu([0x80, 0x2A, *p1, *p2], data, Some(0)));
            }
            Event::GetChallenge { le, extended } => {
                let a = if *extended { vec![0x00, 0x84, 0x00, 0x00, 0x00, 0x00, *le] } else { vec![0x00, 0x84, 0x00, 0x00, *le] };
                self.send(&a);
            }
            Event::InternalAuth { p2, data } => {
                self.send(&apdu([0x00, 0x88, 0x00, *p2], data, Some(0)));
            }
            Event::SetSessionKey { kind, body } => {
                let data = match kind % 3 {
                    0 => {
                        let mut plain = vec![0xA0, 0x22, 0x80, 0x20];
                        plain.extend((0..32).map(|i| body.get(i).copied().unwrap_or(i as u8)));
                        self.oaep(&plain)
                    }
                    1 => self.oaep(body),
                    _ => body.clone(),
                };
                // SET SESSION KEY carries 256 bytes: extended Lc.
                let mut a = vec![0x80, 0xAE, 0x00, 0x00, 0x00];
                a.extend_from_slice(&(data.len() as u16).to_be_bytes());
                a.extend_from_slice(&data);
                if data.is_empty() {
                    a.truncate(4);
                }
                self.send(&a);
            }
            Event::Sm { kind, p1, p2, body, corrupt } => self.sm(*kind, *p1, *p2, body, *corrupt),
            Event::Reset => {
                let pins = self.pins();
                self.card.reset();
                assert_eq!(self.card.session(), Session::default(), "reset left session state");
                assert_eq!(self.pins(), pins, "reset changed persistent PIN state");
            }
            Event::SaveRestore => self.save_restore(),
            Event::Framed { cla, ins, p1, p2, data, le } => {
                self.send(&apdu([*cla, *ins, *p1, *p2], data, *le));
            }
        }
    }

    fn oaep(&self, plain: &[u8]) -> Vec<u8> {
        let Some(key) = &self.fixture.session_public else { return plain.to_vec() };
        let encrypt = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
            let mut ctx = openssl::pkey_ctx::PkeyCtx::new(key)?;
            ctx.encrypt_init()?;
            ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP)?;
            ctx.set_rsa_oaep_md(openssl::md::Md::sha256())?;
            ctx.set_rsa_mgf1_md(openssl::md::Md::sha256())?;
            let mut out = Vec::new();
            ctx.encrypt_to_vec(plain, &mut out)?;
            Ok(out)
        };
        // Too long for OAEP: send it as it is.
        encrypt().unwrap_or_else(|_| plain.to_vec())
    }

    fn sm(&mut self, kind: u8, p1: u8, p2: u8, body: &[u8], corrupt: u8) {
        let session = match self.card.session().sm {
            SmState::Open(s) => Some(s),
            _ => None,
        };
        let (ins, p1, p2, plain, read) = match kind % 3 {
            0 => (0xA4, 0x02, 0x0C, body.to_vec(), false),
            1 => {
                let value = match body {
                    [pick] => self.card.pin(self.pin_at(*pick)).value.to_vec(),
                    v => v.to_vec(),
                };
                (0x20, 0x00, p2, value, false)
            }
            _ => (0xB0, p1, p2, body.to_vec(), true),
        };
        let (data, iv) = match session {
            Some(mut s) if corrupt == 0 => {
                let iv = s.next_iv();
                let mut data = Vec::new();
                if read {
                    let len = match plain.as_slice() {
                        [hi, lo, ..] => [*hi, *lo],
                        _ => [0, 0],
                    };
                    data.extend_from_slice(&[0x96, 0x03, 0x00, len[0], len[1]]);
                } else if s.encrypt_value(&iv, &plain, &mut data).is_err() {
                    data = plain.clone();
                }
                (data, Some((s, iv)))
            }
            _ => (plain, None),
        };
        let le = if read { Some(0) } else { None };
        let before_current = self.card.session();
        let response = self.send(&apdu([0x08, ins, p1, p2], &data, le));
        // An SM READ we encrypted: the answer decrypts to the EF's bytes at that offset.
        if let (true, Some((s, iv)), [body @ .., 0x90, 0x00]) = (read, iv, response.as_slice()) {
            let plain = s
                .decrypt_value(&iv, body)
                .unwrap_or_else(|sw| panic!("SM READ BINARY answer {} does not decrypt ({sw})", hex(&response)));
            let session = self.card.session();
            let offset = if p1 & 0x80 != 0 { usize::from(p2) } else { usize::from(u16::from_be_bytes([p1, p2])) };
            self.check_content(&session, offset, &plain, &response);
            let _ = before_current;
        }
    }

    fn pins(&self) -> Vec<PinRecord> {
        PinId::ALL.iter().map(|p| self.card.pin(*p).clone()).collect()
    }

    fn applet(&self, session: &Session) -> Option<&Applet> {
        session.applet.and_then(|i| self.card.applets().get(i))
    }

    /// Sends one APDU and checks every invariant; returns the response.
    pub fn send(&mut self, apdu: &[u8]) -> Vec<u8> {
        let before = Before { pins: self.pins(), session: self.card.session() };
        self.card.process(apdu, &mut self.response);
        let response = self.response.clone();
        self.check(apdu, &response, &before);
        response
    }

    fn check(&self, apdu: &[u8], response: &[u8], before: &Before) {
        let ctx = || format!("APDU {} -> {}", hex(apdu), hex(response));
        // 1. A status word ends every answer, and it is one.
        assert!(response.len() >= 2, "answer without a status word: {}", ctx());
        let sw = Sw::from_response(response).unwrap_or(Sw::NO_PRECISE_DIAGNOSIS);
        let data = &response[..response.len() - 2];
        assert!(matches!(sw.sw1(), 0x61..=0x6F | 0x90..=0x9F), "not a status word: {}", ctx());
        // 2. Data only with success or a warning.
        if !data.is_empty() {
            assert!(sw == Sw::SUCCESS || matches!(sw.sw1(), 0x62 | 0x63), "data with an error status word: {}", ctx());
        }
        let after = self.pins();
        let session = self.card.session();
        let (cla, ins) = (apdu.first().copied().unwrap_or(0), apdu.get(1).copied().unwrap_or(0));
        let plain_class = cla & 0x0C == 0;
        for pin in PinId::ALL {
            let (b, a) = (&before.pins[pin.index()], &after[pin.index()]);
            // 3. Counters go up only with a right VERIFY answered 90 00.
            assert_eq!(a.max_tries, b.max_tries, "{pin:?}: max_tries changed: {}", ctx());
            if a.remaining > b.remaining {
                assert!(
                    ins == 0x20 && sw == Sw::SUCCESS && session.verified.contains(pin) && a.remaining == a.max_tries,
                    "{pin:?}: tries went up {} -> {} without a successful VERIFY of it: {}",
                    b.remaining,
                    a.remaining,
                    ctx()
                );
            }
            assert!(a.remaining <= a.max_tries, "{pin:?}: remaining {} > max {}: {}", a.remaining, a.max_tries, ctx());
            // Values change only by a successful CHANGE after a VERIFY of that PIN.
            if a.value != b.value {
                assert!(
                    matches!(ins, 0x24 | 0x32) && sw == Sw::SUCCESS && before.session.verified.contains(pin),
                    "{pin:?}: value changed without a successful CHANGE after VERIFY: {}",
                    ctx()
                );
                assert!(pin.format().accepts(&a.value), "{pin:?}: changed to a value its format refuses: {}", ctx());
            }
            // 4. A blocked PIN is never verified; a verified PIN is not blocked.
            if session.verified.contains(pin) {
                assert!(a.remaining > 0, "{pin:?}: verified while blocked: {}", ctx());
                assert!(
                    b.remaining > 0 || before.session.verified.contains(pin),
                    "{pin:?}: a blocked PIN became verified: {}",
                    ctx()
                );
                // Verified PINs belong to the current application (selecting another clears them).
                let home = self.fixture.homes[pin.index()].map(|h| h.applet);
                let here = self.applet(&session).is_some_and(|a| a.files.iter().any(|ef| ef.content == Content::Pin(pin)));
                assert!(here, "{pin:?} (home applet {home:?}) verified outside its application {:?}: {}", session.applet, ctx());
            }
        }
        // A plain VERIFY answered 90 00 had the right value of an unblocked PIN.
        if plain_class && ins == 0x20 && sw == Sw::SUCCESS {
            let target = self.verify_target(apdu, &before.session);
            let value = apdu.get(5..).unwrap_or_default();
            match target {
                Some(pin) => {
                    let b = &before.pins[pin.index()];
                    assert!(b.remaining > 0, "{pin:?}: blocked PIN answered 90 00 to VERIFY: {}", ctx());
                    assert!(value == b.value.as_slice(), "{pin:?}: VERIFY with a wrong value answered 90 00: {}", ctx());
                    assert!(session.verified.contains(pin), "{pin:?}: VERIFY 90 00 but not verified: {}", ctx());
                }
                None => panic!("VERIFY answered 90 00 but addresses no PIN object: {}", ctx()),
            }
        }
        // 5. Protected files never leak.
        if matches!(ins, 0xB0 | 0xB2) && matches!(sw.sw1(), 0x90 | 0x62) {
            let Some(applet) = self.applet(&session) else { panic!("READ answered {sw} at MF level: {}", ctx()) };
            let Some(ef) = session.current.and_then(|i| applet.files.get(i)) else {
                panic!("READ answered {sw} with no current EF: {}", ctx())
            };
            match ef.read {
                Access::Free => {}
                Access::AnyOf(pins) => assert!(
                    pins.intersects(before.session.verified),
                    "EF {:04X} of {:?} read without its PIN (verified {:?}): {}",
                    ef.fid,
                    applet.id,
                    before.session.verified,
                    ctx()
                ),
                Access::Never => panic!("never-readable EF {:04X} of {:?} was read: {}", ef.fid, applet.id, ctx()),
            }
            if plain_class && ins == 0xB0 {
                let (p1, p2) = (apdu.get(2).copied().unwrap_or(0), apdu.get(3).copied().unwrap_or(0));
                let offset = if p1 & 0x80 != 0 { usize::from(p2) } else { usize::from(u16::from_be_bytes([p1, p2])) };
                self.check_content(&session, offset, data, response);
            }
            if plain_class && ins == 0xB2 {
                let record = usize::from(apdu.get(2).copied().unwrap_or(0));
                match &ef.content {
                    Content::Records(records) => assert!(
                        record >= 1 && records.get(record - 1).is_some_and(|r| r.as_slice() == data),
                        "READ RECORD {record} of EF {:04X} answered other bytes: {}",
                        ef.fid,
                        ctx()
                    ),
                    _ => panic!("READ RECORD answered {sw} on a non-record EF {:04X}: {}", ef.fid, ctx()),
                }
            }
        }
    }

    /// The bytes a READ BINARY returned are the current EF's at `offset`.
    fn check_content(&self, session: &Session, offset: usize, data: &[u8], response: &[u8]) {
        let ef = self.applet(session).and_then(|a| session.current.and_then(|i| a.files.get(i)));
        match ef.map(|ef| (&ef.content, ef.fid)) {
            Some((Content::Binary(content), fid)) => assert!(
                content.get(offset..offset + data.len()) == Some(data),
                "READ BINARY of EF {fid:04X} at {offset} answered bytes that are not the file's: {}",
                hex(response)
            ),
            other => panic!("READ BINARY succeeded on {other:?}: {}", hex(response)),
        }
    }

    /// The PIN a plain VERIFY addresses, seen from the session before it.
    fn verify_target(&self, apdu: &[u8], session: &Session) -> Option<PinId> {
        let applet = self.applet(session)?;
        let p2 = *apdu.get(3)?;
        let index = match p2 {
            0x80 => session.current?,
            0x81..=0x9E => applet.find_sfi(p2 & 0x1F)?,
            _ => return None,
        };
        match applet.files.get(index)?.content {
            Content::Pin(pin) => Some(pin),
            _ => None,
        }
    }

    /// Save + restart: the persistent state goes through the state-file text format and
    /// into a fresh copy of the card; it must come back identical.
    fn save_restore(&mut self) {
        let state = self.card.persistent_state();
        let text = serde_saphyr::to_string(&state).unwrap_or_else(|e| panic!("state does not serialize: {e}"));
        let parsed: PersistentState =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("the state file we wrote does not parse: {e}\n{text}"));
        assert_same_state(&parsed, &state, &text);
        // The state file must be accepted by the card it came from...
        self.fixture.card().restore(&parsed).unwrap_or_else(|e| panic!("restore refused our own state file: {e}\n{text}"));
        // ...and restore(persistent_state()) is the identity.
        let mut fresh = self.fixture.card();
        fresh.restore(&state).unwrap_or_else(|e| panic!("restore refused our own state: {e}\n{text}"));
        assert_eq!(fresh.persistent_state(), state, "restore(persistent_state()) is not the identity");
        assert_eq!(fresh.session(), Session::default(), "a restored card has a session");
        self.card = fresh;
    }
}

/// The state read back from a state file equals the one written, PIN values included
/// (the text AP's key 0012 holds non-UTF-8 bytes: a fuzz finding, fixed in 41dd637 by the
/// `hex:` form; regression test `state_file_round_trips_every_pin_value` in
/// `simulator/tests/fuzz_regressions.rs`).
pub fn assert_same_state(read: &PersistentState, written: &PersistentState, text: &str) {
    assert_eq!(read, written, "state file round trip changed the state:\n{text}");
}

impl Default for Run {
    fn default() -> Self {
        Run::new()
    }
}

/// Checks a restored card: every PIN within `0..=max_tries` (and `max_tries` within what
/// a `63 Cx` can say), and the card answers a tries query for each PIN without panicking.
pub fn check_restored(card: &mut Card) {
    for pin in PinId::ALL {
        let r = card.pin(pin);
        assert!(r.remaining <= r.max_tries, "{pin:?}: restored remaining {} > max_tries {}", r.remaining, r.max_tries);
        assert!(r.max_tries <= 15, "{pin:?}: restored max_tries {} cannot be told in 63 Cx", r.max_tries);
    }
    let homes = fixture().homes.clone();
    for pin in PinId::ALL {
        let Some(home) = homes[pin.index()] else { continue };
        let aid = AIDS.iter().find(|aid| card.applets().get(home.applet).is_some_and(|a| a.aid == **aid)).copied().unwrap_or(AIDS[0]);
        let _ = card.transmit(&apdu([0x00, 0xA4, 0x04, 0x0C], aid, None));
        let status = card.transmit(&[0x00, 0x20, 0x00, 0x80 | home.fid as u8]);
        let sw = Sw::from_response(&status).unwrap_or(Sw::NO_PRECISE_DIAGNOSIS);
        assert_eq!(sw, Sw::retries_left(card.pin(pin).remaining), "{pin:?}: tries query after restore");
    }
}
