//! Typed commands: an [`Apdu`] becomes a [`Command`] once, here (spec §3).
//!
//! Class checks follow spec §3.1 and §3.9: chaining `68 84`, logical channels `68 81`,
//! secure-messaging classes are reported as [`Command::SecureMessaging`] so that the
//! current application decides (`68 82`, `69 FC` or `69 87`), an unknown class `6E 00`,
//! an unknown instruction `6D 00`, a known instruction under the wrong class `6E 00`.
//!
//! The proprietary instructions of the survey (spec §13.5) exist card-wide (never `6D 00`):
//! `80 A2` answers `6A 86`, `80 FC` is the iPhone token's last-command indicator, `80 8A`
//! MANAGE ATTRIBUTES stops at the issuer-security check.

use crate::apdu::Apdu;
use crate::sw::Sw;

/// Which EF or key object a command acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The current EF / object (made current by SELECT).
    Current,
    /// By short EF identifier (1–30); selects that EF as a side effect (spec §3.3).
    Sfi(u8),
}

/// Which key COMPUTE DIGITAL SIGNATURE uses (P2), spec §3.7, §5.5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChoice {
    /// P2 = `00`: the application's default key (券面 APs).
    Default,
    /// P2 = `80` or `80|SFI`.
    Object(Target),
}

/// COMPUTE DIGITAL SIGNATURE P1 (spec §3.7, U1's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignMode {
    /// `00`: PKCS#1 v1.5 type-01 padding over the data as given (a DigestInfo).
    Pkcs1Raw,
    /// `01`: SHA-256 of the data, the bare 32-byte hash padded with PKCS#1 v1.5.
    Pkcs1Sha256Bare,
    /// `02`: the data is a SHA-256 hash; wrapped in a DigestInfo, PKCS#1 v1.5.
    Pkcs1PrehashedSha256,
    /// `03`: SHA-256 of the data, wrapped in a DigestInfo, PKCS#1 v1.5.
    Pkcs1Sha256,
    /// `04`: the data is a SHA-256 hash; RSASSA-PSS, random salt.
    PssPrehashedSha256,
    /// `05`: SHA-256 of the data; RSASSA-PSS, random salt.
    PssSha256,
}

impl SignMode {
    fn from_p1(p1: u8) -> Result<SignMode, Sw> {
        Ok(match p1 {
            0x00 => SignMode::Pkcs1Raw,
            0x01 => SignMode::Pkcs1Sha256Bare,
            0x02 => SignMode::Pkcs1PrehashedSha256,
            0x03 => SignMode::Pkcs1Sha256,
            0x04 => SignMode::PssPrehashedSha256,
            0x05 => SignMode::PssSha256,
            _ => return Err(Sw::INCORRECT_P1P2),
        })
    }

    /// All modes, in P1 order.
    pub const ALL: [SignMode; 6] = [
        SignMode::Pkcs1Raw,
        SignMode::Pkcs1Sha256Bare,
        SignMode::Pkcs1PrehashedSha256,
        SignMode::Pkcs1Sha256,
        SignMode::PssPrehashedSha256,
        SignMode::PssSha256,
    ];

    /// The P1 byte of this mode.
    pub const fn p1(self) -> u8 {
        self as u8
    }
}

/// Secure-messaging class bits of CLA (ISO 7816-4 §5.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmClass {
    /// CLA `08`: proprietary SM (the text AP's confidentiality-only SM, spec §5.6).
    Proprietary,
    /// CLA `0C`: ISO SM with authenticated header.
    Authenticated,
}

/// What MANAGE ATTRIBUTES (`80 8A`) would update (P1), JICSAP extended system command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeScope {
    /// P1 = `22`: the current EF.
    CurrentEf,
    /// P1 = `24`: the current DF.
    CurrentDf,
}

