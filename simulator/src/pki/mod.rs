//! Keys, signing and the test PKI (spec §9, §5.3–§5.5, §6.3–§6.4).
//!
//! RSA keys are generated deterministically from a seed with the `rsa` crate (a ChaCha20
//! stream keyed by SHA-256(seed, label)), then handed to OpenSSL for every private-key
//! operation: OpenSSL signs about three times faster than the `rsa` crate here
//! (shared/PLATFORM.md, "RSA-2048 signing backends"). Key generation takes seconds, so the
//! generated keys go through a [`KeyCache`] that the caller backs with whatever it likes
//! (the harness uses files); this module does no I/O.

pub mod cv;
pub mod x509;

use std::collections::HashMap;

use openssl::pkey::Private;
use openssl::rsa::{Padding, Rsa};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// Modulus size in bytes of every key on the card (RSA-2048, spec §4.2).
pub const MODULUS_LEN: usize = 256;

/// Largest data block PKCS#1 v1.5 type-01 padding can carry with a 2048-bit key (k − 11).
pub const MAX_PKCS1_DATA: usize = MODULUS_LEN - 11;

/// The DER prefix of a SHA-256 `DigestInfo` (RFC 8017 §9.2 note 1).
pub const SHA256_DIGEST_INFO_PREFIX: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

/// Errors of key handling and certificate generation.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// OpenSSL refused an operation.
    #[error("an OpenSSL operation failed")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    /// RSA key generation failed.
    #[error("RSA key generation: {0}")]
    KeyGeneration(String),
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Certificate(String),
    /// A card file would hold a value too long for its length field.
    #[error(transparent)]
    TooLong(#[from] crate::tlv::TooLong),
}

/// Where generated keys are kept between runs. Implementations must be tolerant: a
/// `load` that returns garbage only costs a regeneration.
pub trait KeyCache {
    /// The PKCS#1 DER private key stored under `name`, if any.
    fn load(&mut self, name: &str) -> Option<Vec<u8>>;
    /// Stores a PKCS#1 DER private key under `name`.
    fn store(&mut self, name: &str, der: &[u8]);
}

/// A [`KeyCache`] in memory (nothing survives the process).
#[derive(Debug, Default)]
pub struct MemoryKeyCache(HashMap<String, Vec<u8>>);

impl KeyCache for MemoryKeyCache {
    fn load(&mut self, name: &str) -> Option<Vec<u8>> {
        self.0.get(name).cloned()
    }

    fn store(&mut self, name: &str, der: &[u8]) {
        self.0.insert(name.to_owned(), der.to_vec());
    }
}

/// An RSA-2048 private key with the precomputed public parts the card hands out.
#[derive(Clone)]
pub struct RsaKey {
    rsa: Rsa<Private>,
    modulus: [u8; MODULUS_LEN],
    public_der: Vec<u8>,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaKey({:02X?}..)", &self.modulus[..8])
    }
}

