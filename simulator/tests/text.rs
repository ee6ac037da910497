//! The text AP (券面事項入力補助AP) driven as jpki/myna, jpki-rs, the nfcpy script and
//! myna-card do (spec §5).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use mynasim_simulator::applets::{text, AppletId};
use mynasim_simulator::issue::Issuers;
use mynasim_simulator::tlv::parse_all;
use mynasim_simulator::Sw;

const MY_NUMBER: &str = "123456789018";
const PROFILE: &str = "holder:\n  my_number: '123456789018'\n  name: \"試験\u{3000}太郎\"\n  address: 東京都千代田区試験町１－２－３\n  birth_date: 1980-02-17\n  sex: male\ncard:\n  security_code: '2285'\n  expires: 2035-02-17\n";

#[test]
fn my_number_with_the_pin() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    select_ef(&mut card, text::MY_NUMBER);
    expect(&mut card, "00B0000011", Sw::SECURITY_STATUS_NOT_SATISFIED);
    select_ef(&mut card, text::PIN);
    expect(&mut card, "00200080", Sw::retries_left(3));
    assert_eq!(verify(&mut card, text::PIN, "1234"), Sw::SUCCESS);
    select_ef(&mut card, text::MY_NUMBER);
    let data = expect(&mut card, "00B0000011", Sw::SUCCESS);
    let mut expected = vec![0xFF, 0x10, 0x0C];
    expected.extend_from_slice(MY_NUMBER.as_bytes());
    expected.extend_from_slice(&[0xFF, 0xFF]);
    assert_eq!(data, expected);
    // The older 16-byte read works too: the TLV ends at byte 15.
    assert_eq!(expect(&mut card, "00B0000010", Sw::SUCCESS), expected[..16]);
}

#[test]
fn attributes_read_positionally_through_the_offset_table() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    assert_eq!(verify(&mut card, text::PIN, "1234"), Sw::SUCCESS);
    select_ef(&mut card, text::ATTRIBUTES);
    let file = read_tlv_file(&mut card);
    assert_eq!(file[..2], [0xFF, 0x20]);
    // DF21: the absolute offset of each field's tag.
    let header = if file[2] & 0x80 != 0 { 3 + usize::from(file[2] & 0x7F) } else { 3 };
    assert_eq!(file[header..header + 3], [0xDF, 0x21, 0x08]);
    let offsets: Vec<usize> = file[header + 3..header + 11].chunks(2).map(|p| usize::from(u16::from_be_bytes([p[0], p[1]]))).collect();
    let field = |i: usize| -> &[u8] {
        let at = offsets[i];
        assert_eq!(file[at..at + 2], [0xDF, 0x22 + i as u8]);
        let len = usize::from(file[at + 2]);
        &file[at + 3..at + 3 + len]
    };
    assert_eq!(std::str::from_utf8(field(0)).unwrap(), "試験\u{3000}太郎");
    assert_eq!(std::str::from_utf8(field(1)).unwrap(), "東京都千代田区試験町１－２－３");
    assert_eq!(field(2), b"19800217");
    assert_eq!(field(3), b"1");

    // The nfcpy script's way: one length byte at offset 2, then len + 3 bytes.
    let len = expect(&mut card, "00B0000201", Sw::SUCCESS)[0];
    let whole = expect(&mut card, &format!("00B00000{:02X}", len + 3), Sw::SUCCESS);
    assert_eq!(whole, file);
}

#[test]
fn collation_numbers_open_their_files_only() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    assert_eq!(verify(&mut card, text::CODE_A, MY_NUMBER), Sw::SUCCESS);
    select_ef(&mut card, text::MY_NUMBER);
    expect(&mut card, "00B0000011", Sw::SUCCESS);
    select_ef(&mut card, text::ATTRIBUTES);
    expect(&mut card, "00B0000007", Sw::SECURITY_STATUS_NOT_SATISFIED);
    select_ef(&mut card, text::INTEGRITY);
    expect(&mut card, "00B0000007", Sw::SUCCESS);

    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    // 照合番号B = era birth date + expiry year + security code (spec §6.2).
    assert_eq!(verify(&mut card, text::CODE_B, "55021720352285"), Sw::SUCCESS);
    select_ef(&mut card, text::ATTRIBUTES);
    expect(&mut card, "00B0000007", Sw::SUCCESS);
    select_ef(&mut card, text::MY_NUMBER);
    expect(&mut card, "00B0000011", Sw::SECURITY_STATUS_NOT_SATISFIED);
}

