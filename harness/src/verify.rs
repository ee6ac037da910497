//! In-process checks of what the card hands out, with OpenSSL: a COMPUTE DIGITAL SIGNATURE
//! result against a certificate (spec §3.7), a certificate against its CA as
//! `openssl verify -CAfile` judges it (spec §9), and the shape of EF contents (one DER
//! certificate, BER-TLV). The scenario harness's `verify` step and data matchers call these,
//! so a scenario needs no shell pipeline; nothing here knows about scenarios.
//!
//! Every check returns `Ok` or an error whose message says what differed.
//!
//! Decisions:
//! - **PSS salt.** [`Padding::Pss`] means MGF1 with the signature's own digest and a salt as
//!   long as the digest, the RFC 8017 §9.1 default and what the card does (32 random bytes
//!   with SHA-256, `mynasim_simulator::pki::RsaKey::sign_pss_sha256`). The spec says only
//!   "random salt", so a card whose salt length changed is a difference to report, not to
//!   accept: a signature that verifies only with another salt length fails with its own
//!   error, [`VerifyError::PssSaltLength`], so the message names the cause.
//! - **Trailing bytes after a certificate.** Refused, `00`/`FF` filler included: the
//!   simulator stores each certificate EF as the bare DER, and spec §4.4 asks that the EF
//!   size equal the DER length (OpenSC's `30 82 LL LL` rule reads exactly that far). The
//!   error counts the extra bytes and says when they are all filler, so a padded EF is
//!   recognisable.
//! - **TLV.** [`parses_as_tlv`] reads with the card's own reader,
//!   [`mynasim_simulator::tlv::parse_all`]: one- or two-byte tags, definite lengths in the
//!   forms `00`–`7F`, `81 xx`, `82 xx xx`, and `00`/`FF` filler after the last object
//!   (spec §5 conventions).

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::md::{Md, MdRef};
use openssl::pkey::{PKey, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::sign::RsaPssSaltlen;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509NameRef, X509Ref, X509StoreContext, X509};
use time::OffsetDateTime;

use mynasim_simulator::pki::{hex, SHA256_DIGEST_INFO_PREFIX};
use mynasim_simulator::tlv::{parse_all, Tlv};

/// A hash algorithm of a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    /// SHA-1 (20 bytes), what jpki-cli signs (spec §3.7).
    Sha1,
    /// SHA-256 (32 bytes), the card's own hash for P1 `01`–`05`.
    Sha256,
    /// SHA-384 (48 bytes).
    Sha384,
    /// SHA-512 (64 bytes).
    Sha512,
}

impl Digest {
    /// Every digest, shortest first.
    pub const ALL: [Digest; 4] = [Digest::Sha1, Digest::Sha256, Digest::Sha384, Digest::Sha512];

    /// The name as standards write it, e.g. `SHA-256`.
    pub fn name(self) -> &'static str {
        match self {
            Digest::Sha1 => "SHA-1",
            Digest::Sha256 => "SHA-256",
            Digest::Sha384 => "SHA-384",
            Digest::Sha512 => "SHA-512",
        }
    }

    /// The hash length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Digest::Sha1 => 20,
            Digest::Sha256 => 32,
            Digest::Sha384 => 48,
            Digest::Sha512 => 64,
        }
    }

    /// The hash of `data`.
    pub fn hash(self, data: &[u8]) -> Result<Vec<u8>, VerifyError> {
        let md = match self {
            Digest::Sha1 => MessageDigest::sha1(),
            Digest::Sha256 => MessageDigest::sha256(),
            Digest::Sha384 => MessageDigest::sha384(),
            Digest::Sha512 => MessageDigest::sha512(),
        };
        Ok(openssl::hash::hash(md, data)?.to_vec())
    }

    fn md(self) -> &'static MdRef {
        match self {
            Digest::Sha1 => Md::sha1(),
            Digest::Sha256 => Md::sha256(),
            Digest::Sha384 => Md::sha384(),
            Digest::Sha512 => Md::sha512(),
        }
    }

    /// The DER `DigestInfo` up to the hash (RFC 8017 §9.2 note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        const SHA1: [u8; 15] = [0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2B, 0x0E, 0x03, 0x02, 0x1A, 0x05, 0x00, 0x04, 0x14];
        const SHA384: [u8; 19] =
            [0x30, 0x41, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30];
        const SHA512: [u8; 19] =
            [0x30, 0x51, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40];
        match self {
            Digest::Sha1 => &SHA1,
            Digest::Sha256 => &SHA256_DIGEST_INFO_PREFIX,
            Digest::Sha384 => &SHA384,
            Digest::Sha512 => &SHA512,
        }
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The DER `DigestInfo` of a hash (RFC 8017 §9.2), the data a client gives to
/// `80 2A 00` (spec §3.7): 35 bytes for SHA-1, 51 for SHA-256, 67 for SHA-384, 83 for
/// SHA-512. The simulator has the SHA-256 prefix only
/// ([`mynasim_simulator::pki::SHA256_DIGEST_INFO_PREFIX`], used here).
pub fn digest_info(digest: Digest, hash: &[u8]) -> Result<Vec<u8>, VerifyError> {
    let mut out = digest.digest_info_prefix().to_vec();
    out.extend_from_slice(checked_hash(digest, hash)?);
    Ok(out)
}

