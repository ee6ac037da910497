//! 券面事項入力補助AP, the text application (spec §5).
//!
//! Files (spec §5.3): 0001 My Number (17 bytes), 0002 the four attributes with their DF21
//! offset table, 0003 the integrity record whose DF31/DF32 hash 0001/0002 and whose DF33
//! signs them with the key certified in 0004, 0004 the CV certificate (568 bytes), 0005 the
//! AP basic information (256 bytes), 0006 the session-key public key, 0007 the AP's signing
//! public key signed by the 0004 key, 0008 sixteen `FF`. Keys: 0011 PIN, 0012 (blocked),
//! 0014 照合番号A, 0015 照合番号B, 0013 the card-presence key (`80 2A 00 00`, no PIN).
//!
//! Choices: EF 0002 is padded with `FF` to a multiple of 16 bytes (\[inf\] §5.3); 0006 and
//! 0007 are exactly their TLVs (269 / 536 bytes); 0008 is free to read; DF43 of 0005 is 32
//! seeded random bytes + 96 `FF`; the card-presence key accepts P1 = 00 only (the only
//! mode any client uses); secure messaging (spec §5.6, [`crate::sm`]) offers SELECT EF,
//! VERIFY and READ BINARY under CLA `08`; any other instruction under SM answers `6D 00`
//! (\[unk\]) and still advances the counter.

use sha2::{Digest, Sha256};

use super::{Applet, AppletId, AppletKey, ChangeCommand, KeyUse, SessionKeySupport};
use crate::command::SignMode;
use crate::files::{Access, Ef};
use crate::pins::{PinId, PinSet};
use crate::pki::{PkiError, RsaKey};
use crate::tlv::{pad_ff, push_tlv, tlv, LengthForm, TooLong};

/// DF name (spec §5.1).
pub const AID: &[u8] = &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];

/// FID of the My Number EF.
pub const MY_NUMBER: u16 = 0x0001;
/// FID of the four attributes.
pub const ATTRIBUTES: u16 = 0x0002;
/// FID of the integrity record.
pub const INTEGRITY: u16 = 0x0003;
/// FID of the CV certificate.
pub const CV_CERTIFICATE: u16 = 0x0004;
/// FID of the AP basic information.
pub const BASIC_INFO: u16 = 0x0005;
/// FID of the session-key public key.
pub const SESSION_PUBLIC_KEY: u16 = 0x0006;
/// FID of the signed AP public key.
pub const SIGNED_PUBLIC_KEY: u16 = 0x0007;
/// FID of the unknown 16-byte EF.
pub const UNKNOWN_0008: u16 = 0x0008;
/// FID of the PIN.
pub const PIN: u16 = 0x0011;
/// FID of the key that arrives blocked.
pub const RESERVED_KEY: u16 = 0x0012;
/// FID of the card-presence private key.
pub const CARD_KEY: u16 = 0x0013;
/// FID of 照合番号A.
pub const CODE_A: u16 = 0x0014;
/// FID of 照合番号B.
pub const CODE_B: u16 = 0x0015;

/// Size of the integrity record (spec §5.3).
pub const INTEGRITY_LEN: usize = 336;
/// Size of the AP basic information (spec §5.3).
pub const BASIC_INFO_LEN: usize = 256;

/// What the text AP holds for one card.
pub struct TextContent<'a> {
    /// 12-digit My Number.
    pub my_number: &'a str,
    /// 氏名.
    pub name: &'a str,
    /// 住所.
    pub address: &'a str,
    /// `YYYYMMDD`.
    pub birth_date: &'a str,
    /// JIS X 0303 digit.
    pub sex: u8,
    /// The issuing-side key certified by the CV certificate.
    pub issuer_key: &'a RsaKey,
    /// EF 0004.
    pub cv_certificate: Vec<u8>,
    /// DF42 of EF 0005.
    pub basic_info_key_id: [u8; 16],
    /// The 32 opaque bytes of DF43.
    pub basic_info_opaque: [u8; 32],
    /// The card-presence key (0013).
    pub card_key: RsaKey,
    /// The session-key delivery key (0006).
    pub session_key: RsaKey,
}