#[test]
fn key_status_words() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    // 0012 arrives blocked.
    select_ef(&mut card, text::RESERVED_KEY);
    expect(&mut card, "00200080", Sw::retries_left(0));
    expect(&mut card, "0020008004 31323334", Sw::PIN_BLOCKED);
    // Wrong length: 67 00, no try spent; wrong value: one try.
    assert_eq!(verify(&mut card, text::CODE_A, "1234"), Sw::WRONG_LENGTH);
    select_ef(&mut card, text::CODE_A);
    expect(&mut card, "00200080", Sw::retries_left(10));
    assert_eq!(verify(&mut card, text::CODE_A, "123456789010"), Sw::retries_left(9));
    // By SFI without SELECT (P2 = 80|14).
    expect(&mut card, "002000940C 313233343536373839303138", Sw::SUCCESS);
    // Collation numbers cannot be changed; the PIN can, after VERIFY.
    expect(&mut card, "002401940C 313233343536373839303138", Sw::CONDITIONS_NOT_SATISFIED);
    assert_eq!(verify(&mut card, text::PIN, "1234"), Sw::SUCCESS);
    expect(&mut card, "0024018004 39383736", Sw::SUCCESS);
    assert_eq!(verify(&mut card, text::PIN, "9876"), Sw::SUCCESS);
    // The text AP PIN is a separate counter from the JPKI auth PIN.
    assert_eq!(verify(&mut card, text::PIN, "0000"), Sw::retries_left(2));
    expect(&mut card, SELECT_JPKI, Sw::SUCCESS);
    select_ef(&mut card, 0x0018);
    expect(&mut card, "00200080", Sw::retries_left(3));
}

#[test]
fn integrity_record_hashes_and_signs_the_files() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    // myna-card's full run (spec §5.7 (e)).
    select_ef(&mut card, text::CV_CERTIFICATE);
    let cv = read_all(&mut card, 568);
    select_ef(&mut card, text::BASIC_INFO);
    let basic = read_all(&mut card, 256);
    assert_eq!(basic[..5], [0xFF, 0x40, 0x82, 0x00, 0x9F]);
    let info = parse_all(parse_all(&basic).unwrap()[0].value).unwrap().iter().map(|t| (t.tag, t.value.len())).collect::<Vec<_>>();
    assert_eq!(info, [(0xDF41, 4), (0xDF42, 16), (0xDF43, 128)]);
    assert_eq!(verify(&mut card, text::PIN, "1234"), Sw::SUCCESS);
    select_ef(&mut card, text::MY_NUMBER);
    let my_number_file = read_all(&mut card, 17);
    select_ef(&mut card, text::ATTRIBUTES);
    let attributes = read_tlv_file(&mut card);
    select_ef(&mut card, text::INTEGRITY);
    let integrity = expect(&mut card, "00B0000000", Sw::SUCCESS);
    let rest = expect(&mut card, "00B0010050", Sw::SUCCESS);
    let integrity = [integrity, rest].concat();
    assert_eq!(integrity.len(), 336);
    assert_eq!(integrity[..5], [0xFF, 0x30, 0x82, 0x01, 0x4B]);

    // CV certificate: 7F21 { 5F4E body, 5F37 signature by the CV CA }.
    let cv_tlv = parse_all(&cv).unwrap();
    assert_eq!(cv_tlv[0].tag, 0x7F21);
    let inner = parse_all(cv_tlv[0].value).unwrap();
    let (body, signature) = (inner[0].value, inner[1].value);
    assert_eq!((inner[0].tag, body.len(), inner[1].tag), (0x5F4E, 297, 0x5F37));
    let issuers = Issuers::derive(mynasim_simulator::profile::DEFAULT_CA_SEED, &mut cache()).unwrap();
    assert!(verifies(&issuers.cv_ca.openssl_public().unwrap(), body, signature));
    assert_eq!(&body[..7], b"6000033");
    let issuer_key = key_from_record(&body[32..]);

    let fields = parse_all(parse_all(&integrity).unwrap()[0].value).unwrap();
    assert_eq!(fields.iter().map(|t| t.tag).collect::<Vec<_>>(), [0xDF31, 0xDF32, 0xDF33]);
    assert_eq!(fields[0].value, openssl::sha::sha256(&my_number_file));
    let outer = parse_all(&attributes).unwrap();
    let attr_fields = parse_all(outer[0].value).unwrap();
    let signed_fields = &outer[0].value[attr_fields[1].offset..];
    assert_eq!(fields[1].value, openssl::sha::sha256(signed_fields));
    let signed = &parse_all(&integrity).unwrap()[0].value[..fields[2].offset];
    assert!(verifies(&issuer_key, signed, fields[2].value));
}