/// A command the card understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// SELECT by DF name (P1 `04`), spec §3.2.
    SelectApplication {
        /// The DF name (1–16 bytes), or a prefix of it.
        name: &'a [u8],
    },
    /// SELECT of the MF: P1 `00` with no data (spec §13.1: `6A 86` at the MF level, a no-op
    /// in an AP).
    SelectMasterFile,
    /// SELECT by DF name (P1 `04`) with no name: the GlobalPlatform Issuer Security Domain
    /// (spec §13.1, [`crate::applets::isd`]).
    SelectIssuerSecurityDomain,
    /// SELECT EF by FID under the current application (P1 `02`), spec §3.2.
    SelectFile {
        /// File identifier.
        fid: u16,
    },
    /// READ BINARY (INS `B0`), spec §3.3.
    ReadBinary {
        /// The EF to read.
        target: Target,
        /// Offset in bytes.
        offset: usize,
        /// Le (bytes wanted; 256 or 65,536 for `00`).
        le: usize,
        /// True if Le was given as `00` (read to the end is then not a warning).
        le_is_max: bool,
    },
    /// READ RECORD (INS `B2`) of one record (P2 low bits `100`), spec §3.4, §7.2.
    ReadRecord {
        /// The record EF.
        target: Target,
        /// Record number, from 1.
        record: u8,
    },
    /// VERIFY (INS `20`), spec §3.5. No data = tries query.
    Verify {
        /// The key (PIN) object.
        target: Target,
        /// The value, or `None` for the status query.
        value: Option<&'a [u8]>,
    },
    /// CHANGE REFERENCE DATA `00 24 01 80` (new value only), spec §3.6.
    ChangeReferenceData {
        /// The PIN object.
        target: Target,
        /// New value.
        new_value: &'a [u8],
    },
    /// CHANGE KEY `80 32 00 80` (JICSAP), spec §7.2.
    ChangeKey {
        /// The PIN object.
        target: Target,
        /// New value.
        new_value: &'a [u8],
    },
    /// COMPUTE DIGITAL SIGNATURE `80 2A`, spec §3.7.
    ComputeSignature {
        /// P1.
        mode: SignMode,
        /// P2.
        key: KeyChoice,
        /// Data to sign.
        data: &'a [u8],
    },
    /// GET CHALLENGE `00 84 00 00 Le`, spec §6.4.
    GetChallenge {
        /// Bytes wanted (1–256).
        len: usize,
    },
    /// INTERNAL AUTHENTICATE `00 88`, spec §7.2.
    InternalAuthenticate {
        /// P2: `00` default key or `80|SFI`.
        key: KeyChoice,
        /// Challenge.
        data: &'a [u8],
    },
    /// SET SESSION KEY `80 AE`, spec §5.6.
    SetSessionKey {
        /// The RSA-OAEP ciphertext.
        data: &'a [u8],
    },
    /// GET DATA `00 CA`, spec §13.2, §13.3.
    GetData {
        /// Tag from P1-P2.
        tag: u16,
        /// The longest answer Le allows: 1–256 short, 1–65,536 extended; 256 without Le
        /// (\[inf\] [`crate::applets::isd`]).
        max_len: usize,
    },
    /// The last-command indicator `80 FC 00 00` (no data, no Le), spec §13.5: an iPhone
    /// JPKI-token command that physical cards refuse.
    LastCommandIndicator,
    /// MANAGE ATTRIBUTES `80 8A`, spec §13.5: an issuance command, present, that stops at the
    /// issuer-security check.
    ManageAttributes {
        /// P1.
        scope: AttributeScope,
    },
    /// Any command sent with a secure-messaging class; the application decides.
    SecureMessaging {
        /// Which SM class.
        class: SmClass,
        /// The instruction byte.
        ins: u8,
        /// Parameter 1.
        p1: u8,
        /// Parameter 2.
        p2: u8,
        /// The (protected) data field.
        data: &'a [u8],
    },
}

/// The instruction bytes the card knows, with the class each is valid under.
const INSTRUCTIONS: &[(u8, u8)] = &[
    (0xA4, 0x00),
    (0xB0, 0x00),
    (0xB2, 0x00),
    (0x20, 0x00),
    (0x24, 0x00),
    (0x84, 0x00),
    (0x88, 0x00),
    (0xCA, 0x00),
    (0x2A, 0x80),
    (0x32, 0x80),
    (0xAE, 0x80),
    (0xA2, 0x80),
    (0xFC, 0x80),
    (0x8A, 0x80),
];