/// Builds the application.
pub fn build(content: TextContent<'_>) -> Result<Applet, PkiError> {
    let my_number_file = my_number_file(content.my_number)?;
    let attributes = attributes_file(content.name, content.address, content.birth_date, content.sex)?;
    let integrity = integrity_record(&my_number_file, &attributes.signed_fields, content.issuer_key)?;
    let pin_or_a = Access::AnyOf(PinSet::of(&[PinId::TextPin, PinId::TextCodeA]));
    let pin_or_b = Access::AnyOf(PinSet::of(&[PinId::TextPin, PinId::TextCodeB]));
    let any = Access::AnyOf(PinSet::of(&[PinId::TextPin, PinId::TextCodeA, PinId::TextCodeB]));
    let files = vec![
        Ef::binary(MY_NUMBER, my_number_file, pin_or_a),
        Ef::binary(ATTRIBUTES, attributes.file, pin_or_b),
        Ef::binary(INTEGRITY, integrity, any),
        Ef::binary(CV_CERTIFICATE, content.cv_certificate, Access::Free),
        Ef::binary(BASIC_INFO, basic_info(&content.basic_info_key_id, &content.basic_info_opaque)?, Access::Free),
        Ef::binary(SESSION_PUBLIC_KEY, tlv(0xA1, &content.session_key.public_key_record(), LengthForm::TwoBytes)?, any),
        Ef::binary(SIGNED_PUBLIC_KEY, signed_public_key(&content.card_key, content.issuer_key)?, any),
        Ef::binary(UNKNOWN_0008, vec![0xFF; 16], Access::Free),
        Ef::pin(PIN, PinId::TextPin),
        Ef::pin(RESERVED_KEY, PinId::TextReserved),
        Ef::key(CARD_KEY, 0),
        Ef::pin(CODE_A, PinId::TextCodeA),
        Ef::pin(CODE_B, PinId::TextCodeB),
        // Present on real cards, content unknown (spec §5.3).
        Ef::unknown(0x0010),
        Ef::unknown(0x001C),
        Ef::unknown(0x001E),
    ];
    Ok(Applet {
        id: AppletId::Text,
        aid: AID,
        files,
        keys: vec![
            AppletKey { key: content.card_key, guard: None, usage: KeyUse::Signature(&[SignMode::Pkcs1Raw]) },
            AppletKey { key: content.session_key, guard: None, usage: KeyUse::SessionKeyDelivery },
        ],
        default_key: Some(0),
        change_command: ChangeCommand::ChangeReferenceData,
        session_key: SessionKeySupport::Offered,
    })
}

/// EF 0001: `FF 10 0C <12 digits> FF FF` (spec §5.3).
pub fn my_number_file(my_number: &str) -> Result<Vec<u8>, TooLong> {
    Ok(pad_ff(tlv(0xFF10, my_number.as_bytes(), LengthForm::Minimal)?, 17))
}

/// EF 0002 and the bytes DF32 hashes.
pub struct AttributesFile {
    /// The whole EF, filler included.
    pub file: Vec<u8>,
    /// DF22‖DF23‖DF24‖DF25 TLVs as written.
    pub signed_fields: Vec<u8>,
}

/// EF 0002: `FF 20 { DF21 offsets, DF22 name, DF23 address, DF24 birth, DF25 sex }`
/// with long-form lengths where a value exceeds 127 bytes and the offset table computed
/// from the actual header sizes (spec §5.3).
pub fn attributes_file(name: &str, address: &str, birth_date: &str, sex: u8) -> Result<AttributesFile, TooLong> {
    let fields = [
        tlv(0xDF22, name.as_bytes(), LengthForm::Minimal)?,
        tlv(0xDF23, address.as_bytes(), LengthForm::Minimal)?,
        tlv(0xDF24, birth_date.as_bytes(), LengthForm::Minimal)?,
        tlv(0xDF25, &[sex], LengthForm::Minimal)?,
    ];
    let fields_len: usize = fields.iter().map(Vec::len).sum();
    let offset_table_len = 3 + 2 * fields.len();
    let inner_len = offset_table_len + fields_len;
    let mut outer_header = Vec::new();
    crate::tlv::push_length(&mut outer_header, inner_len, LengthForm::Minimal)?;
    let mut offset = 2 + outer_header.len() + offset_table_len;
    let mut table = Vec::with_capacity(8);
    for field in &fields {
        table.extend_from_slice(&(offset as u16).to_be_bytes());
        offset += field.len();
    }
    let signed_fields = fields.concat();
    let mut inner = tlv(0xDF21, &table, LengthForm::Minimal)?;
    inner.extend_from_slice(&signed_fields);
    let file = tlv(0xFF20, &inner, LengthForm::Minimal)?;
    let padded = file.len().div_ceil(16) * 16;
    Ok(AttributesFile { file: pad_ff(file, padded), signed_fields })
}