/// `hash` if it is as long as `digest` makes them.
fn checked_hash(digest: Digest, hash: &[u8]) -> Result<&[u8], VerifyError> {
    if hash.len() == digest.output_len() {
        Ok(hash)
    } else {
        Err(VerifyError::HashLength { digest, expected: digest.output_len(), actual: hash.len() })
    }
}

/// The signature scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// RSASSA-PKCS1-v1_5 (type-01 padding), P1 `00`–`03`.
    Pkcs1,
    /// RSASSA-PSS with MGF1 over the same digest and a salt as long as the digest, P1 `04`,
    /// `05` (see the module documentation for why the salt length is fixed).
    Pss,
}

/// What was signed, in the form the card's P1 took it (spec §3.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signed<'a> {
    /// The exact bytes given to `80 2A 00` (normally a DigestInfo); PKCS#1 v1.5 only. The
    /// signature is opened with the public key and its content compared byte for byte.
    DigestInfo(&'a [u8]),
    /// A hash computed elsewhere (P1 `02`, `04`).
    Digest {
        /// Its algorithm.
        digest: Digest,
        /// The hash; its length must match the digest.
        hash: &'a [u8],
    },
    /// The data itself, hashed here (P1 `03`, `05`, or a file signed through P1 `00`).
    Message {
        /// The algorithm to hash with.
        digest: Digest,
        /// The data.
        data: &'a [u8],
    },
    /// P1 `01`: a hash padded with PKCS#1 v1.5 as it is, no DigestInfo (the card's is the
    /// 32-byte SHA-256 of the data, see [`Digest::hash`]). PKCS#1 v1.5 only.
    BareHash(&'a [u8]),
}

/// Why a signature did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The certificate does not parse (see [`is_der_certificate`]).
    #[error("the certificate: {0}")]
    Certificate(CertificateError),
    /// The certificate's key is not an RSA key.
    #[error("the certificate's key is not RSA (OpenSSL key type {0})")]
    NotRsa(i32),
    /// The signature is not as long as the modulus.
    #[error("the signature is {actual} bytes; the certificate's {bits}-bit key makes {expected}-byte signatures")]
    SignatureLength {
        /// Bytes given.
        actual: usize,
        /// The modulus length in bytes.
        expected: usize,
        /// The modulus length in bits.
        bits: usize,
    },
    /// A hash does not have its digest's length.
    #[error("a {digest} hash is {expected} bytes, this one is {actual}")]
    HashLength {
        /// The digest named.
        digest: Digest,
        /// Its length.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// PSS was asked for a form it cannot sign.
    #[error("RSASSA-PSS signs a hash: give Signed::Digest or Signed::Message, not {0}")]
    PssNeedsDigest(&'static str),
    /// The signature does not open to a PKCS#1 v1.5 type-01 block with this key.
    #[error(
        "the signature does not open to a PKCS#1 v1.5 type-01 block with the certificate's key \
         (made with another key, or altered)"
    )]
    NotPkcs1,
    /// The PKCS#1 v1.5 signature is genuine but over other bytes.
    #[error("the signature holds {actual}, expected {expected}")]
    SignedDiffers {
        /// What should be inside.
        expected: String,
        /// What is inside.
        actual: String,
    },
    /// The PSS signature does not verify.
    #[error(
        "the RSASSA-PSS signature does not verify with the certificate's key over {digest} hash {hash} \
         (MGF1-{digest}, any salt length): {reason}"
    )]
    PssMismatch {
        /// The digest.
        digest: Digest,
        /// The hash, hex.
        hash: String,
        /// OpenSSL's reason.
        reason: String,
    },
    /// The PSS signature verifies, but its salt is not as long as the digest.
    #[error(
        "the RSASSA-PSS signature is valid but its salt is not {expected} bytes (the {digest} length, \
         what the card uses): {reason}"
    )]
    PssSaltLength {
        /// The digest.
        digest: Digest,
        /// The salt length expected.
        expected: usize,
        /// OpenSSL's reason, which gives the length found.
        reason: String,
    },
    /// OpenSSL failed for another reason.
    #[error("OpenSSL failed: {0}")]
    OpenSsl(ErrorStack),
}

impl From<ErrorStack> for VerifyError {
    fn from(e: ErrorStack) -> VerifyError {
        VerifyError::OpenSsl(e)
    }
}

