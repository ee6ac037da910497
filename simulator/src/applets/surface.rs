//! 券面事項確認AP, the surface application (spec §6).
//!
//! Files (spec §6.3): 0001 age record (birth date + card key, signed), 0002 card face
//! (offset table, birth date, sex, card key, name/address PNGs, JPEG 2000 photo, DF28
//! signature over three digests, expiry, security-code PNG), 0003 AP basic information,
//! 0004 CV certificate, 0005 the rendered My Number (signed), 0006 sixteen `FF`.
//! Keys: 0011 birth-date key, 0012 照合番号B, 0013 照合番号A, 001A the card-presence key.
//!
//! Choices: record lengths are computed from the content (the spec's 547/320-byte figures
//! are \[inf\] from lengths and do not add up exactly); the outer templates use `82 hh ll`;
//! DF35 of 0003 is a 16-byte key ID + 256 seeded random bytes; the card-presence key
//! accepts P1 = 00 only.
//!
//! The digit images (security code DF2A, My Number DF41) are 6×12 pixels a digit, 24×12
//! and 72×12 as on the surveyed card (spec §13.5, [`images::render_digits_png`]); the name
//! and address images keep their own cell sizes.
//!
//! Key IDs carry the middle bytes `08 05` (spec §13.5). DF32 is `6000024/001`, as on the
//! surveyed test card (myna-card fixture `surface-0003.bin`); the key ID that opens DF35 is
//! `5900025/001` there, a production-looking number on a test card. \[inf\] The simulator
//! writes `6000025/001`: the same key number under the test-hierarchy prefix, so every ID
//! on a simulated card starts with `6`.

use sha2::{Digest, Sha256};

use super::{Applet, AppletId, AppletKey, ChangeCommand, KeyUse, SessionKeySupport};
use crate::command::SignMode;
use crate::files::{Access, Ef};
use crate::images;
use crate::pins::{PinId, PinSet};
use crate::pki::{PkiError, RsaKey, MODULUS_LEN};
use crate::tlv::{push_tlv, tlv, LengthForm};

/// DF name (spec §6.1).
pub const AID: &[u8] = &[0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02];

/// FID of the age-verification record.
pub const AGE_RECORD: u16 = 0x0001;
/// FID of the card face.
pub const CARD_FACE: u16 = 0x0002;
/// FID of the AP basic information.
pub const BASIC_INFO: u16 = 0x0003;
/// FID of the CV certificate.
pub const CV_CERTIFICATE: u16 = 0x0004;
/// FID of the rendered My Number.
pub const MY_NUMBER_IMAGE: u16 = 0x0005;
/// FID of the unknown 16-byte EF.
pub const UNKNOWN_0006: u16 = 0x0006;
/// FID of the birth-date key.
pub const BIRTH_DATE_KEY: u16 = 0x0011;
/// FID of 照合番号B.
pub const CODE_B: u16 = 0x0012;
/// FID of 照合番号A.
pub const CODE_A: u16 = 0x0013;
/// FID of the card-presence private key.
pub const CARD_KEY: u16 = 0x001A;

/// The DigestInfo prefix of DF28: SHA-256 OID with a 96-byte OCTET STRING (spec §6.3).
pub const FACE_DIGEST_INFO_PREFIX: [u8; 19] =
    [0x30, 0x71, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x60];

/// What the surface AP holds for one card.
pub struct SurfaceContent<'a> {
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
    /// Card expiry `YYYYMMDD`.
    pub expiry: &'a str,
    /// 4-digit security code.
    pub security_code: &'a str,
    /// JPEG 2000 photo.
    pub photo: &'a [u8],
    /// Municipality code (5 digits).
    pub municipality_code: &'a str,
    /// The issuing-side key certified by the CV certificate.
    pub issuer_key: &'a RsaKey,
    /// EF 0004.
    pub cv_certificate: Vec<u8>,
    /// DF32 of EF 0003.
    pub basic_info_key_id: [u8; 16],
    /// DF35 of EF 0003 (16-byte key ID + 256 bytes).
    pub basic_info_opaque: Vec<u8>,
    /// The card key (001A).
    pub card_key: RsaKey,
}

/// Builds the application.
pub fn build(content: SurfaceContent<'_>) -> Result<Applet, PkiError> {
    let card_key_record = content.card_key.public_key_record();
    let code_a_or_b = Access::AnyOf(PinSet::of(&[PinId::SurfaceCodeA, PinId::SurfaceCodeB]));
    let files = vec![
        Ef::binary(
            AGE_RECORD,
            signed_record(0xFF10, &[(0xDF11, content.birth_date.as_bytes()), (0xDF12, &card_key_record)], 0xDF13, content.issuer_key)?,
            Access::AnyOf(PinSet::of(&[PinId::SurfaceBirthDate])),
        ),
        Ef::binary(CARD_FACE, card_face(&content, &card_key_record)?, code_a_or_b),
        Ef::binary(BASIC_INFO, basic_info(&content)?, Access::Free),
        Ef::binary(CV_CERTIFICATE, content.cv_certificate.clone(), Access::Free),
        Ef::binary(
            MY_NUMBER_IMAGE,
            signed_record(
                0xFF40,
                &[(0xDF41, &images::render_digits_png(content.my_number)), (0xDF42, &card_key_record)],
                0xDF43,
                content.issuer_key,
            )?,
            Access::AnyOf(PinSet::of(&[PinId::SurfaceCodeA])),
        ),
        Ef::binary(UNKNOWN_0006, vec![0xFF; 16], code_a_or_b),
        Ef::pin(BIRTH_DATE_KEY, PinId::SurfaceBirthDate),
        Ef::pin(CODE_B, PinId::SurfaceCodeB),
        Ef::pin(CODE_A, PinId::SurfaceCodeA),
        Ef::key(CARD_KEY, 0),
        // Present on real cards, content unknown (spec §6.3).
        Ef::unknown(0x001C),
        Ef::unknown(0x001E),
    ];
    Ok(Applet {
        id: AppletId::Surface,
        aid: AID,
        files,
        keys: vec![AppletKey { key: content.card_key, guard: None, usage: KeyUse::Signature(&[SignMode::Pkcs1Raw]) }],
        default_key: Some(0),
        change_command: ChangeCommand::ChangeReferenceData,
        session_key: SessionKeySupport::Unsupported,
    })
}