#[test]
fn card_presence_signature_chain() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    select_ef(&mut card, text::SIGNED_PUBLIC_KEY);
    expect(&mut card, "00B0000007", Sw::SECURITY_STATUS_NOT_SATISFIED);
    assert_eq!(verify(&mut card, text::PIN, "1234"), Sw::SUCCESS);
    select_ef(&mut card, text::SIGNED_PUBLIC_KEY);
    let file = read_all(&mut card, 536);
    let inner = parse_all(parse_all(&file).unwrap()[0].value).unwrap();
    let card_key = key_from_record(inner[0].value);
    let issuer = card.applet(AppletId::Text).unwrap().binary(text::CV_CERTIFICATE).unwrap().to_vec();
    let issuer_key = key_from_record(&parse_all(parse_all(&issuer).unwrap()[0].value).unwrap()[0].value[32..]);
    let df51_tlv = &parse_all(&file).unwrap()[0].value[..inner[1].offset];
    assert!(verifies(&issuer_key, df51_tlv, inner[1].value));

    let challenge = expect(&mut card, "0084000010", Sw::SUCCESS);
    assert_eq!(challenge.len(), 16);
    let mut apdu = hex("802A000033 3031300D060960864801650304020105000420");
    apdu.extend_from_slice(&openssl::sha::sha256(&challenge));
    apdu.push(0);
    let (signature, sw) = send(&mut card, &apdu);
    assert_eq!(sw, Sw::SUCCESS);
    assert!(verifies(&card_key, &challenge, &signature));
    expect(&mut card, "0088000010 00112233445566778899AABBCCDDEEFF00", Sw::CONDITIONS_NOT_SATISFIED);
}

#[test]
fn secure_messaging_without_a_session() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    expect(&mut card, "80AE000001 00", Sw::SECURITY_STATUS_NOT_SATISFIED);
    // 照合番号A does not open SET SESSION KEY (spec §5.6 item 1).
    assert_eq!(verify(&mut card, text::CODE_A, MY_NUMBER), Sw::SUCCESS);
    expect(&mut card, "80AE000001 00", Sw::SECURITY_STATUS_NOT_SATISFIED);
    expect(&mut card, "0CB0000000", Sw::SM_OBJECTS_MISSING);
    expect(&mut card, "08B0000000", Sw::SM_NO_SESSION);
    expect(&mut card, "08A4020C05 8603010203", Sw::SM_NO_SESSION);
}

/// The client side of spec §5.6: key transport and AES-128-CBC with counter IVs.
struct Client {
    key: [u8; 16],
    counter: u32,
}

impl Client {
    fn aes(mode: openssl::symm::Mode, cipher: openssl::symm::Cipher, key: &[u8], iv: Option<&[u8]>, data: &[u8]) -> Vec<u8> {
        let mut c = openssl::symm::Crypter::new(cipher, mode, key, iv).unwrap();
        c.pad(false);
        let mut out = vec![0u8; data.len() + 16];
        let n = c.update(data, &mut out).unwrap();
        let m = c.finalize(&mut out[n..]).unwrap();
        out.truncate(n + m);
        out
    }

    fn next_iv(&mut self) -> Vec<u8> {
        self.counter += 1;
        let mut block = [0u8; 16];
        block[12..].copy_from_slice(&self.counter.to_be_bytes());
        Self::aes(openssl::symm::Mode::Encrypt, openssl::symm::Cipher::aes_128_ecb(), &self.key, None, &block)
    }

    fn protect(&self, iv: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut padded = plain.to_vec();
        padded.push(0x80);
        padded.resize(padded.len().div_ceil(16) * 16, 0);
        let ct = Self::aes(openssl::symm::Mode::Encrypt, openssl::symm::Cipher::aes_128_cbc(), &self.key, Some(iv), &padded);
        let mut out = vec![0x86, (ct.len() + 1) as u8, 0x01];
        out.extend_from_slice(&ct);
        out
    }

    fn unprotect(&self, iv: &[u8], data: &[u8]) -> Vec<u8> {
        let tlv = parse_all(data).unwrap();
        assert_eq!((tlv.len(), tlv[0].tag, tlv[0].value[0]), (1, 0x86, 0x01));
        let mut plain =
            Self::aes(openssl::symm::Mode::Decrypt, openssl::symm::Cipher::aes_128_cbc(), &self.key, Some(iv), &tlv[0].value[1..]);
        let end = plain.iter().rposition(|b| *b == 0x80).unwrap();
        plain.truncate(end);
        plain
    }

