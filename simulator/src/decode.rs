//! APDUs named in the card's terms: `SELECT 公的個人認証AP`, `SELECT EF 000A (auth
//! certificate)`, `VERIFY auth PIN 0018 (4 bytes, masked)`, `READ BINARY 000A offset 0 len 256`,
//! `COMPUTE DIGITAL SIGNATURE P1=00 with key 0017 (auth key)`; each answer with its status
//! word's meaning. One decoder for transcripts, failure reports and log lines.
//!
//! The decoder parses with the card's own parser ([`Command::try_from`]), so a command is
//! named the way the card understands it. What "the current EF" is comes from the card
//! itself where the caller has it ([`Decoder::at`]: exact, whatever came before, client
//! programs and power events included); otherwise the decoder follows the selection from
//! the commands and their status words, as a trace reader would. It never shows PIN values:
//! VERIFY and CHANGE are described by their length only.
//!
//! Pure and I/O-free like the rest of the core; it knows the card's layout from the applet
//! modules' constants.

use serde::{Deserialize, Serialize};

use crate::apdu::Apdu;
use crate::applets::{self, common, isd, jpki, juki, surface, text, AppletId};
use crate::command::{Command, KeyChoice, SignMode, SmClass, Target};
use crate::sw::Sw;
use crate::Card;

/// The selection a trace reader follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Selection {
    /// `None` = the MF level (the Issuer Security Domain).
    applet: Option<AppletId>,
    /// The current EF / object.
    current: Option<u16>,
}

/// Names the commands of one card's APDU stream, following its selection.
///
/// Its state is small and serializable, so a record can keep the decoder as it stood when
/// a command was sent (a copy of [`Decoder::at`]) and name the command only when a report
/// needs it, after crossing a process boundary as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decoder {
    selection: Selection,
    /// The selection the last command makes if it succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending: Option<Selection>,
}

impl Decoder {
    /// A decoder at power-up (the MF level current).
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// A decoder at `card`'s current selection, to name the next command exactly.
    pub fn at(card: &Card) -> Decoder {
        let session = card.session();
        let applet = session.applet.and_then(|i| card.applets().get(i));
        let files = applet.map_or(card.isd().files.as_slice(), |a| a.files.as_slice());
        let current = session.current.and_then(|i| files.get(i)).map(|ef| ef.fid);
        Decoder { selection: Selection { applet: applet.map(|a| a.id), current }, pending: None }
    }

    /// A power event: the MF level is current again. (A warm reset that keeps the session,
    /// spec §13.4, is not visible in the APDU stream; call this for power-off and power-on.)
    pub fn power_cycle(&mut self) {
        *self = Decoder::default();
    }

    /// Describes a command. Call [`Decoder::response`] with its answer next.
    pub fn command(&mut self, apdu: &[u8]) -> String {
        self.pending = None;
        let parsed = Apdu::parse(apdu).and_then(|a| Command::try_from(&a));
        match parsed {
            Ok(command) => self.describe(command),
            Err(sw) => {
                let header: Vec<String> = apdu.iter().take(4).map(|b| format!("{b:02X}")).collect();
                format!("{} (not a command this card runs: {})", header.join(" "), sw.meaning())
            }
        }
    }

    /// Describes an answer (data, then SW1 SW2) and, when it succeeds, takes the selection
    /// the command made.
    pub fn response(&mut self, rapdu: &[u8]) -> String {
        let Some(sw) = Sw::from_response(rapdu) else {
            return format!("{} bytes: not an answer (no status word)", rapdu.len());
        };
        // READ BINARY / VERIFY by SFI select their EF even when they fail afterwards (a
        // protected read, a wrong PIN): only "not found" leaves the selection.
        if let Some(selection) = self.pending.take() {
            if sw.is_success() || (sw.tries_left().is_some() || sw == Sw::SECURITY_STATUS_NOT_SATISFIED || sw == Sw::PIN_BLOCKED) {
                self.selection = selection;
            }
        }
        match rapdu.len() - 2 {
            0 => format!("{sw} {}", sw.meaning()),
            n => format!("{sw} {}, {n} bytes", sw.meaning()),
        }
    }