impl RsaKey {
    /// Loads a PKCS#1 DER private key; it must be RSA-2048 with exponent 65537.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<RsaKey, PkiError> {
        let rsa = Rsa::private_key_from_der(der)?;
        if rsa.size() as usize != MODULUS_LEN || rsa.e().to_vec() != [1, 0, 1] {
            return Err(PkiError::KeyGeneration("not an RSA-2048 key with exponent 65537".into()));
        }
        // Not `check_key`: it tests p and q for primality, 40 ms a key. One signature checked
        // with the public key (under 1 ms) catches any damage that would matter.
        let probe = [0x5Au8; 32];
        let mut signature = [0u8; MODULUS_LEN];
        let mut recovered = [0u8; MODULUS_LEN];
        rsa.private_encrypt(&probe, &mut signature, Padding::PKCS1)?;
        let n = rsa.public_decrypt(&signature, &mut recovered, Padding::PKCS1).unwrap_or(0);
        if recovered[..n] != probe {
            return Err(PkiError::KeyGeneration("the key's private and public halves do not match".into()));
        }
        let mut modulus = [0u8; MODULUS_LEN];
        let n = rsa.n().to_vec_padded(MODULUS_LEN as i32)?;
        modulus.copy_from_slice(&n);
        let public_der = rsa.public_key_to_der_pkcs1()?;
        Ok(RsaKey { rsa, modulus, public_der })
    }

    /// The key derived from `seed` and `label`, through `cache`.
    pub fn derive(seed: &str, label: &str, cache: &mut dyn KeyCache) -> Result<RsaKey, PkiError> {
        let digest = Sha256::new()
            .chain_update(b"mynasim key v1\0")
            .chain_update(seed.as_bytes())
            .chain_update([0])
            .chain_update(label.as_bytes())
            .finalize();
        let name = format!("{label}-{}", hex(&digest[..12]));
        if let Some(der) = cache.load(&name) {
            if let Ok(key) = RsaKey::from_pkcs1_der(&der) {
                return Ok(key);
            }
        }
        let mut rng = ChaCha20Rng::from_seed(digest.into());
        let exponent = rsa::BigUint::from(65_537u32);
        let key = rsa::RsaPrivateKey::new_with_exp(&mut rng, 2048, &exponent).map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
        let der = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(&key).map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
        cache.store(&name, der.as_bytes());
        RsaKey::from_pkcs1_der(der.as_bytes())
    }

    /// The big-endian modulus, 256 bytes.
    pub fn modulus(&self) -> &[u8; MODULUS_LEN] {
        &self.modulus
    }

    /// The PKCS#1 `RSAPublicKey` DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// The public key as the 券面 APs write it: `90 03 01 00 01 91 82 01 00 <modulus>`,
    /// 265 bytes (spec §5 conventions).
    pub fn public_key_record(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(265);
        out.extend_from_slice(&[0x90, 0x03, 0x01, 0x00, 0x01, 0x91, 0x82, 0x01, 0x00]);
        out.extend_from_slice(&self.modulus);
        out
    }

    /// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), for users' tools.
    pub fn public_key_pem(&self) -> Result<String, PkiError> {
        let pem = self.rsa.public_key_to_pem()?;
        Ok(String::from_utf8_lossy(&pem).into_owned())
    }

    /// PKCS#1 v1.5 type-01 signature over `data` as given (1–245 bytes), the card's
    /// `80 2A 00` operation (spec §3.7).
    pub fn sign_pkcs1(&self, data: &[u8], out: &mut [u8; MODULUS_LEN]) -> Result<(), PkiError> {
        let n = self.rsa.private_encrypt(data, out, Padding::PKCS1)?;
        debug_assert_eq!(n, MODULUS_LEN);
        Ok(())
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    pub fn sign_sha256(&self, message: &[u8]) -> Result<[u8; MODULUS_LEN], PkiError> {
        let mut digest_info = [0u8; 51];
        digest_info[..19].copy_from_slice(&SHA256_DIGEST_INFO_PREFIX);
        digest_info[19..].copy_from_slice(&Sha256::digest(message));
        let mut out = [0u8; MODULUS_LEN];
        self.sign_pkcs1(&digest_info, &mut out)?;
        Ok(out)
    }

    /// RSASSA-PSS over a SHA-256 `hash` with MGF1-SHA-256 and a 32-byte `salt`
    /// (RFC 8017 §9.1.1). The salt comes from the card's injected RNG, so the encoding is
    /// done here and OpenSSL only does the raw private-key operation.
    pub fn sign_pss_sha256(&self, hash: &[u8; 32], salt: &[u8; 32], out: &mut [u8; MODULUS_LEN]) -> Result<(), PkiError> {
        // emBits = modBits - 1 = 2047, so emLen = 256 and the top bit of EM must be 0.
        const EM_LEN: usize = MODULUS_LEN;
        const H_LEN: usize = 32;
        const DB_LEN: usize = EM_LEN - H_LEN - 1;
        let h: [u8; H_LEN] = Sha256::new().chain_update([0u8; 8]).chain_update(hash).chain_update(salt).finalize().into();
        let mut em = [0u8; EM_LEN];
        // DB = PS || 0x01 || salt, masked with MGF1(H).
        em[DB_LEN - H_LEN - 1] = 0x01;
        em[DB_LEN - H_LEN..DB_LEN].copy_from_slice(salt);
        let mut counter = 0u32;
        let mut pos = 0;
        while pos < DB_LEN {
            let block = Sha256::new().chain_update(h).chain_update(counter.to_be_bytes()).finalize();
            for (dst, m) in em[pos..DB_LEN].iter_mut().zip(block.iter()) {
                *dst ^= m;
            }
            pos += H_LEN;
            counter += 1;
        }
        em[0] &= 0x7F;
        em[DB_LEN..EM_LEN - 1].copy_from_slice(&h);
        em[EM_LEN - 1] = 0xBC;
        let n = self.rsa.private_encrypt(&em, out, Padding::NONE)?;
        debug_assert_eq!(n, MODULUS_LEN);
        Ok(())
    }

    /// RSAES-OAEP decryption with SHA-256 for the digest and MGF1 (spec §5.6 SET SESSION KEY).
    /// `None` for a ciphertext that does not decrypt.
    pub fn decrypt_oaep_sha256(&self, ciphertext: &[u8]) -> Result<Option<Vec<u8>>, PkiError> {
        let key = openssl::pkey::PKey::from_rsa(self.rsa.clone())?;
        let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&key)?;
        ctx.decrypt_init()?;
        ctx.set_rsa_padding(Padding::PKCS1_OAEP)?;
        ctx.set_rsa_oaep_md(openssl::md::Md::sha256())?;
        ctx.set_rsa_mgf1_md(openssl::md::Md::sha256())?;
        let mut out = Vec::new();
        Ok(ctx.decrypt_to_vec(ciphertext, &mut out).ok().map(|_| out))
    }

    /// SHA-1 of the `RSAPublicKey`, the usual subject key identifier (RFC 5280 §4.2.1.2 (1)).
    pub fn key_identifier(&self) -> Vec<u8> {
        openssl::sha::sha1(&self.public_der).to_vec()
    }

    /// Verifies a PKCS#1 v1.5 signature and returns the recovered block (for tests).
    pub fn recover_pkcs1(&self, signature: &[u8]) -> Result<Vec<u8>, PkiError> {
        let mut out = vec![0u8; MODULUS_LEN];
        let n = self.rsa.public_decrypt(signature, &mut out, Padding::PKCS1)?;
        out.truncate(n);
        Ok(out)
    }

    /// The OpenSSL key, for verification in tests and tools.
    pub fn openssl_public(&self) -> Result<openssl::pkey::PKey<openssl::pkey::Public>, PkiError> {
        let n = openssl::bn::BigNum::from_slice(&self.modulus)?;
        let e = openssl::bn::BigNum::from_u32(65_537)?;
        Ok(openssl::pkey::PKey::from_rsa(Rsa::from_public_components(n, e)?)?)
    }
}

