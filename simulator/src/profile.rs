//! Card profiles: one YAML document describes one card (issue "Card core", "Card profiles").
//!
//! Parsing takes the text and a name for messages; it never opens files. Every field is
//! optional: an empty document is a valid, fully working card with a fictitious holder.
//! Values are checked while parsing, so an error names the file, line and column.
//!
//! Limits are the real card's (spec §5.3, §6.3, §9.3) and are checked here, so a profile
//! the card could not hold is refused with its position instead of becoming a corrupt file:
//! [`MAX_NAME_CHARS`], [`MAX_ADDRESS_CHARS`], [`MAX_PHOTO_BYTES`], [`MIN_BIRTH_DATE`], an
//! issue date no later than the issuing clock's today.
//!
//! YAML crate: `serde-saphyr` (pure Rust, maintained, reports line and column for unknown
//! fields and for validation errors raised inside `Deserialize`); `serde_yaml` is
//! deprecated upstream.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use zeroize::Zeroizing;

use crate::mynumber;
use crate::pins::{PinFormat, PinId, PinRecord};
use crate::power::{Interface, PowerBehaviour, WarmReset};

/// The ATR of the contact interface most often reported (spec §2.2); the default.
pub const ATR_CONTACT: &[u8] =
    &[0x3B, 0xDA, 0x13, 0xFF, 0x81, 0x31, 0xFB, 0x46, 0x80, 0x12, 0x39, 0x2F, 0x31, 0xC1, 0x73, 0xC6, 0x01, 0xC0, 0x3B];
/// The ATR in OpenSC's `card-jpki.c` table (spec §2.2).
pub const ATR_OPENSC: &[u8] = &[0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14];
/// A contactless (PC/SC Part 3, Type B) ATR reported for the card (spec §2.2).
pub const ATR_CONTACTLESS: &[u8] = &[0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x05, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x7F];

/// The ATR a PC/SC reader reports for a phone's NFC card emulation (the JPKI tokens of
/// [`DeviceKind::AndroidToken`] and [`DeviceKind::IphoneToken`]): ISO/IEC 14443-4 Type A
/// through PC/SC Part 3 with no historical bytes, `3B 80 80 01 01`. \[inf\] No public
/// sample exists (spec §2.2 lists cards only); a phone emulates Type A, whose ATR the reader
/// builds from the ATS, and a phone's ATS carries no historical bytes on the readers
/// commonly reported.
pub const ATR_PHONE: &[u8] = &[0x3B, 0x80, 0x80, 0x01, 0x01];

/// Default seed of the test CAs: every card shares one test PKI unless a profile says otherwise.
pub const DEFAULT_CA_SEED: &str = "mynasim test CA v1";

/// A parse or validation error, with the source name and position rendered in.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ProfileError {
    /// The full message: `file:line:column: what is wrong`, with a snippet.
    pub message: String,
}

impl ProfileError {
    fn plain(source: &str, message: impl std::fmt::Display) -> ProfileError {
        ProfileError { message: format!("{source}: {message}") }
    }

    /// An error at `pos` (in `pos.file`, else in `source`); without a known position, at
    /// `source` alone (the message then names the field).
    fn at(pos: Option<&Pos>, source: &str, message: impl std::fmt::Display) -> ProfileError {
        match pos {
            Some(pos) if pos.line > 0 => {
                let file = if pos.file.is_empty() { source } else { &pos.file };
                ProfileError {
                    message: format!("error: line {} column {}: {message}\n --> {file}:{}:{}", pos.line, pos.column, pos.line, pos.column),
                }
            }
            _ => ProfileError::plain(source, message),
        }
    }
}

/// The longest name the simulator accepts, in characters. \[inf\] The spec gives no limit for
/// 氏名 (§5.3 EF 0002, §9.3); 100 is the address's half, far above any printed name, and
/// keeps the rendered name image of the surface AP (§6.3 DF25) within its file.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest address, in characters: "up to 200 characters" (spec §9.3, SAN .5.5.5).
pub const MAX_ADDRESS_CHARS: usize = 200;
/// The largest photo, in bytes. \[inf\] The surface AP's EF 0002 holds it with the rendered
/// name, address and security code, the card key and a signature (spec §6.3), and READ
/// BINARY reaches offsets up to 32,767 only (spec §3.4); 20,000 bytes leaves room for the
/// longest name and address.
pub const MAX_PHOTO_BYTES: usize = 20_000;
/// The longest seed (`seed`, `ca_seed`), in bytes: not a card field, but a bound.
pub const MAX_SEED_BYTES: usize = 256;
/// The earliest birth date accepted: the surface AP's birth-date key is a Japanese-era
/// `YYMMDD` (spec §6.2), defined from Meiji on; 1900 keeps every living holder.
pub const MIN_BIRTH_DATE: Date = match Date::from_calendar_date(1900, Month::January, 1) {
    Ok(d) => d,
    Err(_) => Date::MIN,
};

/// Where a value was written: its file (empty = the profile being parsed) and its line and
/// column (1-based; 0 = unknown).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    /// The file.
    pub file: String,
    /// Line, 1-based.
    pub line: u32,
    /// Column, 1-based.
    pub column: u32,
}

/// A value with where it was written, for errors found after parsing (cross-field checks).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub at: Pos,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Located<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(d)?;
        let at = Pos { file: String::new(), line: spanned.referenced.line() as u32, column: spanned.referenced.column() as u32 };
        Ok(Located { value: spanned.value, at })
    }
}

impl<T> Located<T> {
    fn stamp(&mut self, file: &str) {
        if self.at.file.is_empty() {
            self.at.file = file.to_owned();
        }
    }
}

/// Renders a YAML error as `error: line L column C: message`, ` --> file:L:C` and the
/// offending lines, with the YAML library's own advice (its option names) replaced by what
/// to write in the file.
pub fn render_yaml_error(error: &serde_saphyr::Error, source: &str) -> String {
    let mut rendered = error.render_with_options(serde_saphyr::render_options! { source_name: Some(source) });
    if !rendered.contains(source) {
        // Errors of a whole document (a check across its entries) carry no position.
        rendered = format!("{source}: {rendered}");
    }
    [
        (", set DuplicateKeyPolicy in Options if acceptable", "; write each key once"),
        ("expected mapping start", "expected a mapping here: write its fields on the lines below, indented, such as `name: ...`"),
        ("expected string scalar", "expected a text here: write one value, in quotes if it has [ ] { } : or #"),
        ("tabs disallowed within this context (block indentation)", "a tab indents this line: indent with spaces"),
    ]
    .iter()
    .fold(rendered, |text, (from, to)| text.replace(from, to))
}