/// Verifies `signature` over `signed` with the key of a DER certificate.
///
/// PKCS#1 v1.5 follows RFC 8017 §8.2.2: the signature is opened with the public key and the
/// block inside compared with the expected DigestInfo (or, for [`Signed::DigestInfo`] and
/// [`Signed::BareHash`], the bytes as given), so a mismatch can say what was signed
/// instead. PSS is OpenSSL's RSASSA-PSS verification.
pub fn verify_signature(certificate_der: &[u8], signature: &[u8], signed: Signed<'_>, padding: Padding) -> Result<(), VerifyError> {
    let certificate = parse_certificate(certificate_der).map_err(VerifyError::Certificate)?;
    let key = certificate.public_key()?;
    let rsa = key.rsa().map_err(|_| VerifyError::NotRsa(key.id().as_raw()))?;
    let expected = rsa.size() as usize;
    if signature.len() != expected {
        return Err(VerifyError::SignatureLength { actual: signature.len(), expected, bits: expected * 8 });
    }
    match padding {
        Padding::Pkcs1 => {
            let block = match signed {
                Signed::DigestInfo(bytes) | Signed::BareHash(bytes) => bytes.to_vec(),
                Signed::Digest { digest, hash } => digest_info(digest, hash)?,
                Signed::Message { digest, data } => digest_info(digest, &digest.hash(data)?)?,
            };
            let mut recovered = vec![0u8; expected];
            let n = rsa.public_decrypt(signature, &mut recovered, openssl::rsa::Padding::PKCS1).map_err(|_| VerifyError::NotPkcs1)?;
            recovered.truncate(n);
            if recovered != block {
                return Err(VerifyError::SignedDiffers { expected: describe_block(&block), actual: describe_block(&recovered) });
            }
            Ok(())
        }
        Padding::Pss => {
            let (digest, hash) = match signed {
                Signed::Digest { digest, hash } => (digest, checked_hash(digest, hash)?.to_vec()),
                Signed::Message { digest, data } => (digest, digest.hash(data)?),
                Signed::DigestInfo(_) => return Err(VerifyError::PssNeedsDigest("a DigestInfo")),
                Signed::BareHash(_) => return Err(VerifyError::PssNeedsDigest("a bare hash")),
            };
            let Some(reason) = pss_failure(&key, digest, &hash, signature, RsaPssSaltlen::DIGEST_LENGTH)? else {
                return Ok(());
            };
            match pss_failure(&key, digest, &hash, signature, PSS_ANY_SALT_LENGTH)? {
                None => Err(VerifyError::PssSaltLength { digest, expected: digest.output_len(), reason }),
                Some(reason) => Err(VerifyError::PssMismatch { digest, hash: hex(&hash), reason }),
            }
        }
    }
}

/// OpenSSL's `RSA_PSS_SALTLEN_AUTO`: on verification, the salt length read from the block.
const PSS_ANY_SALT_LENGTH: RsaPssSaltlen = RsaPssSaltlen::MAXIMUM_LENGTH;

/// `None` if the signature verifies with this salt length, else OpenSSL's reason.
fn pss_failure(
    key: &PKey<Public>,
    digest: Digest,
    hash: &[u8],
    signature: &[u8],
    salt: RsaPssSaltlen,
) -> Result<Option<String>, ErrorStack> {
    let mut ctx = PkeyCtx::new(key)?;
    ctx.verify_init()?;
    ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_PSS)?;
    ctx.set_signature_md(digest.md())?;
    ctx.set_rsa_mgf1_md(digest.md())?;
    ctx.set_rsa_pss_saltlen(salt)?;
    // OpenSSL 3 reports a signature that does not verify as an error, with the reason
    // (e.g. "salt length check failed (expected: 32 retrieved: 20)"); a plain `false` can
    // leave the reason queued on this thread, so it is taken either way.
    let verified = ctx.verify(hash, signature);
    let queued = ErrorStack::get();
    Ok(match verified {
        Ok(true) => None,
        Ok(false) => Some(openssl_reason(&queued)),
        Err(stack) => Some(openssl_reason(&stack)),
    })
}

/// The first reason of an OpenSSL error stack, with its detail, e.g.
/// `salt length check failed (expected: 32 retrieved: 20)`.
fn openssl_reason(stack: &ErrorStack) -> String {
    match stack.errors().first() {
        Some(error) => match (error.reason(), error.data()) {
            (Some(reason), Some(data)) => format!("{reason} ({data})"),
            (Some(reason), None) => reason.to_owned(),
            _ => error.to_string(),
        },
        None => "no reason given".to_owned(),
    }
}

/// A PKCS#1 v1.5 block for a message: a DigestInfo is named by its digest.
fn describe_block(block: &[u8]) -> String {
    for digest in Digest::ALL {
        if let Some(hash) = block.strip_prefix(digest.digest_info_prefix()) {
            if hash.len() == digest.output_len() {
                return format!("a {digest} DigestInfo of hash {}", hex(hash));
            }
        }
    }
    const SHOWN: usize = 64;
    match block.get(..SHOWN) {
        Some(head) if block.len() > SHOWN => format!("{} bytes {}…", block.len(), hex(head)),
        _ => format!("{} bytes {}", block.len(), hex(block)),
    }
}

/// What a certificate says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject, attributes in certificate order, e.g. `C=JP, O=…, CN=…`.
    pub subject: String,
    /// The issuer, in the same form.
    pub issuer: String,
    /// The serial number, upper-case hex as `openssl x509 -serial` prints it.
    pub serial: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