    fn describe(&mut self, command: Command<'_>) -> String {
        match command {
            Command::SelectApplication { name } if name == isd::AID => self.select_isd(),
            Command::SelectIssuerSecurityDomain => self.select_isd(),
            Command::SelectApplication { name } => match applet_of(name) {
                Some(applet) => {
                    self.pending = Some(Selection { applet: Some(applet), current: None });
                    format!("SELECT {}", applet_name(applet))
                }
                None => format!("SELECT application {} (not on this card)", crate::pki::hex(name).to_uppercase()),
            },
            Command::SelectMasterFile => "SELECT MF (00 A4 00 00)".to_owned(),
            Command::SelectFile { fid } => {
                self.pending = Some(Selection { current: Some(fid), ..self.selection });
                format!("SELECT EF {}", self.object(fid))
            }
            Command::ReadBinary { target, offset, le, .. } => {
                format!("READ BINARY {} offset {offset} len {le}", self.target(target))
            }
            Command::ReadRecord { target, record } => format!("READ RECORD {record} of {}", self.target(target)),
            Command::Verify { target, value } => match value {
                Some(value) => format!("VERIFY {} ({} bytes, masked)", self.target(target), value.len()),
                None => format!("VERIFY {}: tries left?", self.target(target)),
            },
            Command::ChangeReferenceData { target, new_value } => {
                format!("CHANGE REFERENCE DATA {} (new value {} bytes, masked)", self.target(target), new_value.len())
            }
            Command::ChangeKey { target, new_value } => {
                format!("CHANGE KEY {} (new value {} bytes, masked)", self.target(target), new_value.len())
            }
            Command::ComputeSignature { mode, key, data } => {
                format!("COMPUTE DIGITAL SIGNATURE P1={:02X} ({}) with {}, {} bytes", mode.p1(), sign_mode(mode), self.key(key), data.len())
            }
            Command::GetChallenge { len } => format!("GET CHALLENGE {len} bytes"),
            Command::InternalAuthenticate { key, data } => {
                format!("INTERNAL AUTHENTICATE with {}, {}-byte challenge", self.key(key), data.len())
            }
            Command::SetSessionKey { data } => format!("SET SESSION KEY ({}-byte RSA-OAEP block)", data.len()),
            Command::GetData { tag, .. } => match isd::tag::name(tag) {
                Some(name) => format!("GET DATA {tag:04X} ({name})"),
                None => format!("GET DATA {tag:04X}"),
            },
            Command::LastCommandIndicator => "LAST COMMAND INDICATOR (80 FC, the iPhone token's)".to_owned(),
            Command::ManageAttributes { .. } => "MANAGE ATTRIBUTES (an issuer command)".to_owned(),
            Command::SecureMessaging { class, ins, data, .. } => {
                let class = match class {
                    SmClass::Proprietary => "CLA 08",
                    SmClass::Authenticated => "CLA 0C",
                };
                let what = match ins {
                    0xA4 => "SELECT EF",
                    0x20 => "VERIFY",
                    0xB0 => "READ BINARY",
                    _ => "a command",
                };
                format!("secure messaging ({class}): {what}, {} protected bytes", data.len())
            }
        }
    }

    fn select_isd(&mut self) -> String {
        self.pending = Some(Selection::default());
        "SELECT the Issuer Security Domain (MF level)".to_owned()
    }

    /// `000A (auth certificate)` for an object of the current application.
    fn object(&self, fid: u16) -> String {
        match object_name(self.selection.applet, fid) {
            Some(name) => format!("{fid:04X} ({name})"),
            None => format!("{fid:04X}"),
        }
    }

    /// The object a command acts on; by SFI it becomes current (spec §3.3, §13.5).
    fn target(&mut self, target: Target) -> String {
        match target {
            Target::Current => match self.selection.current {
                Some(fid) => self.object(fid),
                None => "the current EF (none selected)".to_owned(),
            },
            Target::Sfi(sfi) => {
                let fid = u16::from(sfi);
                self.pending = Some(Selection { current: Some(fid), ..self.selection });
                format!("{} by SFI {sfi:02X}", self.object(fid))
            }
        }
    }

    fn key(&mut self, key: KeyChoice) -> String {
        match key {
            KeyChoice::Default => "the AP's default key".to_owned(),
            KeyChoice::Object(Target::Current) if self.selection.current.is_none() => "the current key (none selected)".to_owned(),
            KeyChoice::Object(target) => format!("key {}", self.target(target)),
        }
    }
}

