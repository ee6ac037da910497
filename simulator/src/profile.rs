//! Card profiles: one YAML document describes one card (issue "Card core", "Card profiles").
//!
//! Parsing takes the text and a name for messages; it never opens files. Every field is
//! optional: an empty document is a valid, fully working card with a fictitious holder.
//! Values are checked while parsing, so an error names the file, line and column.
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

/// The ATR of the contact interface most often reported (spec §2.2); the default.
pub const ATR_CONTACT: &[u8] =
    &[0x3B, 0xDA, 0x13, 0xFF, 0x81, 0x31, 0xFB, 0x46, 0x80, 0x12, 0x39, 0x2F, 0x31, 0xC1, 0x73, 0xC6, 0x01, 0xC0, 0x3B];
/// The ATR in OpenSC's `card-jpki.c` table (spec §2.2).
pub const ATR_OPENSC: &[u8] = &[0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14];
/// A contactless (PC/SC Part 3, Type B) ATR reported for the card (spec §2.2).
pub const ATR_CONTACTLESS: &[u8] = &[0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x05, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x7F];

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
    pub seed: Option<String>,
    /// Seed of the test CAs (shared by all cards by default).
    pub ca_seed: Option<String>,
    /// `contact` (default), `opensc`, `contactless`, or the ATR in hex.
    pub atr: Option<AtrChoice>,
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
}

impl Profile {
    /// Parses a profile. `source` names the file in error messages.
    pub fn from_yaml(text: &str, source: &str) -> Result<Profile, ProfileError> {
        serde_saphyr::from_str::<Option<Profile>>(text)
            .map(Option::unwrap_or_default)
            .map_err(|e| ProfileError { message: e.render_with_options(serde_saphyr::render_options! { source_name: Some(source) }) })
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
            CounterSpec { max_tries: over.max_tries.or(base.max_tries), remaining: over.remaining.or(base.remaining) }
        }
        fn certificate(base: CertificateSpec, over: CertificateSpec) -> CertificateSpec {
            CertificateSpec { validity: over.validity.or(base.validity), present: over.present.or(base.present) }
        }
        let (b, o) = (self, over);
        Profile {
            extends: o.extends,
            seed: o.seed.or(b.seed),
            ca_seed: o.ca_seed.or(b.ca_seed),
            atr: o.atr.or(b.atr),
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
        }
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

/// The holder (券面事項), spec §5.3 EF 0002, §6.3 EF 0002.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HolderSpec {
    /// 氏名: family and given name separated by U+3000.
    pub name: Option<String>,
    /// 住所.
    pub address: Option<String>,
    /// 生年月日, `YYYY-MM-DD`.
    pub birth_date: Option<ProfileDate>,
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
    /// Issue date. Default: 1 January of the previous year.
    pub issued: Option<ProfileDate>,
    /// Expiry: a date, or `expired` (yesterday). Default: the 10th birthday after issue
    /// (5th for holders under 18 at issue).
    pub expires: Option<DateChoice>,
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
    max_tries: Option<u8>,
    remaining: Option<u8>,
}

impl<V> TryFrom<RawPinSpec<V>> for PinSpec<V> {
    type Error = String;

    fn try_from(raw: RawPinSpec<V>) -> Result<Self, String> {
        let counter = CounterSpec::try_from(RawCounterSpec { max_tries: raw.max_tries, remaining: raw.remaining })?;
        Ok(PinSpec { value: raw.value, counter })
    }
}

/// A retry counter.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(try_from = "RawCounterSpec")]
pub struct CounterSpec {
    /// Maximum tries (1–15).
    pub max_tries: Option<u8>,
    /// Tries left (0 = locked); at most `max_tries`.
    pub remaining: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCounterSpec {
    max_tries: Option<u8>,
    remaining: Option<u8>,
}

impl TryFrom<RawCounterSpec> for CounterSpec {
    type Error = String;