/// Why bytes are not one certificate, or a certificate did not verify.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// OpenSSL cannot parse an X.509 certificate at the start of the bytes.
    #[error("not an X.509 certificate ({len} bytes starting {head}): {reason}")]
    Parse {
        /// Bytes given.
        len: usize,
        /// The first bytes, hex.
        head: String,
        /// OpenSSL's reason.
        reason: ErrorStack,
    },
    /// Bytes follow the certificate.
    #[error(
        "{count} bytes follow the {der_len}-byte DER certificate{}",
        if *filler { " (all 00/FF filler: the EF is padded)" } else { "" }
    )]
    TrailingBytes {
        /// Length of the certificate.
        der_len: usize,
        /// Bytes after it.
        count: usize,
        /// Whether they are all `00` or `FF`.
        filler: bool,
    },
    /// The certificate parses but is not in DER (OpenSSL writes it back differently).
    #[error("the certificate is not DER: it re-encodes to other bytes (BER or a non-canonical encoding)")]
    NotDer,
    /// A CA certificate is wrong.
    #[error("CA certificate {index}: {reason}")]
    Ca {
        /// Its position in the list given, from 0.
        index: usize,
        /// Why.
        reason: Box<CertificateError>,
    },
    /// The chain does not verify; the code and reason are OpenSSL's (`openssl verify`
    /// prints the same).
    #[error("openssl verify: error {code} at depth {depth} ({subject}): {reason}")]
    Rejected {
        /// OpenSSL's `X509_V_ERR_*` number, e.g. 10 for an expired certificate.
        code: i32,
        /// OpenSSL's text, e.g. `certificate has expired`.
        reason: String,
        /// Depth in the chain of the certificate at fault: 0 = the one verified.
        depth: u32,
        /// That certificate's subject.
        subject: String,
    },
    /// A time in the certificate is out of range.
    #[error("the certificate's {field} is out of range")]
    Time {
        /// `notBefore` or `notAfter`.
        field: &'static str,
    },
    /// OpenSSL failed for another reason.
    #[error("OpenSSL failed: {0}")]
    OpenSsl(ErrorStack),
}

impl From<ErrorStack> for CertificateError {
    fn from(e: ErrorStack) -> CertificateError {
        CertificateError::OpenSsl(e)
    }
}

/// Checks that `bytes` are exactly one DER X.509 certificate: nothing after it, not even
/// filler (see the module documentation).
pub fn is_der_certificate(bytes: &[u8]) -> Result<CertificateInfo, CertificateError> {
    certificate_info(&*parse_certificate(bytes)?)
}

fn parse_certificate(bytes: &[u8]) -> Result<X509, CertificateError> {
    let certificate = X509::from_der(bytes).map_err(|reason| CertificateError::Parse {
        len: bytes.len(),
        head: hex(bytes.get(..8).unwrap_or(bytes)),
        reason,
    })?;
    // OpenSSL reads the first certificate and ignores what follows; its own encoding says
    // where the certificate ends.
    let der = certificate.to_der()?;
    match bytes.strip_prefix(der.as_slice()) {
        Some([]) => Ok(certificate),
        Some(rest) => Err(CertificateError::TrailingBytes {
            der_len: der.len(),
            count: rest.len(),
            filler: rest.iter().all(|b| matches!(b, 0x00 | 0xFF)),
        }),
        None => Err(CertificateError::NotDer),
    }
}

/// Verifies a DER certificate against trusted CA certificates, as
/// `openssl verify -CAfile <cas>` does (no intermediates, no CRLs, any purpose), at time
/// `at` (`None` = now), and returns what the certificate says about itself.
pub fn verify_certificate(
    certificate_der: &[u8],
    cas_der: &[&[u8]],
    at: Option<OffsetDateTime>,
) -> Result<CertificateInfo, CertificateError> {
    let certificate = parse_certificate(certificate_der)?;
    let mut store = X509StoreBuilder::new()?;
    for (index, ca) in cas_der.iter().enumerate() {
        let ca = parse_certificate(ca).map_err(|reason| CertificateError::Ca { index, reason: Box::new(reason) })?;
        store.add_cert(ca)?;
    }
    if let Some(at) = at {
        let mut param = X509VerifyParam::new()?;
        param.set_time(at.unix_timestamp());
        store.set_param(&param)?;
    }
    let store = store.build();
    let untrusted = Stack::new()?;
    let mut context = X509StoreContext::new()?;
    let failure = context.init(&store, &certificate, &untrusted, |context| {
        if context.verify_cert()? {
            return Ok(None);
        }
        let error = context.error();
        let subject = context.current_cert().map_or_else(|| Ok("no certificate".to_owned()), |c| name(c.subject_name()))?;
        Ok(Some(CertificateError::Rejected {
            code: error.as_raw(),
            reason: error.error_string().to_owned(),
            depth: context.error_depth(),
            subject,
        }))
    })?;
    drop(ErrorStack::get());
    match failure {
        Some(error) => Err(error),
        None => certificate_info(&certificate),
    }
}

fn certificate_info(certificate: &X509Ref) -> Result<CertificateInfo, CertificateError> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0)?;
    let time = |t: &openssl::asn1::Asn1TimeRef, field| {
        let since = epoch.diff(t)?;
        let seconds = i64::from(since.days) * 86_400 + i64::from(since.secs);
        OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| CertificateError::Time { field })
    };
    Ok(CertificateInfo {
        subject: name(certificate.subject_name())?,
        issuer: name(certificate.issuer_name())?,
        serial: certificate.serial_number().to_bn()?.to_hex_str()?.to_string(),
        not_before: time(certificate.not_before(), "notBefore")?,
        not_after: time(certificate.not_after(), "notAfter")?,
    })
}

