//! The JPKI-shaped X.509 test hierarchy (spec §9): one self-signed CA per kind and the
//! card's two end-entity certificates, built with `rcgen`.
//!
//! The DN shape and extension profile follow §9.1–§9.3, but every name says that this is
//! the mynasim simulator's test CA, so no verifier that trusts the real J-LIS roots will
//! ever accept these certificates.

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose,
    OtherNameValue, SanType, SerialNumber,
};
use time::OffsetDateTime;
use yasna::models::ObjectIdentifier;

use super::{PkiError, RsaKey};

/// Which JPKI CA (spec §9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaKind {
    /// 利用者証明用認証局: issues the auth certificate (EF 000A).
    Authentication,
    /// 署名用認証局: issues the signature certificate (EF 0001).
    Signature,
}

impl CaKind {
    fn unit(self) -> &'static str {
        match self {
            CaKind::Authentication => "JPKI for user authentication",
            CaKind::Signature => "JPKI for digital signature",
        }
    }

    /// The certificate policy of the end-entity certificates (spec §9.2, §9.3).
    fn policy(self) -> &'static [u64] {
        match self {
            CaKind::Authentication => &[1, 2, 392, 200149, 8, 5, 1, 3, 30],
            CaKind::Signature => &[1, 2, 392, 200149, 8, 5, 1, 1, 20],
        }
    }
}

/// The test organisation and unit names that replace J-LIS's in every DN.
const TEST_ORGANIZATION: &str = "JPKI TEST mynasim";
const TEST_AGENCY_UNIT: &str = "mynasim simulator test CA - not J-LIS";
/// The alternative name of CAs and issuers (§9.1 "C=JP, O=公的個人認証サービス"), marked as a test.
const TEST_SERVICE_NAME: &str = "公的個人認証サービス(mynasim テスト用)";

const OID_SUBJECT_ALT_NAME: &[u64] = &[2, 5, 29, 17];
const OID_ISSUER_ALT_NAME: &[u64] = &[2, 5, 29, 18];
const OID_CRL_DISTRIBUTION_POINTS: &[u64] = &[2, 5, 29, 31];
const OID_CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
const OID_SUBJECT_KEY_IDENTIFIER: &[u64] = &[2, 5, 29, 14];
const OID_COUNTRY: &[u64] = &[2, 5, 4, 6];
const OID_ORGANIZATION: &[u64] = &[2, 5, 4, 10];
const OID_ORG_UNIT: &[u64] = &[2, 5, 4, 11];

/// The JPKI otherName OIDs of the signature certificate's SAN (spec §9.3).
pub mod attribute_oid {
    /// 氏名.
    pub const NAME: &[u64] = &[1, 2, 392, 200149, 8, 5, 5, 1];
    /// 氏名代替文字の使用位置情報.
    pub const NAME_SUBSTITUTES: &[u64] = &[1, 2, 392, 200149, 8, 5, 5, 2];
    /// 性別.
    pub const SEX: &[u64] = &[1, 2, 392, 200149, 8, 5, 5, 3];
    /// 生年月日 (`EYYYYMMDD`).
    pub const BIRTH_DATE: &[u64] = &[1, 2, 392, 200149, 8, 5, 5, 4];
    /// 住所.
    pub const ADDRESS: &[u64] = &[1, 2, 392, 200149, 8, 5, 5, 5];
    /// 住所代替文字の使用位置情報.
    pub const ADDRESS_SUBSTITUTES: &[u64] = &[1, 2, 392, 200149, 8, 5, 5, 6];
}