/// A card profile as written in YAML.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    /// A profile this one builds on: a name of a file in a `profiles/` folder, or a path.
    /// Its fields apply first, then this profile's (see [`Profile::overlay`]). The loader
    /// resolves it; the core never opens files.
    pub extends: Option<String>,
    /// Key seed: same seed, same keys, same signatures. Default `mynasim-default`.
    #[serde(deserialize_with = "seed")]
    pub seed: Option<String>,
    /// Seed of the test CAs (shared by all cards by default).
    #[serde(deserialize_with = "seed")]
    pub ca_seed: Option<String>,
    /// `card` (default), `android-token` or `iphone-token`: what answers (see [`DeviceKind`]).
    pub kind: Option<Located<DeviceKind>>,
    /// `contact` (default; [`ATR_PHONE`] for a phone token), `opensc`, `contactless`, or
    /// the ATR in hex.
    pub atr: Option<AtrChoice>,
    /// `contact` or `contactless`; default: the interface `atr` belongs to
    /// ([`Interface::of_atr`]).
    pub interface: Option<Interface>,
    /// What power events do to the session (spec §13.4, [`crate::power`]).
    pub reset: ResetSpec,
    /// The holder's printed data.
    pub holder: HolderSpec,
    /// Card data.
    pub card: CardSpec,
    /// PIN values and counters.
    pub pins: PinsSpec,
    /// Certificate validity and presence.
    pub certificates: CertificatesSpec,
    /// File where counters, locks and changed PINs persist (relative to the profile's folder).
    pub state_file: Option<String>,
    /// A JPEG 2000 photo file for the surface AP (relative to the profile's folder).
    pub photo: Option<String>,
    /// The contact ATR GET DATA `5F51` reports (spec §13.3): `contact`, `opensc` or hex
    /// starting with 3B. Default: `atr` when that is a contact ATR, else `contact`.
    pub contact_atr: Option<ContactAtrChoice>,
    /// The MF level (spec §13.1, §13.2).
    pub mf: MfSpec,
}

/// The MF level's settings (spec §13.2).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfSpec {
    /// Whether GET DATA `7F21` (the lower CV certificate of the MF chain) exists; `false` for
    /// an older card, where it answers `6A 88`. Default `true`.
    #[serde(deserialize_with = "certificate_7f21")]
    pub certificate_7f21: Option<bool>,
}

fn certificate_7f21<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct Flag;
    impl serde::de::Visitor<'_> for Flag {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("true or false")
        }
        fn visit_bool<E>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
            Err(E::custom(format!(
                "mf.certificate_7f21 must be true (GET DATA 7F21 answers the lower CV certificate) or false (an older card without it: 6A 88), got {v:?}"
            )))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<bool, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<bool, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<bool, E> {
            self.visit_str(&v.to_string())
        }
    }
    d.deserialize_any(Flag).map(Some)
}

/// The contact ATR chosen for GET DATA `5F51` (spec §13.3).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ContactAtrChoice(pub Vec<u8>);

impl TryFrom<String> for ContactAtrChoice {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "contact" => return Ok(ContactAtrChoice(ATR_CONTACT.to_vec())),
            "opensc" => return Ok(ContactAtrChoice(ATR_OPENSC.to_vec())),
            "contactless" => {
                return Err(
                    "contact_atr is the card's contact ATR, which 5F51 reports over every interface; write `contact`, `opensc` or hex starting with 3B (the contactless ATR is chosen with `atr: contactless`)".to_owned(),
                )
            }
            _ => {}
        }
        let bytes = crate::apdu::parse_hex(&s).ok_or_else(|| {
            format!("contact_atr must be `contact`, `opensc` or hex bytes such as \"3B E0 00 FF 81 31 FE 45 14\", got {s:?}")
        })?;
        check_contact_atr(&bytes).map_err(|e| format!("contact_atr {s:?}: {e}"))?;
        Ok(ContactAtrChoice(bytes))
    }
}

/// Checks a contact ATR (ISO/IEC 7816-3 §8): TS `3B` (GET DATA `5F51` leaves it out because
/// it is always `3B`), as many bytes as T0 and the interface bytes announce, and a TCK that
/// makes the XOR of every byte after TS zero whenever a protocol other than T=0 is offered.
/// The error says what to write.
pub fn check_contact_atr(atr: &[u8]) -> Result<(), String> {
    if atr.first() != Some(&0x3B) {
        return Err("a contact ATR starts with TS = 3B (direct convention; 5F51 reports the bytes after it); write one such as \"3B E0 00 FF 81 31 FE 45 14\"".to_owned());
    }
    if atr.len() > 33 {
        return Err(format!("an ATR has at most 33 bytes, this one {}; write the card's ATR", atr.len()));
    }
    let Some(&t0) = atr.get(1) else {
        return Err("an ATR has at least TS and T0; write one such as \"3B E0 00 FF 81 31 FE 45 14\"".to_owned());
    };
    let mut indicator = t0 >> 4;
    let mut at = 2;
    let mut tck_present = false;
    while indicator & 0x08 != 0 {
        at += indicator.count_ones() as usize;
        let Some(&td) = atr.get(at - 1) else {
            return Err(format!("its interface bytes announce more bytes than the {} written; write the whole ATR", atr.len()));
        };
        tck_present |= td & 0x0F != 0;
        indicator = td >> 4;
    }
    at += indicator.count_ones() as usize;
    let expected = at + usize::from(t0 & 0x0F) + usize::from(tck_present);
    if atr.len() != expected {
        return Err(format!(
            "T0 and the interface bytes announce {expected} bytes{}, this ATR has {}; write the whole ATR",
            if tck_present { " including TCK" } else { "" },
            atr.len()
        ));
    }
    if tck_present {
        let body = &atr[1..atr.len() - 1];
        let tck = body.iter().fold(0u8, |acc, b| acc ^ b);
        if atr[atr.len() - 1] != tck {
            let mut fixed = atr.to_vec();
            let last = fixed.len() - 1;
            fixed[last] = tck;
            return Err(format!(
                "its TCK (last byte) is {:02X} but the XOR of the bytes after TS is {tck:02X}; write \"{}\"",
                atr[atr.len() - 1],
                crate::pki::hex(&fixed).to_uppercase()
            ));
        }
    }
    Ok(())
}

impl Profile {
    /// Parses a profile. `source` names the file in error messages.
    pub fn from_yaml(text: &str, source: &str) -> Result<Profile, ProfileError> {
        let mut profile = serde_saphyr::from_str::<Option<Profile>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| ProfileError { message: render_yaml_error(&e, source) })?;
        profile.stamp(source);
        Ok(profile)
    }

    /// Marks every position without a file as written in `file`.
    pub fn stamp(&mut self, file: &str) {
        let counters = [
            &mut self.pins.auth.counter,
            &mut self.pins.sign.counter,
            &mut self.pins.text.counter,
            &mut self.pins.common.counter,
            &mut self.pins.juki.counter,
            &mut self.pins.text_code_a,
            &mut self.pins.text_code_b,
            &mut self.pins.surface_birth_date,
            &mut self.pins.surface_code_a,
            &mut self.pins.surface_code_b,
        ];
        for counter in counters {
            if let Some(r) = counter.remaining_at.as_mut().filter(|r| r.file.is_empty()) {
                r.file = file.to_owned();
            }
        }
        self.kind.iter_mut().for_each(|k| k.stamp(file));
        self.holder.birth_date.iter_mut().for_each(|d| d.stamp(file));
        self.card.issued.iter_mut().for_each(|d| d.stamp(file));
        self.card.expires.iter_mut().for_each(|d| d.stamp(file));
        self.certificates.auth.validity.iter_mut().for_each(|v| v.stamp(file));
        self.certificates.sign.validity.iter_mut().for_each(|v| v.stamp(file));
    }
}