/// `C=JP, O=…, CN=…`: short attribute names (or the OID) in certificate order.
fn name(name: &X509NameRef) -> Result<String, ErrorStack> {
    let mut parts = Vec::new();
    for entry in name.entries() {
        let attribute = entry.object().nid().short_name().map_or_else(|_| entry.object().to_string(), str::to_owned);
        parts.push(format!("{attribute}={}", entry.data().to_string()?));
    }
    Ok(parts.join(", "))
}

/// Why bytes are not BER-TLV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// No object before the end or the filler.
    #[error("no TLV object in the {len} bytes (empty, or filler only)")]
    Empty {
        /// Bytes given.
        len: usize,
    },
    /// An object is cut short or has a length form the card does not write.
    #[error(
        "BER-TLV breaks at offset {offset} of {len}: the object starting {head} has a tag, length or \
         value cut short, or a length form other than 00-7F, 81 xx, 82 xx xx"
    )]
    Malformed {
        /// Where the object that does not parse starts.
        offset: usize,
        /// Bytes given.
        len: usize,
        /// Its first bytes, hex.
        head: String,
    },
    /// Something other than filler follows the filler.
    #[error("filler starts at offset {filler}, but byte {offset} is {byte:02X}, not 00 or FF")]
    AfterFiller {
        /// Where the filler starts.
        filler: usize,
        /// The first byte that is not filler.
        offset: usize,
        /// Its value.
        byte: u8,
    },
}

/// Checks that `bytes` are BER-TLV as the card writes it (see the module documentation):
/// one or more objects, then optionally filler to the end. Returns the number of
/// top-level objects; what is inside them is not read (call this again on a value).
pub fn parses_as_tlv(bytes: &[u8]) -> Result<usize, TlvError> {
    let Some(objects) = parse_all(bytes) else {
        let offset = malformed_offset(bytes);
        let head = bytes.get(offset..).unwrap_or_default();
        return Err(TlvError::Malformed { offset, len: bytes.len(), head: hex(head.get(..6).unwrap_or(head)) });
    };
    let Some(last) = objects.last() else {
        return Err(TlvError::Empty { len: bytes.len() });
    };
    let filler = end_of(bytes, last);
    let rest = bytes.get(filler..).unwrap_or_default();
    if let Some((at, byte)) = rest.iter().enumerate().find(|(_, b)| !matches!(b, 0x00 | 0xFF)) {
        return Err(TlvError::AfterFiller { filler, offset: filler + at, byte: *byte });
    }
    Ok(objects.len())
}

/// Where the value of `tlv`, read from `data`, ends.
fn end_of(data: &[u8], tlv: &Tlv<'_>) -> usize {
    tlv.value.as_ptr().addr().saturating_sub(data.as_ptr().addr()) + tlv.value.len()
}