/// The application a DF name (or a prefix of one) selects on a card with every application.
fn applet_of(name: &[u8]) -> Option<AppletId> {
    applets::find_by_name(&AppletId::ALL, |id| id.aid(), name).and_then(|i| AppletId::ALL.get(i).copied())
}

/// An application's name as the card's documents give it.
pub fn applet_name(applet: AppletId) -> &'static str {
    match applet {
        AppletId::Jpki => "公的個人認証AP",
        AppletId::Text => "券面事項入力補助AP",
        AppletId::Surface => "券面事項確認AP",
        AppletId::Common => "共通カードAP",
        AppletId::Juki => "住基AP",
    }
}

/// What an object of an application (or of the MF level) is.
pub fn object_name(applet: Option<AppletId>, fid: u16) -> Option<&'static str> {
    Some(match (applet, fid) {
        (None, isd::INTERNAL_EF) => "internal EF",
        (Some(AppletId::Jpki), jpki::SIGNATURE_CERTIFICATE) => "signature certificate",
        (Some(AppletId::Jpki), jpki::SIGNATURE_CA_CERTIFICATE) => "signature CA certificate",
        (Some(AppletId::Jpki), jpki::TOKEN_INFO) => "token information",
        (Some(AppletId::Jpki), jpki::CERTIFICATE_AVAILABILITY) => "certificate availability",
        (Some(AppletId::Jpki), jpki::AUTH_CERTIFICATE) => "auth certificate",
        (Some(AppletId::Jpki), jpki::AUTH_CA_CERTIFICATE) => "auth CA certificate",
        (Some(AppletId::Jpki), jpki::AUTH_KEY) => "auth key",
        (Some(AppletId::Jpki), jpki::AUTH_PIN) => "auth PIN",
        (Some(AppletId::Jpki), jpki::SIGNATURE_KEY) => "signature key",
        (Some(AppletId::Jpki), jpki::SIGNATURE_PASSWORD) => "signature password",
        (Some(AppletId::Text), text::MY_NUMBER) => "個人番号",
        (Some(AppletId::Text), text::ATTRIBUTES) => "基本4情報",
        (Some(AppletId::Text), text::INTEGRITY) => "integrity record",
        (Some(AppletId::Text), text::CV_CERTIFICATE) => "CV certificate",
        (Some(AppletId::Text), text::BASIC_INFO) => "AP basic information",
        (Some(AppletId::Text), text::SESSION_PUBLIC_KEY) => "session-key public key",
        (Some(AppletId::Text), text::SIGNED_PUBLIC_KEY) => "signed public key",
        (Some(AppletId::Text), text::PIN) => "text AP PIN",
        (Some(AppletId::Text), text::RESERVED_KEY) => "reserved key",
        (Some(AppletId::Text), text::CARD_KEY) => "card key",
        (Some(AppletId::Text), text::CODE_A) => "照合番号A",
        (Some(AppletId::Text), text::CODE_B) => "照合番号B",
        (Some(AppletId::Surface), surface::AGE_RECORD) => "age record",
        (Some(AppletId::Surface), surface::CARD_FACE) => "card face",
        (Some(AppletId::Surface), surface::BASIC_INFO) => "AP basic information",
        (Some(AppletId::Surface), surface::CV_CERTIFICATE) => "CV certificate",
        (Some(AppletId::Surface), surface::MY_NUMBER_IMAGE) => "個人番号 image",
        (Some(AppletId::Surface), surface::BIRTH_DATE_KEY) => "birth-date key",
        (Some(AppletId::Surface), surface::CODE_B) => "照合番号B",
        (Some(AppletId::Surface), surface::CODE_A) => "照合番号A",
        (Some(AppletId::Surface), surface::CARD_KEY) => "card key",
        (Some(AppletId::Common), common::CARD_INFO) => "card information",
        (Some(AppletId::Common), common::KEY_REFERENCE) => "key reference",
        (Some(AppletId::Common), common::INTERNAL_AUTH_KEY) => "internal-authentication key",
        (Some(AppletId::Common), common::PIN) => "common AP PIN",
        (Some(AppletId::Juki), juki::KEY_REFERENCE) => "key reference",
        (Some(AppletId::Juki), juki::PIN) => "juki AP PIN",
        _ => return None,
    })
}