    fn command(&mut self, header: &[u8], plain: &[u8]) -> Vec<u8> {
        let iv = self.next_iv();
        let body = self.protect(&iv, plain);
        let mut apdu = header.to_vec();
        apdu.push(body.len() as u8);
        apdu.extend_from_slice(&body);
        apdu
    }
}

fn open_session(card: &mut mynasim_simulator::Card, message: &[u8]) -> Sw {
    select_ef(card, text::SESSION_PUBLIC_KEY);
    let file = read_all(card, 269);
    let key = key_from_record(parse_all(&file).unwrap()[0].value);
    let mut ctx = openssl::pkey_ctx::PkeyCtx::new(&key).unwrap();
    ctx.encrypt_init().unwrap();
    ctx.set_rsa_padding(openssl::rsa::Padding::PKCS1_OAEP).unwrap();
    ctx.set_rsa_oaep_md(openssl::md::Md::sha256()).unwrap();
    ctx.set_rsa_mgf1_md(openssl::md::Md::sha256()).unwrap();
    let mut ciphertext = Vec::new();
    ctx.encrypt_to_vec(message, &mut ciphertext).unwrap();
    let mut apdu = hex("80AE0000 000100");
    apdu.extend_from_slice(&ciphertext);
    send(card, &apdu).1
}

#[test]
fn secure_messaging_session_reads_the_my_number() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    assert_eq!(verify(&mut card, text::PIN, "1234"), Sw::SUCCESS);
    // Messages the card refuses (spec §5.6 item 2).
    assert_eq!(open_session(&mut card, &[0xA0, 0x03, 0x81, 0x01, 0x00]), Sw::INCORRECT_DATA);
    let mut too_big = hex("80AE0000 000100");
    too_big.extend_from_slice(&[0xFF; 256]);
    assert_eq!(send(&mut card, &too_big).1, Sw::NO_PRECISE_DIAGNOSIS);

    let secret = [0x5Au8; 32];
    let mut message = hex("A0228020");
    message.extend_from_slice(&secret);
    assert_eq!(open_session(&mut card, &message), Sw::SUCCESS);
    let mut client = Client { key: secret[..16].try_into().unwrap(), counter: 0 };
    // VERIFY 照合番号A by SFI, SELECT EF 0001, READ BINARY of the whole file, all under SM.
    let apdu = client.command(&hex("08200094"), MY_NUMBER.as_bytes());
    assert_eq!(send(&mut card, &apdu).1, Sw::SUCCESS);
    let apdu = client.command(&hex("08A4020C"), &[0x00, 0x01]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SUCCESS);
    let iv = client.next_iv();
    let (response, sw) = send(&mut card, &hex("08B00000 000005 9603000000 0000"));
    assert_eq!(sw, Sw::SUCCESS);
    assert_eq!(client.unprotect(&iv, &response), text::my_number_file(MY_NUMBER).unwrap());
    // A refused command still advances the counter: a wrong 照合番号A.
    let apdu = client.command(&hex("08200094"), b"000000000000");
    assert_eq!(send(&mut card, &apdu).1, Sw::retries_left(9));
    let apdu = client.command(&hex("08A4020C"), &[0x00, 0x02]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SUCCESS);
    // 96 where 86 belongs destroys the session; then 69 FC.
    client.next_iv();
    expect(&mut card, "08A4020C05 9603000000", Sw::SM_DATA_OBJECTS_INCORRECT);
    let apdu = client.command(&hex("08A4020C"), &[0x00, 0x01]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SM_NO_SESSION);
}

#[test]
fn selecting_an_application_ends_the_session() {
    let mut card = card_from(PROFILE);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    assert_eq!(verify(&mut card, text::PIN, "1234"), Sw::SUCCESS);
    let mut message = hex("A0228020");
    message.extend_from_slice(&[7u8; 32]);
    assert_eq!(open_session(&mut card, &message), Sw::SUCCESS);
    expect(&mut card, SELECT_TEXT, Sw::SUCCESS);
    let mut client = Client { key: [7u8; 16], counter: 0 };
    let apdu = client.command(&hex("08A4020C"), &[0x00, 0x01]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SM_NO_SESSION);
}

