//! Card-verifiable certificates of the 券面 APs (spec §5.3 EF 0004, §6.3 EF 0004).

use super::{PkiError, RsaKey};
use crate::tlv::{push_tlv, tlv, LengthForm};

/// Size of a CV certificate: `7F 21 82 02 33` + 563 bytes (spec §5.3).
pub const CV_CERTIFICATE_LEN: usize = 568;

/// Builds `7F21 { 5F4E { issuer key ID, subject key ID, public key }, 5F37 signature }`,
/// signed with RSASSA-PKCS1-v1_5 / SHA-256 over the 297 body bytes by `issuer`.
pub fn cv_certificate(issuer: &RsaKey, issuer_key_id: &[u8; 16], subject_key_id: &[u8; 16], subject: &RsaKey) -> Result<Vec<u8>, PkiError> {
    let mut body = Vec::with_capacity(297);
    body.extend_from_slice(issuer_key_id);
    body.extend_from_slice(subject_key_id);
    body.extend_from_slice(&subject.public_key_record());
    let signature = issuer.sign_sha256(&body)?;
    let mut inner = tlv(0x5F4E, &body, LengthForm::TwoBytes)?;
    push_tlv(&mut inner, 0x5F37, &signature, LengthForm::TwoBytes)?;
    Ok(tlv(0x7F21, &inner, LengthForm::TwoBytes)?)
}

/// The two bytes between the 7-digit number and the 3-digit group of every key ID read from
/// real cards: `"6000024" 08 05 "001" 00 00 00 00` (spec §13.5; myna-card `KeyId` doc, and
/// the fixtures `text-0004.bin`, `surface-0003.bin`, `surface-0004.bin`, `mf-do-F8.bin`,
/// where issuer, subject and basic-info IDs all carry them). Their meaning is unknown.
pub const KEY_ID_MIDDLE: [u8; 2] = [0x08, 0x05];

/// A 16-byte key ID in the documented shape: 7 ASCII digits, 2 bytes (on real cards always
/// [`KEY_ID_MIDDLE`]), 3 ASCII digits and 4 padding bytes (spec §5 conventions); test IDs
/// start with `6`.
pub fn key_id(seven: &str, middle: [u8; 2], three: &str) -> [u8; 16] {
    let mut id = [0u8; 16];
    for (dst, src) in id[..7].iter_mut().zip(seven.bytes()) {
        *dst = src;
    }
    id[7..9].copy_from_slice(&middle);
    for (dst, src) in id[9..12].iter_mut().zip(three.bytes()) {
        *dst = src;
    }
    id
}
