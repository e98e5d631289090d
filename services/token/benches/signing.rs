//! The cost of one ID token's (or JWT access token's) signature, RS256 and
//! ES256, with the primitives the token service signs with (aws-lc-rs, the
//! key pair parsed once and held, as `keys::Signer` holds it), over a
//! signing input the size of a real ID token with `profile` and `email`.
//!
//! ```sh
//! cargo bench -p gatehouse-token --bench signing
//! ```
//!
//! Prints microseconds per signature and per verification, and what one
//! core could sign per second. No test asserts on these figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_SHA256, UnparsedPublicKey,
};

/// A base64url header and claims of about the size Gatehouse signs (~560 bytes).
fn signing_input() -> Vec<u8> {
    let mut input =
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMyJ9.".to_owned();
    input.push_str(&"eyJpc3MiOiJodHRwczovL2dhdGVob3VzZS5leGFtcGxlIiwic3ViIjoiMDE5M2MyYjgi".repeat(7));
    input.into_bytes()
}

/// Runs `op` for about `budget`, returns the mean time of one call.
fn time(budget: Duration, mut op: impl FnMut()) -> Duration {
    for _ in 0..50 {
        op();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        for _ in 0..20 {
            op();
        }
        n += 20;
    }
    start.elapsed() / n
}

fn report(name: &str, sign: Duration, verify: Duration) {
    let per_second = 1.0 / sign.as_secs_f64();
    println!(
        "| {name} | {:.1} µs | {:.1} µs | {per_second:.0} |",
        sign.as_secs_f64() * 1e6,
        verify.as_secs_f64() * 1e6
    );
}

fn main() {
    let budget = Duration::from_secs(2);
    let rng = SystemRandom::new();
    let input = signing_input();
    println!("signing input: {} bytes\n", input.len());
    println!("| algorithm | sign | verify | signatures per second, one core |");
    println!("| --- | --- | --- | --- |");

    let rsa = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).unwrap();
    let mut signature = vec![0; rsa.public_modulus_len()];
    let sign = time(budget, || rsa.sign(&RSA_PKCS1_SHA256, &rng, &input, &mut signature).unwrap());
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa.public_key().as_ref().to_vec());
    let verify = time(budget, || public.verify(&input, &signature).unwrap());
    report("RS256 (RSA-2048)", sign, verify);

    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let signature = ec.sign(&rng, &input).unwrap();
    let sign = time(budget, || {
        ec.sign(&rng, &input).unwrap();
    });
    let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, ec.public_key().as_ref().to_vec());
    let verify = time(budget, || public.verify(&input, signature.as_ref()).unwrap());
    report("ES256 (P-256)", sign, verify);
}