/// `86 L 01 …` rewritten with the long-form length `86 81 L 01 …`.
fn long_form(apdu: &[u8]) -> Vec<u8> {
    let (header, body) = apdu.split_at(5);
    assert_eq!(body[0], 0x86);
    let mut out = header.to_vec();
    out[4] += 1;
    out.extend_from_slice(&[0x86, 0x81]);
    out.extend_from_slice(&body[1..]);
    out
}

fn session(card: &mut mynasim_simulator::Card, secret: u8) -> Client {
    expect(card, SELECT_TEXT, Sw::SUCCESS);
    assert_eq!(verify(card, text::PIN, "1234"), Sw::SUCCESS);
    let mut message = hex("A0228020");
    message.extend_from_slice(&[secret; 32]);
    assert_eq!(open_session(card, &message), Sw::SUCCESS);
    Client { key: [secret; 16], counter: 0 }
}

#[test]
fn secure_messaging_accepts_long_form_lengths() {
    let mut card = card_from(PROFILE);
    let mut client = session(&mut card, 3);
    // 86 81 11 01 <16 bytes>: VERIFY 照合番号A and SELECT EF 0001 in the long form (spec §13.5).
    let apdu = long_form(&client.command(&hex("08200094"), MY_NUMBER.as_bytes()));
    assert_eq!(apdu[5..8], [0x86, 0x81, 0x11]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SUCCESS);
    let apdu = long_form(&client.command(&hex("08A4020C"), &[0x00, 0x01]));
    assert_eq!(send(&mut card, &apdu).1, Sw::SUCCESS);
    // The READ BINARY length DO in the long form too.
    let iv = client.next_iv();
    let (response, sw) = send(&mut card, &hex("08B00000 000006 968103000000 0000"));
    assert_eq!(sw, Sw::SUCCESS);
    assert_eq!(client.unprotect(&iv, &response), text::my_number_file(MY_NUMBER).unwrap());
    // 86 82 00 11 as well; trailing bytes after the one DO are still refused.
    let short = client.command(&hex("08A4020C"), &[0x00, 0x02]);
    let mut apdu = hex("08A4020C");
    apdu.push(short[4] + 2);
    apdu.extend_from_slice(&[0x86, 0x82, 0x00]);
    apdu.extend_from_slice(&short[6..]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SUCCESS);
    let mut trailing = client.command(&hex("08A4020C"), &[0x00, 0x01]);
    trailing[4] += 1;
    trailing.push(0x00);
    assert_eq!(send(&mut card, &trailing).1, Sw::SM_DATA_OBJECTS_INCORRECT);
    let apdu = client.command(&hex("08A4020C"), &[0x00, 0x01]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SM_NO_SESSION);
}

#[test]
fn an_sm_layer_refusal_ends_the_session() {
    // 69 87 (CLA 0C) ends it: the next SM command with the right counter answers 69 FC.
    let mut card = card_from(PROFILE);
    let mut client = session(&mut card, 4);
    let apdu = client.command(&hex("08A4020C"), &[0x00, 0x01]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SUCCESS);
    expect(&mut card, "0CB0000000", Sw::SM_OBJECTS_MISSING);
    for counter in [2, 3] {
        client.counter = counter - 1;
        let apdu = client.command(&hex("08A4020C"), &[0x00, 0x01]);
        assert_eq!(send(&mut card, &apdu).1, Sw::SM_NO_SESSION, "counter {counter}");
    }
    // Plain commands are not affected; a new SET SESSION KEY opens a new session.
    select_ef(&mut card, text::MY_NUMBER);
    let mut client = session(&mut card, 5);
    let apdu = client.command(&hex("08A4020C"), &[0x00, 0x01]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SUCCESS);
    // 69 88 (a wrong counter: bad padding after decryption) ends it too.
    client.counter += 1;
    let apdu = client.command(&hex("08A4020C"), &[0x00, 0x01]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SM_DATA_OBJECTS_INCORRECT);
    client.counter -= 2;
    let apdu = client.command(&hex("08A4020C"), &[0x00, 0x01]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SM_NO_SESSION);
    // An application-level refusal keeps it: SELECT of an absent EF, then a good command.
    let mut client = session(&mut card, 6);
    let apdu = client.command(&hex("08A4020C"), &[0x00, 0x09]);
    assert_eq!(send(&mut card, &apdu).1, Sw::NOT_FOUND);
    let apdu = client.command(&hex("08A4020C"), &[0x00, 0x01]);
    assert_eq!(send(&mut card, &apdu).1, Sw::SUCCESS);
}