impl<'a> TryFrom<&Apdu<'a>> for Command<'a> {
    type Error = Sw;

    fn try_from(apdu: &Apdu<'a>) -> Result<Self, Sw> {
        let class = apdu.cla & !0x1F;
        if class != 0x00 && class != 0x80 {
            return Err(Sw::CLA_NOT_SUPPORTED);
        }
        let expected_class = INSTRUCTIONS.iter().find(|(ins, _)| *ins == apdu.ins).map(|(_, cla)| *cla).ok_or(Sw::INS_NOT_SUPPORTED)?;
        if class != expected_class {
            return Err(Sw::CLA_NOT_SUPPORTED);
        }
        if apdu.cla & 0x10 != 0 {
            return Err(Sw::CHAINING_UNSUPPORTED);
        }
        if apdu.cla & 0x03 != 0 {
            return Err(Sw::LOGICAL_CHANNEL_UNSUPPORTED);
        }
        match apdu.cla & 0x0C {
            0x00 => {}
            sm => {
                let class = if sm == 0x08 { SmClass::Proprietary } else { SmClass::Authenticated };
                return Ok(Command::SecureMessaging { class, ins: apdu.ins, p1: apdu.p1, p2: apdu.p2, data: apdu.data });
            }
        }
        match apdu.ins {
            0xA4 => parse_select(apdu),
            0xB0 => parse_read_binary(apdu),
            0xB2 => parse_read_record(apdu),
            0x20 => {
                require_p1(apdu, 0x00)?;
                let target = key_object(apdu.p2)?;
                let value = if apdu.data.is_empty() { None } else { Some(apdu.data) };
                Ok(Command::Verify { target, value })
            }
            0x24 => {
                require_p1(apdu, 0x01)?;
                let target = key_object(apdu.p2)?;
                Ok(Command::ChangeReferenceData { target, new_value: non_empty(apdu.data)? })
            }
            0x32 => {
                require_p1(apdu, 0x00)?;
                let target = key_object(apdu.p2)?;
                Ok(Command::ChangeKey { target, new_value: non_empty(apdu.data)? })
            }
            0x2A => Ok(Command::ComputeSignature { mode: SignMode::from_p1(apdu.p1)?, key: key_choice(apdu.p2)?, data: apdu.data }),
            0x84 => {
                if apdu.p1 != 0 || apdu.p2 != 0 {
                    return Err(Sw::INCORRECT_P1P2);
                }
                if !apdu.data.is_empty() {
                    return Err(Sw::WRONG_LENGTH);
                }
                match apdu.le {
                    // Spec §6.4: extended Le answers 69 85.
                    Some(_) if apdu.extended => Err(Sw::CONDITIONS_NOT_SATISFIED),
                    Some(len) => Ok(Command::GetChallenge { len }),
                    None => Err(Sw::WRONG_LENGTH),
                }
            }
            0x88 => {
                require_p1(apdu, 0x00)?;
                Ok(Command::InternalAuthenticate { key: key_choice(apdu.p2)?, data: non_empty(apdu.data)? })
            }
            0xAE => Ok(Command::SetSessionKey { data: apdu.data }),
            0xCA => {
                if !apdu.data.is_empty() {
                    return Err(Sw::WRONG_LENGTH);
                }
                Ok(Command::GetData { tag: u16::from_be_bytes([apdu.p1, apdu.p2]), max_len: apdu.le.unwrap_or(256) })
            }
            // The terminal CV-certificate check (its body, 307 bytes, comes with an extended
            // Lc): every P1-P2 the survey tried (00 00, 00 AE, 80 00, 00 B6) answers 6A 86 and
            // none is known to select anything, so all do (spec §13.5, myna-card
            // `ins::PROPRIETARY_A2`). [inf] Card-wide, answered before any AP rule, as the
            // survey found SET SESSION KEY known in every AP.
            0xA2 => Err(Sw::INCORRECT_P1P2),
            0xFC => {
                // [inf] Only the exact `80 FC 00 00` was surveyed; other parameters 6A 86, a
                // data field or Le 67 00.
                if apdu.p1 != 0 || apdu.p2 != 0 {
                    return Err(Sw::INCORRECT_P1P2);
                }
                if !apdu.data.is_empty() || apdu.le.is_some() {
                    return Err(Sw::WRONG_LENGTH);
                }
                Ok(Command::LastCommandIndicator)
            }
            0x8A => match apdu.p1 {
                // [inf] Only P1 22 and 24 reach the issuer-security check (myna-card
                // `ins::MANAGE_ATTRIBUTES`); the other P1 values are refused as parameters.
                0x22 => Ok(Command::ManageAttributes { scope: AttributeScope::CurrentEf }),
                0x24 => Ok(Command::ManageAttributes { scope: AttributeScope::CurrentDf }),
                _ => Err(Sw::INCORRECT_P1P2),
            },
            _ => Err(Sw::INS_NOT_SUPPORTED),
        }
    }
}