/// Where the object that `parse_all` cannot read starts, for a message. Every prefix that
/// ends before it parses and every longer one fails on it, so it is the end of the longest
/// prefix that parses. Costs a parse per byte after it: only on the error path.
fn malformed_offset(data: &[u8]) -> usize {
    (0..data.len())
        .rev()
        .find_map(|k| {
            let prefix = data.get(..k)?;
            let objects = parse_all(prefix)?;
            Some(objects.last().map_or(0, |last| end_of(prefix, last)))
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use mynasim_simulator::applets::{jpki, AppletId};
    use mynasim_simulator::command::SignMode;
    use mynasim_simulator::profile::Profile;
    use mynasim_simulator::Card;
    use rand_core::SeedableRng;

    use super::*;
    use crate::bench::{prepare_for_signing, sign_apdu, SELECT_JPKI};
    use crate::keycache::DirKeyCache;
    use crate::load::today_in_japan;

    /// One test issues at a time: on a cold key cache the first generates the keys, the
    /// others then find them on disk instead of generating the same keys in parallel.
    static ISSUING: Mutex<()> = Mutex::new(());

    fn issue(yaml: &str) -> Card {
        let _one_at_a_time = ISSUING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let personalization = Profile::from_yaml(yaml, "test").unwrap().resolve(today_in_japan(), "test").unwrap();
        let rng = Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(7));
        mynasim_simulator::issue::issue(&personalization, &mut DirKeyCache::default_location(), rng).unwrap()
    }

    fn ef(card: &Card, fid: u16) -> Vec<u8> {
        card.applet(AppletId::Jpki).unwrap().binary(fid).unwrap().to_vec()
    }

    fn sign(card: &mut Card, apdu: &[u8]) -> Vec<u8> {
        let response = card.transmit(apdu);
        assert_eq!((response.len(), &response[response.len() - 2..]), (258, &[0x90, 0x00][..]), "{apdu:02X?}");
        response[..256].to_vec()
    }

    /// How a verifier must read a signature made with `mode` over `data` (spec §3.7).
    fn expectation<'a>(mode: SignMode, data: &'a [u8], bare_hash: &'a [u8]) -> (Signed<'a>, Padding) {
        let digest = Digest::Sha256;
        match mode {
            SignMode::Pkcs1Raw => (Signed::DigestInfo(data), Padding::Pkcs1),
            SignMode::Pkcs1Sha256Bare => (Signed::BareHash(bare_hash), Padding::Pkcs1),
            SignMode::Pkcs1PrehashedSha256 => (Signed::Digest { digest, hash: data }, Padding::Pkcs1),
            SignMode::Pkcs1Sha256 => (Signed::Message { digest, data }, Padding::Pkcs1),
            SignMode::PssPrehashedSha256 => (Signed::Digest { digest, hash: data }, Padding::Pss),
            SignMode::PssSha256 => (Signed::Message { digest, data }, Padding::Pss),
        }
    }

    #[test]
    fn every_p1_verifies_and_a_flipped_bit_does_not() {
        let mut card = issue("");
        prepare_for_signing(&mut card, b"1234").unwrap();
        let auth = ef(&card, jpki::AUTH_CERTIFICATE);
        let other = ef(&card, jpki::SIGNATURE_CERTIFICATE);
        for mode in SignMode::ALL {
            // `80 2A P1 97 Lc <data> 00`: the auth key by SFI.
            let apdu = sign_apdu(mode);
            let data = &apdu[5..apdu.len() - 1];
            let bare_hash = Digest::Sha256.hash(data).unwrap();
            let (signed, padding) = expectation(mode, data, &bare_hash);
            let signature = sign(&mut card, &apdu);
            let p1 = mode.p1();
            verify_signature(&auth, &signature, signed, padding).unwrap_or_else(|e| panic!("P1 {p1:02X}: {e}"));

            let mut flipped = signature.clone();
            flipped[100] ^= 0x04;
            let error = verify_signature(&auth, &flipped, signed, padding).unwrap_err().to_string();
            let expected = if padding == Padding::Pss { "RSASSA-PSS signature does not verify" } else { "does not open" };
            assert!(error.contains(expected), "P1 {p1:02X}: {error}");

            let error = verify_signature(&other, &signature, signed, padding).unwrap_err().to_string();
            assert!(error.contains(expected), "P1 {p1:02X}, signature certificate: {error}");
        }
    }

    #[test]
    fn a_different_content_is_named() {
        let mut card = issue("");
        prepare_for_signing(&mut card, b"1234").unwrap();
        let auth = ef(&card, jpki::AUTH_CERTIFICATE);
        let signature = sign(&mut card, &sign_apdu(SignMode::Pkcs1Sha256));
        let error =
            verify_signature(&auth, &signature, Signed::Message { digest: Digest::Sha256, data: b"another message" }, Padding::Pkcs1)
                .unwrap_err()
                .to_string();
        let signed = hex(&Digest::Sha256.hash(b"message to sign").unwrap());
        let wanted = hex(&Digest::Sha256.hash(b"another message").unwrap());
        assert_eq!(
            error,
            format!("the signature holds a SHA-256 DigestInfo of hash {signed}, expected a SHA-256 DigestInfo of hash {wanted}")
        );
        // The same signature read as SHA-1: the DigestInfo names its digest.
        let error = verify_signature(&auth, &signature, Signed::Message { digest: Digest::Sha1, data: b"message to sign" }, Padding::Pkcs1)
            .unwrap_err()
            .to_string();
        assert!(error.contains("holds a SHA-256 DigestInfo") && error.contains("expected a SHA-1 DigestInfo"), "{error}");
        // Forms and lengths that cannot be right.
        let error = verify_signature(&auth, &signature, Signed::DigestInfo(b"x"), Padding::Pss).unwrap_err();
        assert!(matches!(error, VerifyError::PssNeedsDigest("a DigestInfo")), "{error}");
        let error =
            verify_signature(&auth, &signature, Signed::Digest { digest: Digest::Sha256, hash: &[0; 20] }, Padding::Pss).unwrap_err();
        assert_eq!(error.to_string(), "a SHA-256 hash is 32 bytes, this one is 20");
        let error = verify_signature(&auth, &signature[1..], Signed::DigestInfo(b"x"), Padding::Pkcs1).unwrap_err();
        assert_eq!(error.to_string(), "the signature is 255 bytes; the certificate's 2048-bit key makes 256-byte signatures");
        let error = verify_signature(&signature, &signature, Signed::DigestInfo(b"x"), Padding::Pkcs1).unwrap_err();
        assert!(matches!(error, VerifyError::Certificate(CertificateError::Parse { .. })), "{error}");
    }

    #[test]
    fn digest_infos_of_every_digest_match_openssl() {
        let mut card = issue("");
        prepare_for_signing(&mut card, b"1234").unwrap();
        let auth = ef(&card, jpki::AUTH_CERTIFICATE);
        let key = X509::from_der(&auth).unwrap().public_key().unwrap();
        let message = b"a document";
        for (digest, md) in
            Digest::ALL.iter().zip([MessageDigest::sha1(), MessageDigest::sha256(), MessageDigest::sha384(), MessageDigest::sha512()])
        {
            // What a client does with P1 00 (spec §3.7: 35, 51, 67, 83 bytes).
            let info = digest_info(*digest, &digest.hash(message).unwrap()).unwrap();
            assert_eq!(info.len(), [35, 51, 67, 83][Digest::ALL.iter().position(|d| d == digest).unwrap()]);
            let mut apdu = vec![0x80, 0x2A, 0x00, 0x97, info.len() as u8];
            apdu.extend_from_slice(&info);
            apdu.push(0);
            let signature = sign(&mut card, &apdu);
            let mut verifier = openssl::sign::Verifier::new(md, &key).unwrap();
            verifier.update(message).unwrap();
            assert!(verifier.verify(&signature).unwrap(), "{digest}: OpenSSL disagrees with our DigestInfo");
            verify_signature(&auth, &signature, Signed::Message { digest: *digest, data: message }, Padding::Pkcs1).unwrap();
            verify_signature(&auth, &signature, Signed::DigestInfo(&info), Padding::Pkcs1).unwrap();
        }
        assert!(matches!(digest_info(Digest::Sha1, &[0; 32]), Err(VerifyError::HashLength { expected: 20, actual: 32, .. })));
    }

    #[test]
    fn pss_with_another_salt_length_is_named() {
        let card = issue("");
        let auth = ef(&card, jpki::AUTH_CERTIFICATE);
        // The card's key is not reachable from here; sign with a key of our own and its
        // certificate.
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let key = PKey::from_rsa(rsa).unwrap();
        let mut builder = X509::builder().unwrap();
        builder.set_pubkey(&key).unwrap();
        builder.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap()).unwrap();
        builder.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap()).unwrap();
        builder.sign(&key, MessageDigest::sha256()).unwrap();
        let certificate = builder.build().to_der().unwrap();
        let message = b"salted";
        let sign = |salt: i32| {
            let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &key).unwrap();
            signer.set_rsa_padding(openssl::rsa::Padding::PKCS1_PSS).unwrap();
            signer.set_rsa_pss_saltlen(RsaPssSaltlen::custom(salt)).unwrap();
            signer.update(message).unwrap();
            signer.sign_to_vec().unwrap()
        };
        let signed = Signed::Message { digest: Digest::Sha256, data: message };
        verify_signature(&certificate, &sign(32), signed, Padding::Pss).unwrap();
        let error = verify_signature(&certificate, &sign(20), signed, Padding::Pss).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the RSASSA-PSS signature is valid but its salt is not 32 bytes (the SHA-256 length, what the card uses): \
             salt length check failed (expected: 32 retrieved: 20)"
        );
        let error = verify_signature(&auth, &sign(32), signed, Padding::Pss).unwrap_err();
        assert!(matches!(error, VerifyError::PssMismatch { .. }), "{error}");
    }

    fn rejected(result: Result<CertificateInfo, CertificateError>) -> (i32, String) {
        match result {
            Err(CertificateError::Rejected { code, reason, .. }) => (code, reason),
            other => panic!("expected a verification error, got {other:?}"),
        }
    }

    #[test]
    fn card_certificates_verify_against_their_ca() {
        let card = issue("");
        let (auth, auth_ca, sign_ca) =
            (ef(&card, jpki::AUTH_CERTIFICATE), ef(&card, jpki::AUTH_CA_CERTIFICATE), ef(&card, jpki::SIGNATURE_CA_CERTIFICATE));
        let info = verify_certificate(&auth, &[&auth_ca], None).unwrap();
        let ca = is_der_certificate(&auth_ca).unwrap();
        assert_eq!(info.issuer, ca.subject);
        assert!(info.subject.starts_with("C=JP"), "{info:?}");
        assert!(!info.serial.is_empty() && info.serial.chars().all(|c| c.is_ascii_hexdigit()), "{info:?}");
        assert!(info.not_before < OffsetDateTime::now_utc() && OffsetDateTime::now_utc() < info.not_after, "{info:?}");
        // Either CA in the list will do.
        verify_certificate(&auth, &[&sign_ca, &auth_ca], None).unwrap();

        let later = OffsetDateTime::now_utc() + time::Duration::days(20 * 366);
        assert_eq!(rejected(verify_certificate(&auth, &[&auth_ca], Some(later))), (10, "certificate has expired".into()));
        let before = info.not_before - time::Duration::days(1);
        assert_eq!(rejected(verify_certificate(&auth, &[&auth_ca], Some(before))), (9, "certificate is not yet valid".into()));
        let error = verify_certificate(&auth, &[&sign_ca], None).unwrap_err();
        assert!(error.to_string().starts_with("openssl verify: error 20 at depth 0 (C=JP"), "{error}");
        assert_eq!(rejected(Err(error)), (20, "unable to get local issuer certificate".into()));
        assert_eq!(rejected(verify_certificate(&auth, &[], None)).0, 20);
        let error = verify_certificate(&auth, &[&auth_ca, b"junk"], None).unwrap_err();
        assert!(error.to_string().starts_with("CA certificate 1: not an X.509 certificate (4 bytes starting 6a756e6b)"), "{error}");
    }

    #[test]
    fn an_expired_profile_certificate_fails_now() {
        let card = issue("certificates: { auth: { validity: expired } }\n");
        let (auth, auth_ca) = (ef(&card, jpki::AUTH_CERTIFICATE), ef(&card, jpki::AUTH_CA_CERTIFICATE));
        let error = verify_certificate(&auth, &[&auth_ca], None).unwrap_err();
        assert!(error.to_string().ends_with(": certificate has expired"), "{error}");
        assert_eq!(rejected(Err(error)).0, 10);
        // It was valid the day before yesterday.
        let info = is_der_certificate(&auth).unwrap();
        verify_certificate(&auth, &[&auth_ca], Some(info.not_after - time::Duration::days(1))).unwrap();
    }

    #[test]
    fn one_der_certificate_and_nothing_else() {
        let mut card = issue("");
        let auth = ef(&card, jpki::AUTH_CERTIFICATE);
        let info = is_der_certificate(&auth).unwrap();
        assert_eq!(info, verify_certificate(&auth, &[&ef(&card, jpki::AUTH_CA_CERTIFICATE)], None).unwrap());
        // The EF read through the card is the same bytes.
        assert_eq!(card.transmit(&SELECT_JPKI), [0x90, 0x00]);
        let mut read = card.transmit(&[0x00, 0xB0, 0x8A, 0x00, 0x00, 0x00, 0x00]);
        assert_eq!(read.split_off(read.len() - 2), [0x90, 0x00]);
        assert_eq!(is_der_certificate(&read).unwrap(), info);

        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let mut random = vec![0u8; 1200];
        rand_core::RngCore::fill_bytes(&mut rng, &mut random);
        assert!(matches!(is_der_certificate(&random), Err(CertificateError::Parse { len: 1200, .. })));
        assert!(matches!(is_der_certificate(&auth[..auth.len() - 1]), Err(CertificateError::Parse { .. })));
        assert!(matches!(is_der_certificate(&[]), Err(CertificateError::Parse { len: 0, .. })));

        let mut padded = auth.clone();
        padded.extend_from_slice(&[0xFF; 16]);
        let error = is_der_certificate(&padded).unwrap_err().to_string();
        assert_eq!(error, format!("16 bytes follow the {}-byte DER certificate (all 00/FF filler: the EF is padded)", auth.len()));
        let mut appended = auth.clone();
        appended.extend_from_slice(&[0x01, 0x02]);
        let error = is_der_certificate(&appended).unwrap_err().to_string();
        assert_eq!(error, format!("2 bytes follow the {}-byte DER certificate", auth.len()));
    }

    #[test]
    fn tlv_vectors() {
        let ok: &[(&[u8], usize)] = &[
            (&[0x30, 0x00], 1),
            (&[0x80, 0x01, 0xAA, 0x81, 0x02, 0xBB, 0xCC], 2),
            (&[0xDF, 0x24, 0x02, 0x31, 0x32], 1),
            (&[0x30, 0x81, 0x01, 0x00], 1),
            (&[0xFF, 0x40, 0x82, 0x00, 0x01, 0x00, 0xFF, 0xFF, 0x00], 1),
            (&[0x04, 0x01, 0x00, 0x00, 0x00], 1),
        ];
        for (bytes, count) in ok {
            assert_eq!(parses_as_tlv(bytes), Ok(*count), "{bytes:02X?}");
        }
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.extend_from_slice(&[0x55; 256]);
        assert_eq!(parses_as_tlv(&long), Ok(1));
        long.pop();
        assert_eq!(parses_as_tlv(&long), Err(TlvError::Malformed { offset: 0, len: 259, head: "048201005555".into() }));

        let malformed: &[(&[u8], usize)] = &[
            (&[0x30], 0),
            (&[0x30, 0x05, 0x01, 0x02], 0),
            (&[0x30, 0x81], 0),
            (&[0x30, 0x82, 0x01], 0),
            (&[0x30, 0x83, 0x00, 0x00, 0x01, 0x00], 0),
            (&[0x30, 0x80, 0x04, 0x00, 0x00, 0x00], 0),
            (&[0x04, 0x01, 0xAA, 0x5F], 3),
            (&[0x04, 0x01, 0xAA, 0x04, 0x00, 0x04, 0x02, 0x01], 5),
        ];
        for (bytes, offset) in malformed {
            match parses_as_tlv(bytes) {
                Err(TlvError::Malformed { offset: at, .. }) => {
                    assert_eq!(at, *offset, "{bytes:02X?}")
                }
                other => panic!("{bytes:02X?}: {other:?}"),
            }
        }
        assert_eq!(
            parses_as_tlv(&[0x04, 0x01, 0xAA, 0x05]).unwrap_err().to_string(),
            "BER-TLV breaks at offset 3 of 4: the object starting 05 has a tag, length or value cut short, \
             or a length form other than 00-7F, 81 xx, 82 xx xx"
        );
        assert_eq!(parses_as_tlv(&[]), Err(TlvError::Empty { len: 0 }));
        assert_eq!(parses_as_tlv(&[0xFF, 0xFF]), Err(TlvError::Empty { len: 2 }));
        assert_eq!(parses_as_tlv(&[0x04, 0x00, 0x00, 0x12]), Err(TlvError::AfterFiller { filler: 2, offset: 3, byte: 0x12 }));
        // A certificate is one object.
        let card = issue("");
        assert_eq!(parses_as_tlv(&ef(&card, jpki::AUTH_CERTIFICATE)), Ok(1));
    }
}