impl Profile {
    /// This profile with every field `over` sets replaced by `over`'s value, leaf by leaf
    /// (`pins.sign.remaining` in `over` changes only that counter). `extends` is `over`'s.
    pub fn overlay(self, over: Profile) -> Profile {
        fn pin<V>(base: PinSpec<V>, over: PinSpec<V>) -> PinSpec<V> {
            PinSpec { value: over.value.or(base.value), counter: counter(base.counter, over.counter) }
        }
        fn counter(base: CounterSpec, over: CounterSpec) -> CounterSpec {
            let (remaining, remaining_at) = match over.remaining {
                Some(left) => (Some(left), over.remaining_at),
                None => (base.remaining, base.remaining_at),
            };
            CounterSpec { max_tries: over.max_tries.or(base.max_tries), remaining, remaining_at }
        }
        fn certificate(base: CertificateSpec, over: CertificateSpec) -> CertificateSpec {
            CertificateSpec { validity: over.validity.or(base.validity), present: over.present.or(base.present) }
        }
        let (b, o) = (self, over);
        Profile {
            extends: o.extends,
            seed: o.seed.or(b.seed),
            ca_seed: o.ca_seed.or(b.ca_seed),
            kind: o.kind.or(b.kind),
            atr: o.atr.or(b.atr),
            interface: o.interface.or(b.interface),
            reset: ResetSpec {
                warm: o.reset.warm.or(b.reset.warm),
                first_command_after_power_up: o.reset.first_command_after_power_up.or(b.reset.first_command_after_power_up),
            },
            holder: HolderSpec {
                name: o.holder.name.or(b.holder.name),
                address: o.holder.address.or(b.holder.address),
                birth_date: o.holder.birth_date.or(b.holder.birth_date),
                sex: o.holder.sex.or(b.holder.sex),
                my_number: o.holder.my_number.or(b.holder.my_number),
                municipality_code: o.holder.municipality_code.or(b.holder.municipality_code),
            },
            card: CardSpec {
                issued: o.card.issued.or(b.card.issued),
                expires: o.card.expires.or(b.card.expires),
                serial: o.card.serial.or(b.card.serial),
                security_code: o.card.security_code.or(b.card.security_code),
            },
            pins: PinsSpec {
                auth: pin(b.pins.auth, o.pins.auth),
                sign: pin(b.pins.sign, o.pins.sign),
                text: pin(b.pins.text, o.pins.text),
                common: pin(b.pins.common, o.pins.common),
                juki: pin(b.pins.juki, o.pins.juki),
                text_code_a: counter(b.pins.text_code_a, o.pins.text_code_a),
                text_code_b: counter(b.pins.text_code_b, o.pins.text_code_b),
                surface_birth_date: counter(b.pins.surface_birth_date, o.pins.surface_birth_date),
                surface_code_a: counter(b.pins.surface_code_a, o.pins.surface_code_a),
                surface_code_b: counter(b.pins.surface_code_b, o.pins.surface_code_b),
            },
            certificates: CertificatesSpec {
                auth: certificate(b.certificates.auth, o.certificates.auth),
                sign: certificate(b.certificates.sign, o.certificates.sign),
            },
            state_file: o.state_file.or(b.state_file),
            photo: o.photo.or(b.photo),
            contact_atr: o.contact_atr.or(b.contact_atr),
            mf: MfSpec { certificate_7f21: o.mf.certificate_7f21.or(b.mf.certificate_7f21) },
        }
    }
}

/// `reset:` in a profile (spec §13.4, [`crate::power`]).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResetSpec {
    /// `keep` or `clear`: what a warm reset (`SCARD_RESET_CARD`) does to the security
    /// status. Default: `keep` on the contactless interface, `clear` on contacts.
    pub warm: Option<WarmReset>,
    /// `6F00` makes the first command after each power-up answer `6F 00` unexecuted;
    /// `answer` (default) answers it normally.
    pub first_command_after_power_up: Option<FirstCommand>,
}

/// `reset.first_command_after_power_up:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum FirstCommand {
    /// Answered normally.
    #[serde(rename = "answer")]
    Answer,
    /// Answered `6F 00` and not executed.
    #[serde(rename = "6F00")]
    Refuse,
}

/// What answers as the JPKI AP: the plastic card or a phone's スマホ用電子証明書 (spec §4.1,
/// §4.3, §13.5; myna-card `TokenType`).
///
/// A phone token holds **only the JPKI AP**: SELECT of any other application answers
/// `6A 82`. Its EF 0006 label is `JPKIAPGPSETOKEN` (Android) or `JPKIAPIOSTOKEN` (iPhone),
/// space-padded to 32 bytes; its auth certificate (EF 000A) is read only after the auth
/// PIN (spec §4.2: jpki/myna verifies 0018 first on that token), `69 82` before; the
/// reader reports [`ATR_PHONE`]. The iPhone token accepts the last-command indicator
/// `80 FC 00 00` (`90 00`), which the card and, \[inf\], the Android token refuse (`67 00`).
/// \[inf\] Everything else is the card's JPKI AP: the same objects, PIN rules, signing
/// modes and EF 0006 fields after the label (no public dump of a phone's EF 0006 exists).
///
/// Settings for the APs a phone lacks (the text, common and juki PINs, the 照合番号 and
/// birth-date counters, `card.security_code`, `photo`) are refused with an error that says
/// so, rather than ignored: a value the token cannot hold would otherwise silently do
/// nothing. The holder's name, address, birth date and sex stay (the signature certificate
/// carries them); `holder.my_number` and `holder.municipality_code` are accepted as the
/// holder's identity, though no file of the token holds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum DeviceKind {
    /// The physical My Number card (`card`).
    #[default]
    Card,
    /// The Android smartphone JPKI token (`android-token`), label `JPKIAPGPSETOKEN`.
    AndroidToken,
    /// The iPhone smartphone JPKI token (`iphone-token`), label `JPKIAPIOSTOKEN`.
    IphoneToken,
}

impl DeviceKind {
    /// True for the two phone tokens.
    pub const fn is_phone(self) -> bool {
        !matches!(self, DeviceKind::Card)
    }

    /// The name written in a profile.
    pub const fn name(self) -> &'static str {
        match self {
            DeviceKind::Card => "card",
            DeviceKind::AndroidToken => "android-token",
            DeviceKind::IphoneToken => "iphone-token",
        }
    }
}

impl TryFrom<String> for DeviceKind {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        [DeviceKind::Card, DeviceKind::AndroidToken, DeviceKind::IphoneToken].into_iter().find(|kind| kind.name() == s).ok_or_else(|| {
            format!(
                "kind must be `card` (the plastic card, the default), `android-token` or `iphone-token` (a phone's JPKI token), got {s:?}"
            )
        })
    }
}

/// The ATR the card presents.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AtrChoice(pub Vec<u8>);