/// One attribute of a DN: (OID, value, printable?).
type Rdn = (&'static [u64], String, bool);

/// A test CA: its key and self-signed certificate.
pub struct TestCa {
    kind: CaKind,
    key: RsaKey,
    dn: Vec<Rdn>,
    params: CertificateParams,
    der: Vec<u8>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl TestCa {
    /// Builds the self-signed CA certificate (spec §9.1: KeyUsage keyCertSign + cRLSign,
    /// BasicConstraints CA:TRUE, SAN and CRLDP as directoryNames, SKI; 10 years ending at
    /// 14:59:59 UTC).
    pub fn new(kind: CaKind, key: RsaKey, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<TestCa, PkiError> {
        let dn: Vec<Rdn> = vec![
            (OID_COUNTRY, "JP".into(), true),
            (OID_ORGANIZATION, TEST_ORGANIZATION.into(), true),
            (OID_ORG_UNIT, kind.unit().into(), true),
            (OID_ORG_UNIT, TEST_AGENCY_UNIT.into(), true),
        ];
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen_dn(&dn);
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(SerialNumber::from_slice(&[0x01]));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.key_identifier_method = KeyIdMethod::PreSpecified(key.key_identifier());
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(OID_SUBJECT_ALT_NAME, directory_name_general_names(&service_dn())),
            CustomExtension::from_oid_content(OID_CRL_DISTRIBUTION_POINTS, crl_distribution_point(&dn)),
        ];
        let der = params.self_signed(&key).map_err(cert_error)?.der().to_vec();
        Ok(TestCa { kind, key, dn, params, der })
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.der
    }

    /// The CA's key.
    pub fn key(&self) -> &RsaKey {
        &self.key
    }

    /// Issues an end-entity certificate (spec §9.2 / §9.3).
    pub fn issue(&self, subject: &EndEntity<'_>) -> Result<Vec<u8>, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen_dn(&[(OID_COUNTRY, "JP".into(), true), (&[2, 5, 4, 3], subject.common_name.to_owned(), true)]);
        params.not_before = subject.not_before;
        params.not_after = subject.not_after;
        params.serial_number = Some(SerialNumber::from_slice(subject.serial));
        params.is_ca = IsCa::NoCa;
        params.key_usages = match self.kind {
            CaKind::Authentication => vec![KeyUsagePurpose::DigitalSignature],
            CaKind::Signature => vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::ContentCommitment],
        };
        params.use_authority_key_identifier_extension = true;
        if let Some(attributes) = subject.attributes {
            // Order seen on a real certificate: .1, .4, .3, .5, .2, .6 (spec §9.3).
            let entries: [(&[u64], &str); 6] = [
                (attribute_oid::NAME, attributes.name),
                (attribute_oid::BIRTH_DATE, attributes.birth_date),
                (attribute_oid::SEX, attributes.sex),
                (attribute_oid::ADDRESS, attributes.address),
                (attribute_oid::NAME_SUBSTITUTES, attributes.name_substitutes),
                (attribute_oid::ADDRESS_SUBSTITUTES, attributes.address_substitutes),
            ];
            params.subject_alt_names = entries
                .iter()
                .map(|(oid, value)| SanType::OtherName((oid.to_vec(), OtherNameValue::Utf8String((*value).to_owned()))))
                .collect();
        }
        params.custom_extensions = vec![
            CustomExtension::from_oid_content(OID_SUBJECT_KEY_IDENTIFIER, octet_string(&subject.key.key_identifier())),
            CustomExtension::from_oid_content(OID_ISSUER_ALT_NAME, directory_name_general_names(&service_dn())),
            CustomExtension::from_oid_content(OID_CERTIFICATE_POLICIES, certificate_policies(self.kind.policy())),
            CustomExtension::from_oid_content(OID_CRL_DISTRIBUTION_POINTS, crl_distribution_point(&self.dn)),
        ];
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(subject.key, &issuer).map_err(cert_error)?;
        Ok(cert.der().to_vec())
    }
}

/// What an end-entity certificate says about its holder.
pub struct EndEntity<'a> {
    /// The holder's key.
    pub key: &'a RsaKey,
    /// Serial number bytes (big-endian, positive).
    pub serial: &'a [u8],
    /// Opaque subject CN (spec §9.2: an identifier, not the name).
    pub common_name: &'a str,
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end.
    pub not_after: OffsetDateTime,
    /// The four basic attributes (signature certificate only).
    pub attributes: Option<&'a HolderAttributes<'a>>,
}

/// The SAN otherName values of the signature certificate (spec §9.3).
pub struct HolderAttributes<'a> {
    /// 氏名.
    pub name: &'a str,
    /// `0`/`1` per name character.
    pub name_substitutes: &'a str,
    /// `1`/`2`/`3`.
    pub sex: &'a str,
    /// `EYYYYMMDD`.
    pub birth_date: &'a str,
    /// 住所.
    pub address: &'a str,
    /// `0`/`1` per address character.
    pub address_substitutes: &'a str,
}

fn cert_error(e: rcgen::Error) -> PkiError {
    PkiError::Certificate(e.to_string())
}

fn service_dn() -> Vec<Rdn> {
    vec![(OID_COUNTRY, "JP".into(), true), (OID_ORGANIZATION, TEST_SERVICE_NAME.into(), false)]
}

fn rcgen_dn(rdns: &[Rdn]) -> DistinguishedName {
    // rcgen keeps one value per attribute type; a second OU goes in as a custom type
    // with the same OID, which encodes identically.
    let mut dn = DistinguishedName::new();
    let mut seen_unit = false;
    for (oid, value, printable) in rdns {
        let ty = match *oid {
            OID_COUNTRY => DnType::CountryName,
            OID_ORGANIZATION => DnType::OrganizationName,
            OID_ORG_UNIT if !seen_unit => {
                seen_unit = true;
                DnType::OrganizationalUnitName
            }
            other => DnType::CustomDnType(other.to_vec()),
        };
        let value = match (printable, rcgen::string::PrintableString::try_from(value.as_str())) {
            (true, Ok(p)) => DnValue::PrintableString(p),
            _ => DnValue::Utf8String(value.clone()),
        };
        dn.push(ty, value);
    }
    dn
}

fn write_name(writer: yasna::DERWriter<'_>, rdns: &[Rdn]) {
    writer.write_sequence(|w| {
        for (oid, value, printable) in rdns {
            w.next().write_set(|w| {
                w.next().write_sequence(|w| {
                    w.next().write_oid(&ObjectIdentifier::from_slice(oid));
                    if *printable {
                        w.next().write_printable_string(value);
                    } else {
                        w.next().write_utf8_string(value);
                    }
                });
            });
        }
    });
}

/// `GeneralNames ::= SEQUENCE { [4] EXPLICIT Name }`.
fn directory_name_general_names(rdns: &[Rdn]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| w.next().write_tagged(yasna::Tag::context(4), |w| write_name(w, rdns)));
    })
}

/// `CRLDistributionPoints` with one point whose fullName is a directoryName (spec §9.1).
fn crl_distribution_point(rdns: &[Rdn]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                // distributionPoint [0] is EXPLICIT (DistributionPointName is a CHOICE);
                // fullName [0] IMPLICIT GeneralNames (RFC 5280 §4.2.1.13).
                w.next().write_tagged(yasna::Tag::context(0), |w| {
                    w.write_tagged_implicit(yasna::Tag::context(0), |w| {
                        w.write_sequence(|w| w.next().write_tagged(yasna::Tag::context(4), |w| write_name(w, rdns)))
                    })
                });
            });
        });
    })
}

fn certificate_policies(policy: &[u64]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| w.next().write_oid(&ObjectIdentifier::from_slice(policy)));
        });
    })
}

fn octet_string(bytes: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| w.write_bytes(bytes))
}
