//! Card-verifiable certificates: the 券面 APs' EF 0004 (spec §5.3, §6.3) and the MF-level
//! chain answered by GET DATA `00F8` / `7F21` (spec §13.2).

use super::{PkiError, RsaKey};
use crate::tlv::{push_tlv, tlv, LengthForm};

/// Size of a CV certificate: `7F 21 82 02 33` + 563 bytes (spec §5.3).
pub const CV_CERTIFICATE_LEN: usize = 568;

/// Size of an MF-level CV certificate as GET DATA returns it: the header list (12 bytes),
/// the body `5F 4E 82 01 29` + 297 and the signature `5F 37 82 01 00` + 256, no `7F 21`
/// template (spec §13.2; 575 bytes like myna-card's fixtures `mf-do-F8.bin`, `mf-do-7F21.bin`).
pub const MF_CV_CERTIFICATE_LEN: usize = 575;

/// The extended header list opening an MF-level CV certificate: `4D 0A`, naming the body's
/// three parts with their lengths, `42 10` (issuer key ID), `5F 20 10` (subject key ID) and
/// `5F 49 82 01 09` (the 265-byte public key) (spec §13.2, from the real card's bytes).
pub const MF_CV_HEADER_LIST: [u8; 12] = [0x4D, 0x0A, 0x42, 0x10, 0x5F, 0x20, 0x10, 0x5F, 0x49, 0x82, 0x01, 0x09];

/// Length of a key ID (spec §5 conventions, §13.5).
pub const KEY_ID_LEN: usize = 16;

/// The body and signature, `5F4E { issuer key ID, subject key ID, public key } 5F37 signature`,
/// signed with RSASSA-PKCS1-v1_5 / SHA-256 over the 297 body bytes by `issuer`.
fn body_and_signature(issuer: &RsaKey, issuer_key_id: &[u8; 16], subject_key_id: &[u8; 16], subject: &RsaKey) -> Result<Vec<u8>, PkiError> {
    let mut body = Vec::with_capacity(297);
    body.extend_from_slice(issuer_key_id);
    body.extend_from_slice(subject_key_id);
    body.extend_from_slice(&subject.public_key_record());
    let signature = issuer.sign_sha256(&body)?;
    let mut inner = tlv(0x5F4E, &body, LengthForm::TwoBytes)?;
    push_tlv(&mut inner, 0x5F37, &signature, LengthForm::TwoBytes)?;
    Ok(inner)
}

/// Builds `7F21 { 5F4E { issuer key ID, subject key ID, public key }, 5F37 signature }`,
/// signed with RSASSA-PKCS1-v1_5 / SHA-256 over the 297 body bytes by `issuer`.
pub fn cv_certificate(issuer: &RsaKey, issuer_key_id: &[u8; 16], subject_key_id: &[u8; 16], subject: &RsaKey) -> Result<Vec<u8>, PkiError> {
    let inner = body_and_signature(issuer, issuer_key_id, subject_key_id, subject)?;
    Ok(tlv(0x7F21, &inner, LengthForm::TwoBytes)?)
}

/// Builds an MF-level CV certificate (spec §13.2): [`MF_CV_HEADER_LIST`], then the body and
/// signature of [`cv_certificate`], without the `7F 21` template; [`MF_CV_CERTIFICATE_LEN`]
/// bytes.
pub fn mf_cv_certificate(
    issuer: &RsaKey,
    issuer_key_id: &[u8; 16],
    subject_key_id: &[u8; 16],
    subject: &RsaKey,
) -> Result<Vec<u8>, PkiError> {
    let mut out = MF_CV_HEADER_LIST.to_vec();
    out.extend_from_slice(&body_and_signature(issuer, issuer_key_id, subject_key_id, subject)?);
    Ok(out)
}

/// The two key IDs of an MF-level CV certificate (issuer, subject), for inspection; `None`
/// if `certificate` is not in that layout.
pub fn mf_cv_key_ids(certificate: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = certificate.strip_prefix(&MF_CV_HEADER_LIST[..])?.strip_prefix(&[0x5F, 0x4E, 0x82, 0x01, 0x29][..])?;
    Some((body.get(..KEY_ID_LEN)?, body.get(KEY_ID_LEN..2 * KEY_ID_LEN)?))
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

/// A key ID as a reader names it: `6000020/001` (the two digit groups), with the padding in
/// hex when it is not all zero; `None` if it is not 16 bytes.
pub fn describe_key_id(id: &[u8]) -> Option<String> {
    let id: &[u8; KEY_ID_LEN] = id.try_into().ok()?;
    let text = |bytes: &[u8]| bytes.iter().map(|&b| if b.is_ascii_graphic() { char::from(b) } else { '?' }).collect::<String>();
    let mut out = format!("{}/{}", text(&id[..7]), text(&id[9..12]));
    if id[12..] != [0; 4] {
        out.push_str(&format!(" (padding {})", super::hex(&id[12..])));
    }
    Some(out)
}