/// EF 0003: `FF 30 82 01 4B { DF31 SHA-256(EF 0001), DF32 SHA-256(DF22..DF25),
/// DF33 signature over DF31‖DF32 TLVs }`, 336 bytes with filler (spec §5.3).
pub fn integrity_record(my_number_file: &[u8], signed_fields: &[u8], issuer: &RsaKey) -> Result<Vec<u8>, PkiError> {
    let mut signed = tlv(0xDF31, &Sha256::digest(my_number_file), LengthForm::Minimal)?;
    push_tlv(&mut signed, 0xDF32, &Sha256::digest(signed_fields), LengthForm::Minimal)?;
    let signature = issuer.sign_sha256(&signed)?;
    let mut inner = signed;
    push_tlv(&mut inner, 0xDF33, &signature, LengthForm::TwoBytes)?;
    Ok(pad_ff(tlv(0xFF30, &inner, LengthForm::TwoBytes)?, INTEGRITY_LEN))
}

/// EF 0005: `FF 40 82 00 9F { DF41 01 03 0E 01, DF42 key ID, DF43 82 00 80 <32 + 96 FF> }`.
pub fn basic_info(key_id: &[u8; 16], opaque: &[u8; 32]) -> Result<Vec<u8>, TooLong> {
    let mut df43 = opaque.to_vec();
    df43.resize(128, 0xFF);
    let mut inner = tlv(0xDF41, &[0x01, 0x03, 0x0E, 0x01], LengthForm::Minimal)?;
    push_tlv(&mut inner, 0xDF42, key_id, LengthForm::Minimal)?;
    push_tlv(&mut inner, 0xDF43, &df43, LengthForm::TwoBytes)?;
    Ok(pad_ff(tlv(0xFF40, &inner, LengthForm::TwoBytes)?, BASIC_INFO_LEN))
}

/// EF 0007: `FF 50 { DF51 public key, DF52 signature over the DF51 TLV }` (spec §5.3).
pub fn signed_public_key(card_key: &RsaKey, issuer: &RsaKey) -> Result<Vec<u8>, PkiError> {
    let df51 = tlv(0xDF51, &card_key.public_key_record(), LengthForm::TwoBytes)?;
    let signature = issuer.sign_sha256(&df51)?;
    let mut inner = df51;
    push_tlv(&mut inner, 0xDF52, &signature, LengthForm::TwoBytes)?;
    Ok(tlv(0xFF50, &inner, LengthForm::TwoBytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlv::parse_all;

    #[test]
    fn attributes_match_the_test_card_layout() {
        // The JPKI test card's 104-byte example (spec §5.3).
        let f = attributes_file("黒桐\u{3000}幹也", "東京都清瀬市観布子南１２－７－２０２", "19800217", b'1').unwrap();
        assert_eq!(&f.file[..3], &[0xFF, 0x20, 0x65]);
        assert_eq!(&f.file[3..14], &[0xDF, 0x21, 0x08, 0x00, 0x0E, 0x00, 0x20, 0x00, 0x59, 0x00, 0x64]);
        assert_eq!(f.file.len(), 112);
        assert!(f.file[104..].iter().all(|b| *b == 0xFF));
    }

    #[test]
    fn long_fields_use_long_form_and_offsets_follow() {
        let address = "あ".repeat(60); // 180 bytes of UTF-8
        let f = attributes_file("名", &address, "19800217", b'2').unwrap();
        assert_eq!(&f.file[..2], &[0xFF, 0x20]);
        assert_eq!(f.file[2], 0x81);
        let outer = parse_all(&f.file).unwrap();
        let inner = parse_all(outer[0].value).unwrap();
        let table = inner[0].value;
        let header = 4; // FF 20 81 ll
        for (i, field) in inner[1..].iter().enumerate() {
            let offset = usize::from(u16::from_be_bytes([table[2 * i], table[2 * i + 1]]));
            assert_eq!(offset, header + field.offset, "field {i}");
        }
        assert_eq!(inner[2].value, address.as_bytes());
    }
}