impl TryFrom<String> for AtrChoice {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "contact" => return Ok(AtrChoice(ATR_CONTACT.to_vec())),
            "opensc" => return Ok(AtrChoice(ATR_OPENSC.to_vec())),
            "contactless" => return Ok(AtrChoice(ATR_CONTACTLESS.to_vec())),
            _ => {}
        }
        let bytes = crate::apdu::parse_hex(&s).ok_or_else(|| {
            format!("atr must be `contact`, `opensc`, `contactless` or hex bytes such as \"3B E0 00 FF 81 31 FE 45 14\", got {s:?}")
        })?;
        if !(2..=33).contains(&bytes.len()) || !matches!(bytes[0], 0x3B | 0x3F) {
            return Err(format!("an ATR is 2 to 33 bytes starting with 3B or 3F, got {s:?}"));
        }
        Ok(AtrChoice(bytes))
    }
}

fn seed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    if s.len() > MAX_SEED_BYTES {
        return Err(serde::de::Error::custom(format!(
            "a seed is at most {MAX_SEED_BYTES} bytes, this one {}; write a shorter text",
            s.len()
        )));
    }
    Ok(Some(s))
}

fn name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let chars = s.chars().count();
    let message = if chars > MAX_NAME_CHARS {
        format!("a name is at most {MAX_NAME_CHARS} characters, this one has {chars}; write a shorter name")
    } else if s.chars().any(char::is_control) {
        "a name cannot hold control characters (line breaks, tabs); write it on one line".to_owned()
    } else if !s.trim_matches('\u{3000}').contains('\u{3000}') {
        format!(
            "write the family and given name separated by an ideographic space U+3000 (spec §5.3), such as \"見本\u{3000}花子\"; {s:?} has none between them"
        )
    } else {
        return Ok(Some(s));
    };
    Err(serde::de::Error::custom(message))
}

fn address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = String::deserialize(d)?;
    let chars = s.chars().count();
    let message = if chars > MAX_ADDRESS_CHARS {
        format!("an address is at most {MAX_ADDRESS_CHARS} characters (spec §9.3), this one has {chars}; write a shorter address")
    } else if s.trim().is_empty() {
        "the address is empty; write one, such as \"東京都千代田区見本町一丁目２番３号\", or leave holder.address out".to_owned()
    } else if s.chars().any(char::is_control) {
        "an address cannot hold control characters (line breaks, tabs); write it on one line".to_owned()
    } else {
        return Ok(Some(s));
    };
    Err(serde::de::Error::custom(message))
}

/// The holder (券面事項), spec §5.3 EF 0002, §6.3 EF 0002.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HolderSpec {
    /// 氏名: family and given name separated by U+3000, at most [`MAX_NAME_CHARS`].
    #[serde(deserialize_with = "name")]
    pub name: Option<String>,
    /// 住所, at most [`MAX_ADDRESS_CHARS`].
    #[serde(deserialize_with = "address")]
    pub address: Option<String>,
    /// 生年月日, `YYYY-MM-DD`, from [`MIN_BIRTH_DATE`].
    pub birth_date: Option<Located<ProfileDate>>,
    /// 性別.
    pub sex: Option<Sex>,
    /// 個人番号, 12 digits with a valid check digit (spec §10).
    pub my_number: Option<MyNumber>,
    /// 全国地方公共団体コード of the issuing municipality, 5 digits.
    pub municipality_code: Option<Digits<5>>,
}

/// Sex as printed (spec §5.3 DF25: JIS X 0303 codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// `1`.
    Male,
    /// `2`.
    Female,
    /// `0` (not known).
    NotKnown,
    /// `9` (not applicable).
    NotApplicable,
}

impl Sex {
    /// The JIS X 0303 digit of the text and surface APs.
    pub const fn jis_code(self) -> u8 {
        match self {
            Sex::Male => b'1',
            Sex::Female => b'2',
            Sex::NotKnown => b'0',
            Sex::NotApplicable => b'9',
        }
    }

    /// The JPKI certificate code (spec §9.3: `1` male, `2` female, `3` unknown).
    pub const fn certificate_code(self) -> &'static str {
        match self {
            Sex::Male => "1",
            Sex::Female => "2",
            Sex::NotKnown | Sex::NotApplicable => "3",
        }
    }
}

/// A date written `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ProfileDate(pub Date);

impl TryFrom<String> for ProfileDate {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        parse_date(&s).map(ProfileDate)
    }
}

fn parse_date(s: &str) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), &format).map_err(|e| format!("{s:?} is not a valid date YYYY-MM-DD ({e})"))
}

/// A My Number with a valid check digit.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct MyNumber(pub String);

impl TryFrom<String> for MyNumber {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        mynumber::validate(&s)?;
        Ok(MyNumber(s))
    }
}

/// Exactly N ASCII digits.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Digits<const N: usize>(pub String);

impl<const N: usize> TryFrom<String> for Digits<N> {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s.len() == N && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Digits(s))
        } else {
            Err(format!("expected exactly {N} digits, got {s:?}"))
        }
    }
}

/// Card-level data.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardSpec {
    /// Issue date, no later than today. Default: 1 January of the previous year.
    pub issued: Option<Located<ProfileDate>>,
    /// Expiry: a date, or `expired` (yesterday). Default: the 10th birthday after issue
    /// (5th for holders under 18 at issue).
    pub expires: Option<Located<DateChoice>>,
    /// 15-digit card serial (共通カードAP EF 0001). Default: from the seed.
    pub serial: Option<Digits<15>>,
    /// 4-digit security code printed on the card. Default: from the seed.
    pub security_code: Option<Digits<4>>,
}

/// A date or the shortcut `expired`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum DateChoice {
    /// A fixed date.
    On(Date),
    /// Yesterday (relative to the clock the card is issued with).
    Expired,
}

impl TryFrom<String> for DateChoice {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s == "expired" {
            Ok(DateChoice::Expired)
        } else {
            parse_date(&s).map(DateChoice::On).map_err(|e| format!("{e}; or write `expired`"))
        }
    }
}

/// All PINs.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PinsSpec {
    /// JPKI auth PIN (default `1234`, 3 tries).
    pub auth: PinSpec<FourDigitPin>,
    /// JPKI signature password (default `ABC123`, 5 tries).
    pub sign: PinSpec<SignPasswordValue>,
    /// Text AP PIN (default: the auth PIN's value, 3 tries).
    pub text: PinSpec<FourDigitPin>,
    /// 共通カードAP PIN (default: the auth PIN's value, 3 tries).
    pub common: PinSpec<FourDigitPin>,
    /// 住基AP PIN (default: the auth PIN's value, 3 tries).
    pub juki: PinSpec<FourDigitPin>,
    /// Text AP 照合番号A counter (value = My Number; default 10 tries).
    pub text_code_a: CounterSpec,
    /// Text AP 照合番号B counter (default 10 tries).
    pub text_code_b: CounterSpec,
    /// Surface AP birth-date key counter (default 10 tries).
    pub surface_birth_date: CounterSpec,
    /// Surface AP 照合番号A counter (default 10 tries).
    pub surface_code_a: CounterSpec,
    /// Surface AP 照合番号B counter (10 tries, spec §6.2).
    pub surface_code_b: CounterSpec,
}