    fn try_from(raw: RawCounterSpec) -> Result<Self, String> {
        if let Some(max) = raw.max_tries {
            if !(1..=15).contains(&max) {
                return Err(format!("max_tries must be 1 to 15 (the card reports tries in 4 bits), got {max}"));
            }
        }
        if let (Some(max), Some(left)) = (raw.max_tries, raw.remaining) {
            if left > max {
                return Err(format!("remaining ({left}) cannot exceed max_tries ({max})"));
            }
        }
        if raw.remaining.is_some_and(|left| left > 15) {
            return Err("remaining must be 0 to 15".into());
        }
        Ok(CounterSpec { max_tries: raw.max_tries, remaining: raw.remaining })
    }
}

impl CounterSpec {
    fn record(self, value: Vec<u8>, default_max: u8) -> PinRecord {
        let max_tries = self.max_tries.unwrap_or(default_max);
        let remaining = self.remaining.unwrap_or(max_tries).min(max_tries);
        PinRecord { value: Zeroizing::new(value), max_tries, remaining }
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
            Err(format!("this PIN must be exactly 4 digits, got {} characters", s.chars().count()))
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
            Err("the signature password must be 6 to 16 characters of upper-case A-Z and 0-9".into())
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
    pub validity: Option<Validity>,
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
    /// Key seed.
    pub seed: String,
    /// CA seed.
    pub ca_seed: String,
    /// ATR.
    pub atr: Vec<u8>,
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
}

const DEFAULT_SEED: &str = "mynasim-default";

impl Profile {
    /// Fills in every default. `today` is the issuing clock's date (injected, never read
    /// here). `source` names the profile in error messages.
    pub fn resolve(&self, today: Date, source: &str) -> Result<Personalization, ProfileError> {
        let seed = self.seed.clone().unwrap_or_else(|| DEFAULT_SEED.to_owned());
        let derived = |label: &str| -> [u8; 32] { Sha256::new().chain_update(seed.as_bytes()).chain_update(label).finalize().into() };
        let digits = |label: &str, n: usize| -> String { derived(label).iter().take(n).map(|b| char::from(b'0' + b % 10)).collect() };

        let holder = Holder {
            name: self.holder.name.clone().unwrap_or_else(|| "見本\u{3000}花子".to_owned()),
            address: self.holder.address.clone().unwrap_or_else(|| "東京都千代田区見本町一丁目２番３号".to_owned()),
            birth_date: self.holder.birth_date.map_or(ymd(1985, Month::April, 1), |d| d.0),
            sex: self.holder.sex.unwrap_or(Sex::Female),
            my_number: match &self.holder.my_number {
                Some(n) => n.0.clone(),
                None => mynumber::complete(&digits("my_number", 11))
                    .ok_or_else(|| ProfileError::plain(source, "internal: bad derived number"))?,
            },
            municipality_code: self.holder.municipality_code.as_ref().map_or_else(|| "13101".to_owned(), |c| c.0.clone()),
        };
        if holder.name.is_empty() || holder.address.is_empty() {
            return Err(ProfileError::plain(source, "holder.name and holder.address must not be empty"));
        }
        let issued = self.card.issued.map_or_else(|| ymd(today.year() - 1, Month::January, 1), |d| d.0);
        if holder.birth_date > issued {
            return Err(ProfileError::plain(source, format!("holder.birth_date {} is after card.issued {issued}", holder.birth_date)));
        }
        let age_at_issue = years_between(holder.birth_date, issued);
        let expires = match self.card.expires {
            Some(DateChoice::On(d)) => d,
            Some(DateChoice::Expired) => today - Duration::days(1),
            None => nth_birthday_after(holder.birth_date, issued, if age_at_issue >= 18 { 10 } else { 5 }),
        };
        if expires <= issued {
            return Err(ProfileError::plain(source, format!("card.expires {expires} must be after card.issued {issued}")));
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
        let window = |spec: &CertificateSpec| -> Result<ValidityWindow, ProfileError> {
            Ok(match spec.validity.unwrap_or(Validity::Valid) {
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
                        return Err(ProfileError::plain(source, "certificate not_after is before not_before"));
                    }
                    ValidityWindow { not_before: start_of_day_jst(not_before.0), not_after: end_of_day_jst(not_after.0) }
                }
            })
        };
        let auth_certificate = if self.certificates.auth.present.unwrap_or(true) { Some(window(&self.certificates.auth)?) } else { None };
        let sign_default_present = age_at_issue >= 15;
        let sign_certificate =
            if self.certificates.sign.present.unwrap_or(sign_default_present) { Some(window(&self.certificates.sign)?) } else { None };

        Ok(Personalization {
            ca_seed: self.ca_seed.clone().unwrap_or_else(|| DEFAULT_CA_SEED.to_owned()),
            atr: self.atr.clone().map_or_else(|| ATR_CONTACT.to_vec(), |a| a.0),
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
        })
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
        let err = Profile::from_yaml("holder:\n  name: x\n  nmae: y\n", "cards/bad.yaml").unwrap_err();
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