impl rcgen::PublicKeyData for RsaKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_der
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl rcgen::SigningKey for RsaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.sign_sha256(msg).map(|s| s.to_vec()).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::hash::MessageDigest;
    use openssl::sign::{RsaPssSaltlen, Verifier};

    #[test]
    fn derivation_is_deterministic_and_cached() {
        let mut cache = MemoryKeyCache::default();
        let a = RsaKey::derive("seed", "label", &mut cache).unwrap();
        assert_eq!(cache.0.len(), 1);
        let b = RsaKey::derive("seed", "label", &mut cache).unwrap();
        assert_eq!(a.modulus(), b.modulus());
        // Same seed without the cache: the same key again.
        let c = RsaKey::derive("seed", "label", &mut MemoryKeyCache::default()).unwrap();
        assert_eq!(a.modulus(), c.modulus());
        // A damaged cache entry is regenerated, not trusted.
        let name = cache.0.keys().next().unwrap().clone();
        let der = cache.0.get_mut(&name).unwrap();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        let d = RsaKey::derive("seed", "label", &mut cache).unwrap();
        assert_eq!(a.modulus(), d.modulus());
        let other = RsaKey::derive("seed", "other", &mut cache).unwrap();
        assert_ne!(a.modulus(), other.modulus());
    }

    #[test]
    fn pss_verifies_with_openssl() {
        let key = RsaKey::derive("seed", "label", &mut MemoryKeyCache::default()).unwrap();
        let message = b"message";
        let hash: [u8; 32] = Sha256::digest(message).into();
        let mut signature = [0u8; MODULUS_LEN];
        key.sign_pss_sha256(&hash, &[7u8; 32], &mut signature).unwrap();
        let public = key.openssl_public().unwrap();
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.set_rsa_padding(Padding::PKCS1_PSS).unwrap();
        verifier.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH).unwrap();
        verifier.update(message).unwrap();
        assert!(verifier.verify(&signature).unwrap());
    }

    #[test]
    fn sha256_signature_verifies_with_openssl() {
        let key = RsaKey::derive("seed", "label", &mut MemoryKeyCache::default()).unwrap();
        let signature = key.sign_sha256(b"data").unwrap();
        let public = key.openssl_public().unwrap();
        let mut verifier = Verifier::new(MessageDigest::sha256(), &public).unwrap();
        verifier.update(b"data").unwrap();
        assert!(verifier.verify(&signature).unwrap());
    }
}