fn sign_mode(mode: SignMode) -> &'static str {
    match mode {
        SignMode::Pkcs1Raw => "PKCS#1 v1.5 over the data as given",
        SignMode::Pkcs1Sha256Bare => "PKCS#1 v1.5 over the bare SHA-256 of the data",
        SignMode::Pkcs1PrehashedSha256 => "PKCS#1 v1.5, the data a SHA-256 hash",
        SignMode::Pkcs1Sha256 => "PKCS#1 v1.5 over SHA-256 of the data",
        SignMode::PssPrehashedSha256 => "PSS, the data a SHA-256 hash",
        SignMode::PssSha256 => "PSS over SHA-256 of the data",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> Vec<u8> {
        crate::apdu::parse_hex(s).unwrap_or_default()
    }

    /// Describes a command and its answer.
    fn exchange(decoder: &mut Decoder, command: &str, answer: &str) -> (String, String) {
        (decoder.command(&bytes(command)), decoder.response(&bytes(answer)))
    }

    #[test]
    fn a_login_reads_in_the_cards_terms() {
        let mut d = Decoder::new();
        assert_eq!(exchange(&mut d, "00A4040C0AD392F000260100000001", "9000").0, "SELECT 公的個人認証AP");
        assert_eq!(exchange(&mut d, "00A4020C02000A", "9000").0, "SELECT EF 000A (auth certificate)");
        let (read, answer) = exchange(&mut d, "00B0000000", &format!("{}9000", "30".repeat(256)));
        assert_eq!(read, "READ BINARY 000A (auth certificate) offset 0 len 256");
        assert_eq!(answer, "90 00 success, 256 bytes");
        exchange(&mut d, "00A4020C020018", "9000");
        let (verify, answer) = exchange(&mut d, "002000800431323334", "63C2");
        assert_eq!(verify, "VERIFY 0018 (auth PIN) (4 bytes, masked)");
        assert!(!verify.contains("31"), "a PIN byte leaked: {verify}");
        assert_eq!(answer, "63 C2 wrong PIN or tries query, 2 tries left");
        exchange(&mut d, "00A4020C020017", "9000");
        let sign = d.command(&bytes(&format!("802A008033{}00", "00".repeat(0x33))));
        assert_eq!(sign, "COMPUTE DIGITAL SIGNATURE P1=00 (PKCS#1 v1.5 over the data as given) with key 0017 (auth key), 51 bytes");
    }

    #[test]
    fn the_selection_follows_only_what_succeeded() {
        let mut d = Decoder::new();
        exchange(&mut d, "00A4040C0AD392F000260100000001", "9000");
        // A SELECT that fails changes nothing.
        exchange(&mut d, "00A4020C020099", "6A82");
        assert_eq!(d.command(&bytes("00B0000004")), "READ BINARY the current EF (none selected) offset 0 len 4");
        // By SFI the EF becomes current, even when the read is refused.
        exchange(&mut d, "00B0810004", "6982");
        assert_eq!(d.command(&bytes("00B0000004")), "READ BINARY 0001 (signature certificate) offset 0 len 4");
        // Another application: its own names.
        exchange(&mut d, "00A4040C0AD3921000310001010408", "9000");
        assert_eq!(d.command(&bytes("00A4020C020001")), "SELECT EF 0001 (個人番号)");
        // The ISD, and a power cycle: the MF level.
        exchange(&mut d, "00A4040C07A0000001510000", "9000");
        assert_eq!(d.command(&bytes("00CA004500")), "GET DATA 0045 (card identification number)");
        d.power_cycle();
        assert_eq!(d.command(&bytes("00A4020C02001E")), "SELECT EF 001E (internal EF)");
    }

    #[test]
    fn what_the_card_refuses_is_named_too() {
        let mut d = Decoder::new();
        assert_eq!(d.command(&bytes("00120000")), "00 12 00 00 (not a command this card runs: instruction not supported)");
        assert_eq!(d.command(&bytes("00A4040C05A000000999")), "SELECT application A000000999 (not on this card)");
        assert_eq!(d.response(&bytes("90")), "1 bytes: not an answer (no status word)");
    }
}