/// A holder-chosen PIN: value and counter.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawPinSpec<V>")]
#[serde(bound(deserialize = "V: Deserialize<'de>"))]
pub struct PinSpec<V> {
    /// The value.
    pub value: Option<V>,
    /// The counter: maximum and remaining tries.
    pub counter: CounterSpec,
}

impl<V> Default for PinSpec<V> {
    fn default() -> Self {
        PinSpec { value: None, counter: CounterSpec::default() }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPinSpec<V> {
    value: Option<V>,
    #[serde(default, deserialize_with = "max_tries")]
    max_tries: Option<u8>,
    remaining: Option<Located<Remaining>>,
}

impl<V> TryFrom<RawPinSpec<V>> for PinSpec<V> {
    type Error = String;

    fn try_from(raw: RawPinSpec<V>) -> Result<Self, String> {
        let counter = CounterSpec::try_from(RawCounterSpec { max_tries: raw.max_tries, remaining: raw.remaining })?;
        Ok(PinSpec { value: raw.value, counter })
    }
}

/// A retry counter.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(try_from = "RawCounterSpec")]
pub struct CounterSpec {
    /// Maximum tries (1–15).
    pub max_tries: Option<u8>,
    /// Tries left (0 = locked); at most `max_tries` (given or the PIN's default).
    pub remaining: Option<u8>,
    /// Where `remaining` was written.
    pub remaining_at: Option<Pos>,
}

/// A whole number written in YAML, as any integer or text, so that a wrong one is named
/// with the range it must be in rather than the library's "invalid u8".
fn whole_number<'de, D: serde::Deserializer<'de>>(
    d: D,
    field: &str,
    range: std::ops::RangeInclusive<u8>,
    note: &str,
) -> Result<u8, D::Error> {
    struct Any;
    impl serde::de::Visitor<'_> for Any {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number")
        }
        fn visit_i64<E>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_str<E>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
    }
    let text = d.deserialize_any(Any)?;
    match text.trim().parse::<u8>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(serde::de::Error::custom(format!(
            "{field} must be a whole number from {} to {} ({note}), got {text}",
            range.start(),
            range.end()
        ))),
    }
}

fn max_tries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    whole_number(d, "max_tries", 1..=15, "the card reports tries in 4 bits").map(Some)
}

/// `remaining:` as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Remaining(u8);

impl<'de> Deserialize<'de> for Remaining {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        whole_number(d, "remaining", 0..=15, "0 = locked").map(Remaining)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCounterSpec {
    #[serde(default, deserialize_with = "max_tries")]
    max_tries: Option<u8>,
    remaining: Option<Located<Remaining>>,
}

impl TryFrom<RawCounterSpec> for CounterSpec {
    type Error = String;

    fn try_from(raw: RawCounterSpec) -> Result<Self, String> {
        let remaining = raw.remaining.as_ref().map(|r| r.value.0);
        if let (Some(max), Some(left)) = (raw.max_tries, remaining) {
            if left > max {
                return Err(format!("remaining ({left}) cannot exceed max_tries ({max}); write remaining: 0 to {max}, or raise max_tries"));
            }
        }
        Ok(CounterSpec { max_tries: raw.max_tries, remaining, remaining_at: raw.remaining.map(|r| r.at) })
    }
}

impl CounterSpec {
    fn record(&self, value: Vec<u8>, default_max: u8) -> PinRecord {
        let max_tries = self.max_tries.unwrap_or(default_max);
        let remaining = self.remaining.unwrap_or(max_tries).min(max_tries);
        PinRecord { value: Zeroizing::new(value), max_tries, remaining }
    }

    /// Refuses `remaining` above the counter's maximum when that maximum is the PIN's
    /// default (a `max_tries` in the same place is checked while parsing).
    fn check(&self, field: &str, default_max: u8, source: &str) -> Result<(), ProfileError> {
        match (self.max_tries, self.remaining) {
            (None, Some(left)) if left > default_max => Err(ProfileError::at(
                self.remaining_at.as_ref(),
                source,
                format!(
                    "pins.{field}.remaining is {left}, above this PIN's {default_max} tries (its default max_tries); write remaining: 0 to {default_max}, or max_tries: {left} or more beside it"
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// A 4-digit PIN value.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct FourDigitPin(pub String);

impl TryFrom<String> for FourDigitPin {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if PinFormat::FourDigits.accepts(s.as_bytes()) {
            Ok(FourDigitPin(s))
        } else {
            let n = s.chars().count();
            let what = if n == 4 { "4 characters, not all digits 0-9".to_owned() } else { format!("{n} characters") };
            Err(format!("this PIN must be exactly 4 digits 0-9, such as \"1234\"; got {what}"))
        }
    }
}

/// A signature password value.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SignPasswordValue(pub String);

impl TryFrom<String> for SignPasswordValue {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if PinFormat::SignPassword.accepts(s.as_bytes()) {
            Ok(SignPasswordValue(s))
        } else {
            Err(format!(
                "the signature password must be 6 to 16 characters of upper-case A-Z and 0-9, such as \"ABC123\"; got {} characters",
                s.chars().count()
            ))
        }
    }
}

/// Certificates.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertificatesSpec {
    /// The auth certificate (EF 000A).
    pub auth: CertificateSpec,
    /// The signature certificate (EF 0001).
    pub sign: CertificateSpec,
}

/// One certificate.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CertificateSpec {
    /// `valid` (default), `expired`, `not_yet_valid`, or explicit dates.
    pub validity: Option<Located<Validity>>,
    /// Whether the certificate is on the card. Default: yes, except the signature
    /// certificate of a holder under 15 at issue (spec §4.6, §9.3).
    pub present: Option<bool>,
}

/// Certificate validity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Validity {
    /// From issue to the 5th birthday after issue, or the card's expiry if earlier (spec §9.2).
    Valid,
    /// Ended yesterday.
    Expired,
    /// Starts in 30 days.
    NotYetValid,
    /// Explicit dates.
    Dates {
        /// First valid day.
        not_before: ProfileDate,
        /// Last valid day (ends 23:59:59 JST).
        not_after: ProfileDate,
    },
}

/// A holder, fully resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// 氏名.
    pub name: String,
    /// 住所.
    pub address: String,
    /// 生年月日.
    pub birth_date: Date,
    /// 性別.
    pub sex: Sex,
    /// 個人番号 (12 digits).
    pub my_number: String,
    /// Municipality code (5 digits).
    pub municipality_code: String,
}

/// A certificate's validity window in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValidityWindow {
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
}