fn parse_select<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Sw> {
    // P2: 00 (FCI), 04 (FCP) or 0C (no data); all answered without data (spec §3.2).
    // The low two bits ask for first/next/previous occurrence: only "first" exists.
    if !matches!(apdu.p2, 0x00 | 0x04 | 0x0C) {
        return Err(Sw::INCORRECT_P1P2);
    }
    match apdu.p1 {
        0x04 => match apdu.data.len() {
            // No DF name: the Issuer Security Domain (GlobalPlatform, spec §13.1).
            0 => Ok(Command::SelectIssuerSecurityDomain),
            1..=16 => Ok(Command::SelectApplication { name: apdu.data }),
            _ => Err(Sw::WRONG_LENGTH),
        },
        0x02 => match apdu.data {
            [hi, lo] => Ok(Command::SelectFile { fid: u16::from_be_bytes([*hi, *lo]) }),
            _ => Err(Sw::WRONG_LENGTH),
        },
        0x00 => match apdu.data {
            [] => Ok(Command::SelectMasterFile),
            // The MF cannot be selected by its FID, in any state (spec §13.1).
            [0x3F, 0x00] => Err(Sw::NOT_FOUND),
            // Selecting an EF from the MF level by FID: spec §3.2 "other P1" → 6A 86.
            _ => Err(Sw::INCORRECT_P1P2),
        },
        _ => Err(Sw::INCORRECT_P1P2),
    }
}

fn parse_read_binary<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Sw> {
    if !apdu.data.is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    let le = apdu.le.ok_or(Sw::WRONG_LENGTH)?;
    let le_is_max = le == 256 && !apdu.extended || le == 65_536;
    let (target, offset) = read_binary_position(apdu.p1, apdu.p2)?;
    Ok(Command::ReadBinary { target, offset, le, le_is_max })
}

/// READ BINARY's P1-P2: an offset in the current EF (P1 bit 8 clear, 15 bits), or the SFI
/// form, P1 = `100x xxxx` with the offset in P2 (spec §3.3).
pub(crate) fn read_binary_position(p1: u8, p2: u8) -> Result<(Target, usize), Sw> {
    if p1 & 0x80 == 0 {
        return Ok((Target::Current, usize::from(u16::from_be_bytes([p1, p2]))));
    }
    if p1 & 0x60 != 0 || p1 & 0x1F == 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    Ok((Target::Sfi(p1 & 0x1F), usize::from(p2)))
}

fn parse_read_record<'a>(apdu: &Apdu<'a>) -> Result<Command<'a>, Sw> {
    if !apdu.data.is_empty() || apdu.le.is_none() {
        return Err(Sw::WRONG_LENGTH);
    }
    match apdu.p2 & 0x07 {
        0x04 => {}
        // "Read from P1 to the last record" is not offered (spec §7.2).
        0x05 => return Err(Sw::FUNCTION_UNSUPPORTED),
        _ => return Err(Sw::INCORRECT_P1P2),
    }
    if apdu.p1 == 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    let target = match apdu.p2 >> 3 {
        0 => Target::Current,
        0x1F => return Err(Sw::INCORRECT_P1P2),
        sfi => Target::Sfi(sfi),
    };
    Ok(Command::ReadRecord { target, record: apdu.p1 })
}

fn require_p1(apdu: &Apdu<'_>, p1: u8) -> Result<(), Sw> {
    if apdu.p1 == p1 {
        Ok(())
    } else {
        Err(Sw::INCORRECT_P1P2)
    }
}

fn non_empty(data: &[u8]) -> Result<&[u8], Sw> {
    if data.is_empty() {
        Err(Sw::WRONG_LENGTH)
    } else {
        Ok(data)
    }
}

