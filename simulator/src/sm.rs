//! Secure messaging of the text AP (spec §5.6): confidentiality only, CLA `08`.
//!
//! SET SESSION KEY carries `A0 22 80 20 <32 bytes>` encrypted with RSAES-OAEP-SHA-256 under
//! the key of EF 0006; the session key is the first 16 bytes. Command N of the session
//! (counted from 1, every SM command counts, refused or not) uses IV = AES-128-ECB(key,
//! N as a 16-byte big-endian number) in both directions; AES-128-CBC with ISO/IEC 7816-4
//! padding (`80 00…`, always added). Data travel in one DO: `86 L 01 <ciphertext>` for
//! values, `96 03 00 hh ll` for the READ BINARY length; either length may be in a long form
//! (`86 81 L`, `86 82 hh ll`), spec §13.5.
//!
//! A command the SM layer refuses ends the session (spec §13.5; myna-card `src/sm.rs`
//! `is_secure_messaging_error`): `69 88` (wrong DO, bad padding, wrong counter) and `69 87`
//! (CLA `0C`, no checksum key); every later SM command answers `69 FC` until a new SET
//! SESSION KEY. Application-level refusals (`63 Cx`, `69 84`, `6A 82`, `6A 86`, `6D 00`
//! under CLA `08`) keep it (spec §5.6 item 3). `69 FC` and `68 82`, the other two answers
//! myna-card counts, come only when there is no session to end.

use openssl::symm::{Cipher, Crypter, Mode};

use crate::sw::Sw;

/// An open session.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SmSession {
    key: [u8; 16],
    counter: u32,
}

impl std::fmt::Debug for SmSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmSession").field("counter", &self.counter).finish_non_exhaustive()
    }
}

/// The session state of the text AP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SmState {
    /// No session: SM commands answer `69 FC`.
    #[default]
    None,
    /// A session is open.
    Open(SmSession),
    /// The session was destroyed by a bad SM command: `69 FC` until a new SET SESSION KEY.
    Broken,
}

/// Opens a session from the decrypted SET SESSION KEY message (spec §5.6 item 2):
/// only `A0 22 80 20 <32>` is accepted; forms with a CCS key (`81`) or anything else `6A 80`.
pub fn open(plaintext: &[u8]) -> Result<SmSession, Sw> {
    match plaintext {
        [0xA0, 0x22, 0x80, 0x20, rest @ ..] if rest.len() == 32 => {
            let mut key = [0u8; 16];
            key.copy_from_slice(&rest[..16]);
            Ok(SmSession { key, counter: 0 })
        }
        _ => Err(Sw::INCORRECT_DATA),
    }
}

impl SmSession {
    /// Advances the counter for the next SM command and returns its IV.
    pub fn next_iv(&mut self) -> [u8; 16] {
        self.counter = self.counter.wrapping_add(1);
        let mut block = [0u8; 16];
        block[12..].copy_from_slice(&self.counter.to_be_bytes());
        let mut iv = [0u8; 32];
        let n = aes(Mode::Encrypt, Cipher::aes_128_ecb(), &self.key, None, &block, &mut iv);
        let mut out = [0u8; 16];
        out.copy_from_slice(&iv[..16.min(n)]);
        out
    }

    /// Decrypts `86 L 01 <ciphertext>` (exactly one DO, its length in the short or a long
    /// form: `86 81 11 01 …` is accepted, spec §13.5); any other shape or bad padding is
    /// `69 88` and destroys the session (the caller does that).
    pub fn decrypt_value(&self, iv: &[u8; 16], data: &[u8]) -> Result<Vec<u8>, Sw> {
        let ciphertext = match the_only_object(data) {
            Some(only) if only.tag == 0x86 && only.value.first() == Some(&0x01) => &only.value[1..],
            _ => return Err(Sw::SM_DATA_OBJECTS_INCORRECT),
        };
        if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
            return Err(Sw::SM_DATA_OBJECTS_INCORRECT);
        }
        let mut plain = vec![0u8; ciphertext.len() + 16];
        let n = aes(Mode::Decrypt, Cipher::aes_128_cbc(), &self.key, Some(iv), ciphertext, &mut plain);
        plain.truncate(n);
        // Strip ISO/IEC 7816-4 padding: trailing 00s after one 80.
        let end = plain.iter().rposition(|b| *b != 0x00).ok_or(Sw::SM_DATA_OBJECTS_INCORRECT)?;
        if plain[end] != 0x80 {
            return Err(Sw::SM_DATA_OBJECTS_INCORRECT);
        }
        plain.truncate(end);
        Ok(plain)
    }

    /// Encrypts `plain` into `86 L 01 <ciphertext>`.
    pub fn encrypt_value(&self, iv: &[u8; 16], plain: &[u8], out: &mut Vec<u8>) -> Result<(), Sw> {
        let mut padded = plain.to_vec();
        padded.push(0x80);
        padded.resize(padded.len().div_ceil(16) * 16, 0x00);
        let mut value = vec![0u8; padded.len() + 17];
        value[0] = 0x01;
        let n = aes(Mode::Encrypt, Cipher::aes_128_cbc(), &self.key, Some(iv), &padded, &mut value[1..]);
        value.truncate(1 + n);
        Ok(crate::tlv::push_tlv(out, 0x86, &value, crate::tlv::LengthForm::Minimal)?)
    }
}

/// The data field as exactly one DO filling it (no second object, no trailing bytes), with
/// its length in any form the card reads (`L`, `81 L`, `82 hh ll`).
fn the_only_object(data: &[u8]) -> Option<crate::tlv::Tlv<'_>> {
    match crate::tlv::parse_all(data)?.as_slice() {
        [only] if only.offset == 0 && only.value.as_ptr_range().end == data.as_ptr_range().end => Some(*only),
        _ => None,
    }
}

/// Parses the READ BINARY length DO `96 03 00 hh ll` (spec §5.6 item 4); `00 00` = whole file.
/// \[inf\] Its length may take the long form too (`96 81 03 …`), as the `86` DO's may
/// (spec §13.5): the card reads both DOs with one BER parser.
pub fn read_length(data: &[u8]) -> Result<Option<usize>, Sw> {
    match the_only_object(data) {
        Some(only) if only.tag == 0x96 => match only.value {
            [0x00, hi, lo] => {
                let n = usize::from(u16::from_be_bytes([*hi, *lo]));
                Ok(if n == 0 { None } else { Some(n) })
            }
            _ => Err(Sw::SM_DATA_OBJECTS_INCORRECT),
        },
        _ => Err(Sw::SM_DATA_OBJECTS_INCORRECT),
    }
}

/// AES without padding; block-aligned input. Returns the bytes written.
fn aes(mode: Mode, cipher: Cipher, key: &[u8; 16], iv: Option<&[u8; 16]>, input: &[u8], out: &mut [u8]) -> usize {
    let mut run = || -> Result<usize, openssl::error::ErrorStack> {
        let mut crypter = Crypter::new(cipher, mode, key, iv.map(|v| &v[..]))?;
        crypter.pad(false);
        let n = crypter.update(input, out)?;
        Ok(n + crypter.finalize(&mut out[n..])?)
    };
    // Block-aligned AES-128 with a 16-byte key and IV cannot fail; report nothing written if it does.
    run().unwrap_or(0)
}