/// Everything needed to issue a card: the profile with every default filled in.
#[derive(Clone, Debug)]
pub struct Personalization {
    /// The card or a phone token: decides which applications and objects are issued.
    pub kind: DeviceKind,
    /// Key seed.
    pub seed: String,
    /// CA seed.
    pub ca_seed: String,
    /// ATR.
    pub atr: Vec<u8>,
    /// The interface the card is read through.
    pub interface: Interface,
    /// What power events do.
    pub power: PowerBehaviour,
    /// The holder.
    pub holder: Holder,
    /// Issue date.
    pub issued: Date,
    /// Card expiry date.
    pub expires: Date,
    /// Card serial (15 digits).
    pub serial: String,
    /// Security code (4 digits).
    pub security_code: String,
    /// Every PIN's value and counter, in [`PinId::ALL`] order.
    pub pins: Vec<PinRecord>,
    /// The auth certificate's validity; `None` = absent.
    pub auth_certificate: Option<ValidityWindow>,
    /// The signature certificate's validity; `None` = absent.
    pub sign_certificate: Option<ValidityWindow>,
    /// The surface AP photo (JPEG 2000); `None` = the bundled synthetic photo.
    pub photo: Option<Vec<u8>>,
    /// The contact ATR (with TS) of GET DATA `5F51` (spec §13.3).
    pub contact_atr: Vec<u8>,
    /// Whether the MF level has GET DATA `7F21` (spec §13.2).
    pub mf_certificate_7f21: bool,
}

const DEFAULT_SEED: &str = "mynasim-default";

impl Profile {
    /// Fills in every default. `today` is the issuing clock's date (injected, never read
    /// here). `source` names the profile in error messages.
    pub fn resolve(&self, today: Date, source: &str) -> Result<Personalization, ProfileError> {
        let seed = self.seed.clone().unwrap_or_else(|| DEFAULT_SEED.to_owned());
        let kind = self.kind.as_ref().map_or(DeviceKind::Card, |k| k.value);
        if kind.is_phone() {
            self.refuse_card_only_settings(kind, source)?;
        }
        let derived = |label: &str| -> [u8; 32] { Sha256::new().chain_update(seed.as_bytes()).chain_update(label).finalize().into() };
        let digits = |label: &str, n: usize| -> String { derived(label).iter().take(n).map(|b| char::from(b'0' + b % 10)).collect() };

        let holder = Holder {
            name: self.holder.name.clone().unwrap_or_else(|| "見本\u{3000}花子".to_owned()),
            address: self.holder.address.clone().unwrap_or_else(|| "東京都千代田区見本町一丁目２番３号".to_owned()),
            birth_date: self.holder.birth_date.as_ref().map_or(ymd(1985, Month::April, 1), |d| d.value.0),
            sex: self.holder.sex.unwrap_or(Sex::Female),
            my_number: match &self.holder.my_number {
                Some(n) => n.0.clone(),
                None => mynumber::complete(&digits("my_number", 11))
                    .ok_or_else(|| ProfileError::plain(source, "internal: bad derived number"))?,
            },
            municipality_code: self.holder.municipality_code.as_ref().map_or_else(|| "13101".to_owned(), |c| c.0.clone()),
        };
        let birth_at = self.holder.birth_date.as_ref().map(|d| &d.at);
        let issued_at = self.card.issued.as_ref().map(|d| &d.at);
        if holder.birth_date < MIN_BIRTH_DATE {
            return Err(ProfileError::at(
                birth_at,
                source,
                format!("holder.birth_date {} is before {MIN_BIRTH_DATE}; write a date from {MIN_BIRTH_DATE} on", holder.birth_date),
            ));
        }
        let issued = self.card.issued.as_ref().map_or_else(|| ymd(today.year() - 1, Month::January, 1), |d| d.value.0);
        if issued > today {
            return Err(ProfileError::at(
                issued_at,
                source,
                format!("card.issued {issued} is after today ({today}): a card cannot be issued in the future; write {today} or earlier"),
            ));
        }
        if holder.birth_date > issued {
            let (at, default) = match (birth_at, issued_at) {
                (Some(at), _) => (Some(at), if issued_at.is_none() { " (the default: 1 January of last year)" } else { "" }),
                (None, at) => (at, ""),
            };
            return Err(ProfileError::at(
                at,
                source,
                format!("holder.birth_date {} is after card.issued {issued}{default}; the holder is born before the card is issued: write an earlier birth date or a later card.issued", holder.birth_date),
            ));
        }
        let age_at_issue = years_between(holder.birth_date, issued);
        let expires = match self.card.expires.as_ref().map(|e| e.value) {
            Some(DateChoice::On(d)) => d,
            Some(DateChoice::Expired) => today - Duration::days(1),
            None => nth_birthday_after(holder.birth_date, issued, if age_at_issue >= 18 { 10 } else { 5 }),
        };
        if expires <= issued {
            let at = self.card.expires.as_ref().map(|e| &e.at).or(issued_at);
            return Err(ProfileError::at(
                at,
                source,
                format!("card.expires {expires} is not after card.issued {issued}; write an expiry after the issue date, or leave card.expires out (the 10th birthday after issue)"),
            ));
        }
        for (field, counter, default_max) in [
            ("auth", &self.pins.auth.counter, 3),
            ("sign", &self.pins.sign.counter, 5),
            ("text", &self.pins.text.counter, 3),
            ("common", &self.pins.common.counter, 3),
            ("juki", &self.pins.juki.counter, 3),
            ("text_code_a", &self.pins.text_code_a, 10),
            ("text_code_b", &self.pins.text_code_b, 10),
            ("surface_birth_date", &self.pins.surface_birth_date, 10),
            ("surface_code_a", &self.pins.surface_code_a, 10),
            ("surface_code_b", &self.pins.surface_code_b, 10),
        ] {
            counter.check(field, default_max, source)?;
        }

        let auth_pin = self.pins.auth.value.as_ref().map_or_else(|| "1234".to_owned(), |v| v.0.clone());
        let four = |spec: &PinSpec<FourDigitPin>| spec.value.as_ref().map_or_else(|| auth_pin.clone(), |v| v.0.clone());
        let era = mynumber::era_date(holder.birth_date);
        let security_code = self.card.security_code.as_ref().map_or_else(|| digits("security_code", 4), |c| c.0.clone());
        let code_b = format!("{era}{:04}{security_code}", expires.year());
        let pins = PinId::ALL
            .iter()
            .map(|pin| match pin {
                PinId::AuthPin => self.pins.auth.counter.record(auth_pin.clone().into_bytes(), 3),
                PinId::SignPassword => self
                    .pins
                    .sign
                    .counter
                    .record(self.pins.sign.value.as_ref().map_or_else(|| "ABC123".to_owned(), |v| v.0.clone()).into_bytes(), 5),
                PinId::TextPin => self.pins.text.counter.record(four(&self.pins.text).into_bytes(), 3),
                // Blocked on every card examined (spec §5.2); its value is unknown.
                PinId::TextReserved => PinRecord { value: Zeroizing::new(derived("0012").to_vec()), max_tries: 3, remaining: 0 },
                PinId::TextCodeA => self.pins.text_code_a.record(holder.my_number.clone().into_bytes(), 10),
                PinId::TextCodeB => self.pins.text_code_b.record(code_b.clone().into_bytes(), 10),
                PinId::SurfaceBirthDate => self.pins.surface_birth_date.record(era.clone().into_bytes(), 10),
                PinId::SurfaceCodeB => self.pins.surface_code_b.record(code_b.clone().into_bytes(), 10),
                PinId::SurfaceCodeA => self.pins.surface_code_a.record(holder.my_number.clone().into_bytes(), 10),
                PinId::CommonPin => self.pins.common.counter.record(four(&self.pins.common).into_bytes(), 3),
                PinId::JukiPin => self.pins.juki.counter.record(four(&self.pins.juki).into_bytes(), 3),
            })
            .collect();

        let standard = ValidityWindow {
            not_before: start_of_day_jst(issued),
            not_after: end_of_day_jst(nth_birthday_after(holder.birth_date, issued, 5).min(expires)),
        };
        let window = |spec: &CertificateSpec, which: &str| -> Result<ValidityWindow, ProfileError> {
            Ok(match spec.validity.as_ref().map_or(Validity::Valid, |v| v.value) {
                Validity::Valid => standard,
                Validity::Expired => ValidityWindow {
                    not_before: start_of_day_jst(today - Duration::days(5 * 365)),
                    not_after: end_of_day_jst(today - Duration::days(1)),
                },
                Validity::NotYetValid => {
                    let start = today + Duration::days(30);
                    ValidityWindow {
                        not_before: start_of_day_jst(start),
                        not_after: end_of_day_jst(nth_birthday_after(holder.birth_date, start, 5)),
                    }
                }
                Validity::Dates { not_before, not_after } => {
                    if not_after.0 < not_before.0 {
                        return Err(ProfileError::at(
                            spec.validity.as_ref().map(|v| &v.at),
                            source,
                            format!(
                                "certificates.{which}.validity: not_after {} is before not_before {}; write not_after on or after not_before",
                                not_after.0, not_before.0
                            ),
                        ));
                    }
                    ValidityWindow { not_before: start_of_day_jst(not_before.0), not_after: end_of_day_jst(not_after.0) }
                }
            })
        };
        let auth_certificate =
            if self.certificates.auth.present.unwrap_or(true) { Some(window(&self.certificates.auth, "auth")?) } else { None };
        let sign_default_present = age_at_issue >= 15;
        let sign_certificate = if self.certificates.sign.present.unwrap_or(sign_default_present) {
            Some(window(&self.certificates.sign, "sign")?)
        } else {
            None
        };

        let default_atr = if kind.is_phone() { ATR_PHONE } else { ATR_CONTACT };
        let atr = self.atr.clone().map_or_else(|| default_atr.to_vec(), |a| a.0);
        let interface = self.interface.unwrap_or_else(|| Interface::of_atr(&atr));
        let power = PowerBehaviour {
            warm_reset: self.reset.warm.unwrap_or_else(|| interface.default_warm_reset()),
            refuse_first_command: self.reset.first_command_after_power_up == Some(FirstCommand::Refuse),
        };
        // [inf] Without contact_atr: the presented ATR when it is a valid contact ATR, else
        // the default contact ATR (spec §13.3; a contactless ATR is the reader's making).
        let contact_atr = match &self.contact_atr {
            Some(chosen) => chosen.0.clone(),
            None if Interface::of_atr(&atr) == Interface::Contact && check_contact_atr(&atr).is_ok() => atr.clone(),
            None => ATR_CONTACT.to_vec(),
        };
        Ok(Personalization {
            kind,
            ca_seed: self.ca_seed.clone().unwrap_or_else(|| DEFAULT_CA_SEED.to_owned()),
            atr,
            interface,
            power,
            serial: self.card.serial.as_ref().map_or_else(|| digits("serial", 15), |s| s.0.clone()),
            holder,
            issued,
            expires,
            security_code,
            pins,
            auth_certificate,
            sign_certificate,
            photo: None,
            seed,
            contact_atr,
            mf_certificate_7f21: self.mf.certificate_7f21.unwrap_or(true),
        })
    }
}