/// P2 of VERIFY / CHANGE: `80` = current object, `80|SFI` = by SFI (spec §5.2).
pub(crate) fn key_object(p2: u8) -> Result<Target, Sw> {
    match p2 {
        0x80 => Ok(Target::Current),
        0x81..=0x9E => Ok(Target::Sfi(p2 & 0x1F)),
        _ => Err(Sw::INCORRECT_P1P2),
    }
}

fn key_choice(p2: u8) -> Result<KeyChoice, Sw> {
    match p2 {
        0x00 => Ok(KeyChoice::Default),
        _ => key_object(p2).map(KeyChoice::Object),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Command<'_>, Sw> {
        let apdu = Apdu::parse(bytes)?;
        Command::try_from(&apdu)
    }

    #[test]
    fn class_rules() {
        assert_eq!(parse(&[0x00, 0x00, 0, 0]), Err(Sw::INS_NOT_SUPPORTED));
        assert_eq!(parse(&[0xA0, 0xA4, 4, 0x0C]), Err(Sw::CLA_NOT_SUPPORTED));
        assert_eq!(parse(&[0x80, 0xA4, 4, 0x0C]), Err(Sw::CLA_NOT_SUPPORTED));
        assert_eq!(parse(&[0x00, 0x2A, 0, 0x80, 1, 1]), Err(Sw::CLA_NOT_SUPPORTED));
        assert_eq!(parse(&[0x10, 0xA4, 2, 0x0C, 2, 0, 1]), Err(Sw::CHAINING_UNSUPPORTED));
        assert_eq!(parse(&[0x01, 0xA4, 2, 0x0C, 2, 0, 1]), Err(Sw::LOGICAL_CHANNEL_UNSUPPORTED));
        assert_eq!(
            parse(&[0x0C, 0xB0, 0, 0, 1]),
            Ok(Command::SecureMessaging { class: SmClass::Authenticated, ins: 0xB0, p1: 0, p2: 0, data: &[] })
        );
    }

    #[test]
    fn read_binary_forms() {
        assert_eq!(
            parse(&[0x00, 0xB0, 0x01, 0x07, 0x00]),
            Ok(Command::ReadBinary { target: Target::Current, offset: 0x107, le: 256, le_is_max: true })
        );
        assert_eq!(
            parse(&[0x00, 0xB0, 0x8A, 0x10, 0x20]),
            Ok(Command::ReadBinary { target: Target::Sfi(0x0A), offset: 0x10, le: 32, le_is_max: false })
        );
        assert_eq!(parse(&[0x00, 0xB0, 0xA0, 0x00, 0x20]), Err(Sw::INCORRECT_P1P2));
        assert_eq!(parse(&[0x00, 0xB0, 0x00, 0x00]), Err(Sw::WRONG_LENGTH));
    }

    #[test]
    fn verify_and_sign_parameters() {
        assert_eq!(parse(&[0x00, 0x20, 0x00, 0x80]), Ok(Command::Verify { target: Target::Current, value: None }));
        assert_eq!(parse(&[0x00, 0x20, 0x01, 0x80]), Err(Sw::INCORRECT_P1P2));
        assert_eq!(parse(&[0x00, 0x24, 0x00, 0x80, 1, 0x31]), Err(Sw::INCORRECT_P1P2));
        assert_eq!(parse(&[0x80, 0x2A, 0x06, 0x80, 1, 1]), Err(Sw::INCORRECT_P1P2));
        assert_eq!(
            parse(&[0x80, 0x2A, 0x00, 0x97, 1, 1, 0]),
            Ok(Command::ComputeSignature { mode: SignMode::Pkcs1Raw, key: KeyChoice::Object(Target::Sfi(0x17)), data: &[1] })
        );
    }

    #[test]
    fn get_challenge_rules() {
        assert_eq!(parse(&[0x00, 0x84, 0, 0, 0x10]), Ok(Command::GetChallenge { len: 16 }));
        assert_eq!(parse(&[0x00, 0x84, 0, 0, 0, 0, 0x10]), Err(Sw::CONDITIONS_NOT_SATISFIED));
        assert_eq!(parse(&[0x00, 0x84, 1, 0, 0x10]), Err(Sw::INCORRECT_P1P2));
    }
}
