//! The in-process paths against their ceilings (issue "Card core", "Done means"):
//! a non-crypto APDU (target below 1 µs) and each COMPUTE DIGITAL SIGNATURE P1 (target:
//! within 2x of OpenSSL's own RSA-2048 signing, benchmarked in the same run as `openssl`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mynasim_harness::bench::{digest_info, prepare_for_signing, sign_apdu, READ_TOKEN, SELECT_JPKI, SELECT_TOKEN};
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;
use mynasim_simulator::apdu::Apdu;
use mynasim_simulator::command::{Command, SignMode};
use std::hint::black_box;

fn card() -> mynasim_simulator::Card {
    load_card(None, &mut DirKeyCache::default_location()).expect("default card").card
}

fn apdu(c: &mut Criterion) {
    let mut card = card();
    let mut response = Vec::with_capacity(300);
    card.process(&SELECT_JPKI, &mut response);
    let mut group = c.benchmark_group("apdu");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| Command::try_from(&Apdu::parse(black_box(&READ_TOKEN)).unwrap()).unwrap());
    });
    group.bench_function("select_ef", |b| b.iter(|| card.process(black_box(&SELECT_TOKEN), &mut response)));
    group.bench_function("read_binary_32", |b| b.iter(|| card.process(black_box(&READ_TOKEN), &mut response)));
    group.bench_function("select_aid", |b| b.iter(|| card.process(black_box(&SELECT_JPKI), &mut response)));
    group.finish();
}

fn signing(c: &mut Criterion) {
    let mut card = card();
    prepare_for_signing(&mut card, b"1234").unwrap();
    let digest_info = digest_info();
    let mut group = c.benchmark_group("sign");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30);
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let mut out = vec![0u8; 256];
    group.bench_function("openssl_ceiling", |b| {
        b.iter(|| rsa.private_encrypt(black_box(&digest_info), &mut out, openssl::rsa::Padding::PKCS1).unwrap())
    });
    let mut response = Vec::with_capacity(300);
    for mode in SignMode::ALL {
        let apdu = sign_apdu(mode);
        group.bench_function(format!("p1_{:02x}", mode.p1()), |b| {
            b.iter(|| {
                card.process(black_box(&apdu), &mut response);
                assert_eq!(response.len(), 258);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, apdu, signing);
criterion_main!(benches);