impl Profile {
    /// A phone token holds only the JPKI AP: a setting for another AP is an error naming it
    /// (see [`DeviceKind`]).
    fn refuse_card_only_settings(&self, kind: DeviceKind, source: &str) -> Result<(), ProfileError> {
        let counter_set = |c: &CounterSpec| c.max_tries.is_some() || c.remaining.is_some();
        let pins = &self.pins;
        let settings = [
            ("pins.text", "the text AP (券面事項入力補助AP)", pins.text.value.is_some() || counter_set(&pins.text.counter)),
            ("pins.common", "the common AP (共通カードAP)", pins.common.value.is_some() || counter_set(&pins.common.counter)),
            ("pins.juki", "the juki AP (住基AP)", pins.juki.value.is_some() || counter_set(&pins.juki.counter)),
            ("pins.text_code_a", "the text AP (券面事項入力補助AP)", counter_set(&pins.text_code_a)),
            ("pins.text_code_b", "the text AP (券面事項入力補助AP)", counter_set(&pins.text_code_b)),
            ("pins.surface_birth_date", "the surface AP (券面事項確認AP)", counter_set(&pins.surface_birth_date)),
            ("pins.surface_code_a", "the surface AP (券面事項確認AP)", counter_set(&pins.surface_code_a)),
            ("pins.surface_code_b", "the surface AP (券面事項確認AP)", counter_set(&pins.surface_code_b)),
            ("card.security_code", "the card surface (券面事項確認AP)", self.card.security_code.is_some()),
            ("photo", "the surface AP (券面事項確認AP)", self.photo.is_some()),
        ];
        match settings.iter().find(|(_, _, set)| *set) {
            Some((field, holder, _)) => Err(ProfileError::at(
                self.kind.as_ref().map(|k| &k.at),
                source,
                format!(
                    "kind: {} is a phone's JPKI token, which holds only the JPKI AP; {field} belongs to {holder}, which it does not have: remove {field}, or write kind: card",
                    kind.name()
                ),
            )),
            None => Ok(()),
        }
    }
}

fn ymd(year: i32, month: Month, day: u8) -> Date {
    Date::from_calendar_date(year, month, day).unwrap_or(Date::MIN)
}

/// Whole years from `from` to `to`.
pub fn years_between(from: Date, to: Date) -> i32 {
    let mut years = to.year() - from.year();
    if (to.month() as u8, to.day()) < (from.month() as u8, from.day()) {
        years -= 1;
    }
    years
}

/// The `n`-th birthday strictly after `after` (spec §9.2 "5回目の誕生日").
/// \[unk\] A 29 February birthday falls on 28 February in common years.
pub fn nth_birthday_after(birth: Date, after: Date, n: i32) -> Date {
    let birthday_in =
        |year: i32| Date::from_calendar_date(year, birth.month(), birth.day()).unwrap_or_else(|_| ymd(year, Month::February, 28));
    let first_year = if birthday_in(after.year()) > after { after.year() } else { after.year() + 1 };
    birthday_in(first_year + n - 1)
}

const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

/// 00:00:00 JST of `day`, in UTC.
pub fn start_of_day_jst(day: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(day, Time::MIDNIGHT).assume_offset(JST).to_offset(UtcOffset::UTC)
}