fn field_form(value: &[u8]) -> LengthForm {
    if value.len() > 0x7F {
        LengthForm::TwoBytes
    } else {
        LengthForm::Minimal
    }
}

/// `outer { fields…, signature_tag PKCS#1-SHA-256(fields as written) }` (EF 0001, 0005).
fn signed_record(outer: u16, fields: &[(u16, &[u8])], signature_tag: u16, issuer: &RsaKey) -> Result<Vec<u8>, PkiError> {
    let mut inner = Vec::new();
    for (tag, value) in fields {
        push_tlv(&mut inner, *tag, value, field_form(value))?;
    }
    let signature = issuer.sign_sha256(&inner)?;
    push_tlv(&mut inner, signature_tag, &signature, LengthForm::TwoBytes)?;
    Ok(tlv(outer, &inner, LengthForm::TwoBytes)?)
}

/// EF 0002 (spec §6.3): fields DF22…DF2A after a DF21 table of their absolute offsets.
fn card_face(content: &SurfaceContent<'_>, card_key_record: &[u8]) -> Result<Vec<u8>, PkiError> {
    let tlv_of = |tag: u16, value: &[u8]| tlv(tag, value, field_form(value));
    let birth = tlv_of(0xDF22, content.birth_date.as_bytes())?;
    let sex = tlv_of(0xDF23, &[content.sex])?;
    let key = tlv_of(0xDF24, card_key_record)?;
    let name = tlv_of(0xDF25, &images::render_text_png(content.name, 16))?;
    let address = tlv_of(0xDF26, &images::render_text_png(content.address, 12))?;
    let photo = tlv_of(0xDF27, content.photo)?;
    let mut digests = Vec::with_capacity(FACE_DIGEST_INFO_PREFIX.len() + 96);
    digests.extend_from_slice(&FACE_DIGEST_INFO_PREFIX);
    digests.extend_from_slice(&Sha256::new().chain_update(&birth).chain_update(&sex).chain_update(&key).finalize());
    digests.extend_from_slice(&Sha256::new().chain_update(&name).chain_update(&address).finalize());
    digests.extend_from_slice(&Sha256::digest(&photo));
    let mut signature = [0u8; MODULUS_LEN];
    content.issuer_key.sign_pkcs1(&digests, &mut signature)?;
    let signature = tlv(0xDF28, &signature, LengthForm::TwoBytes)?;
    let expiry = tlv_of(0xDF29, content.expiry.as_bytes())?;
    let code = tlv_of(0xDF2A, &images::render_digits_png(content.security_code))?;
    let fields = [birth, sex, key, name, address, photo, signature, expiry, code];

    let table_tlv_len = 3 + 2 * fields.len();
    let inner_len = table_tlv_len + fields.iter().map(Vec::len).sum::<usize>();
    let header_len = 5; // FF 20 82 hh ll
    let mut offset = header_len + table_tlv_len;
    let mut table = Vec::with_capacity(18);
    for field in &fields {
        table.extend_from_slice(&(offset as u16).to_be_bytes());
        offset += field.len();
    }
    let mut inner = Vec::with_capacity(inner_len);
    push_tlv(&mut inner, 0xDF21, &table, LengthForm::Minimal)?;
    for field in &fields {
        inner.extend_from_slice(field);
    }
    Ok(tlv(0xFF20, &inner, LengthForm::TwoBytes)?)
}

/// EF 0003 (spec §6.3).
fn basic_info(content: &SurfaceContent<'_>) -> Result<Vec<u8>, crate::tlv::TooLong> {
    let mut inner = tlv(0xDF31, &[0x06, 0x03, 0x0E, 0x01], LengthForm::Minimal)?;
    push_tlv(&mut inner, 0xDF32, &content.basic_info_key_id, LengthForm::Minimal)?;
    push_tlv(&mut inner, 0xDF33, &[0x01], LengthForm::Minimal)?;
    push_tlv(&mut inner, 0xDF34, content.municipality_code.as_bytes(), LengthForm::Minimal)?;
    push_tlv(&mut inner, 0xDF35, &content.basic_info_opaque, LengthForm::TwoBytes)?;
    tlv(0xFF30, &inner, LengthForm::TwoBytes)
}