/// 23:59:59 JST of `day` (= 14:59:59 UTC, spec §9.1), in UTC.
pub fn end_of_day_jst(day: Date) -> OffsetDateTime {
    PrimitiveDateTime::new(day, Time::from_hms(23, 59, 59).unwrap_or(Time::MIDNIGHT)).assume_offset(JST).to_offset(UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 23);

    #[test]
    fn empty_profile_is_a_working_card() {
        let p = Profile::from_yaml("", "empty.yaml").unwrap().resolve(TODAY, "empty.yaml").unwrap();
        assert!(mynumber::validate(&p.holder.my_number).is_ok());
        assert_eq!(p.issued, date!(2025 - 01 - 01));
        assert_eq!(p.expires, date!(2034 - 04 - 01));
        let auth = p.auth_certificate.unwrap();
        assert_eq!(auth.not_after.date(), date!(2029 - 04 - 01));
        assert_eq!((auth.not_after.hour(), auth.not_after.minute()), (14, 59));
        assert!(p.sign_certificate.is_some());
        assert_eq!(p.pins[PinId::AuthPin.index()].value.as_slice(), b"1234");
        assert_eq!(p.pins[PinId::SurfaceBirthDate.index()].value.as_slice(), b"600401");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let err = Profile::from_yaml("holder:\n  name: 見本\u{3000}花子\n  nmae: y\n", "cards/bad.yaml").unwrap_err();
        assert!(err.message.contains("cards/bad.yaml:3:3"), "{}", err.message);
        assert!(err.message.contains("unknown field `nmae`"), "{}", err.message);

        let err = Profile::from_yaml("holder:\n  my_number: '123456789010'\n", "bad.yaml").unwrap_err();
        assert!(err.message.contains("bad.yaml:2:14"), "{}", err.message);
        assert!(err.message.contains("check digit"), "{}", err.message);

        let err = Profile::from_yaml("pins:\n  auth:\n    value: '12345'\n", "bad.yaml").unwrap_err();
        assert!(err.message.contains("exactly 4 digits"), "{}", err.message);

        let err = Profile::from_yaml("pins:\n  sign:\n    value: abc123\n", "bad.yaml").unwrap_err();
        assert!(err.message.contains("upper-case"), "{}", err.message);

        let err = Profile::from_yaml("holder:\n  birth_date: 1985-02-30\n", "bad.yaml").unwrap_err();
        assert!(err.message.contains("bad.yaml:2:15"), "{}", err.message);

        let err = Profile::from_yaml("pins:\n  auth:\n    max_tries: 3\n    remaining: 4\n", "bad.yaml").unwrap_err();
        assert!(err.message.contains("cannot exceed"), "{}", err.message);
    }

    #[test]
    fn values_beyond_the_cards_limits_are_refused_with_their_position() {
        // Before: a 1 MB name was accepted and its TLV length truncated to 16 bits.
        let long = format!("holder:\n  name: \"見本　{}\"\n", "花".repeat(1 << 20));
        let err = Profile::from_yaml(&long, "big.yaml").unwrap_err();
        assert!(err.message.contains("big.yaml:2:9") && err.message.contains("at most 100 characters"), "{}", &err.message[..300]);
        let at_limit = format!("holder:\n  name: \"見本　{}\"\n", "花".repeat(MAX_NAME_CHARS - 3));
        assert!(Profile::from_yaml(&at_limit, "t").unwrap().resolve(TODAY, "t").is_ok());
        let address = format!("holder:\n  address: \"{}\"\n", "町".repeat(MAX_ADDRESS_CHARS + 1));
        let err = Profile::from_yaml(&address, "t.yaml").unwrap_err();
        assert!(err.message.contains("t.yaml:2:12") && err.message.contains("at most 200 characters"), "{}", err.message);
    }

    #[test]
    fn the_longest_values_fit_a_readable_card_face() {
        use rand_core::SeedableRng;
        // Complex kanji (many set pixels) and an incompressible photo at every limit.
        let yaml = format!("holder:\n  name: \"見本　{}\"\n  address: \"{}\"\n", "龘".repeat(97), "鬱".repeat(MAX_ADDRESS_CHARS));
        let mut p = Profile::from_yaml(&yaml, "t").unwrap().resolve(TODAY, "t").unwrap();
        let mut photo = crate::images::SYNTHETIC_PHOTO_JP2[..8].to_vec();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        while photo.len() < MAX_PHOTO_BYTES {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            photo.push(x as u8);
        }
        p.photo = Some(photo);
        let rng = Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(1));
        let card = crate::issue::issue(&p, &mut crate::pki::MemoryKeyCache::default(), rng).unwrap();
        let face = card.applet(crate::applets::AppletId::Surface).and_then(|a| a.binary(crate::applets::surface::CARD_FACE)).unwrap();
        // READ BINARY reaches offsets up to 32,767 (spec §3.4) with up to 256 bytes each.
        assert!(face.len() <= 32_767 + 256, "EF 0002 is {} bytes", face.len());
    }

    #[test]
    fn cross_field_errors_point_at_the_field() {
        let yaml = "card:\n  issued: 2025-01-01\n  expires: 2024-01-01\n";
        let err = Profile::from_yaml(yaml, "e.yaml").unwrap().resolve(TODAY, "e.yaml").unwrap_err();
        assert!(err.message.contains("e.yaml:3:12") && err.message.contains("card.expires"), "{}", err.message);
        let yaml = "pins:\n  auth:\n    remaining: 9\n";
        let err = Profile::from_yaml(yaml, "r.yaml").unwrap().resolve(TODAY, "r.yaml").unwrap_err();
        assert!(err.message.contains("r.yaml:3:16") && err.message.contains("max_tries"), "{}", err.message);
        // From a base profile: the position names the base's file.
        let base = Profile::from_yaml("holder:\n  birth_date: 2026-01-01\n", "base.yaml").unwrap();
        let over = Profile::from_yaml("card:\n  issued: 2025-01-01\n", "over.yaml").unwrap();
        let err = base.overlay(over).resolve(TODAY, "over.yaml").unwrap_err();
        assert!(err.message.contains("base.yaml:2:15"), "{}", err.message);
    }

    #[test]
    fn minors_have_no_signature_certificate_by_default() {
        let yaml = "holder:\n  birth_date: 2015-06-01\ncard:\n  issued: 2025-01-10\n";
        let p = Profile::from_yaml(yaml, "t").unwrap().resolve(TODAY, "t").unwrap();
        assert!(p.sign_certificate.is_none());
        // Under 18 at issue: the card runs to the 5th birthday.
        assert_eq!(p.expires, date!(2029 - 06 - 01));
    }

    #[test]
    fn shortcuts() {
        let yaml = "card:\n  expires: expired\ncertificates:\n  sign:\n    validity: not_yet_valid\n";
        let p = Profile::from_yaml(yaml, "t").unwrap().resolve(TODAY, "t").unwrap();
        assert_eq!(p.expires, date!(2026 - 11 - 22));
        assert!(p.auth_certificate.unwrap().not_after < start_of_day_jst(TODAY));
        assert!(p.sign_certificate.unwrap().not_before > start_of_day_jst(TODAY));
    }

    #[test]
    fn birthdays() {
        assert_eq!(nth_birthday_after(date!(1985 - 04 - 01), date!(2025 - 04 - 01), 1), date!(2026 - 04 - 01));
        assert_eq!(nth_birthday_after(date!(1985 - 04 - 01), date!(2025 - 03 - 31), 1), date!(2025 - 04 - 01));
        assert_eq!(nth_birthday_after(date!(2000 - 02 - 29), date!(2024 - 03 - 01), 1), date!(2025 - 02 - 28));
    }
}
