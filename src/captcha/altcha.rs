//! The built-in proof-of-work captcha, speaking the ALTCHA protocol (version 1) so the
//! ALTCHA browser widget works unchanged.
//!
//! A challenge is a salt and the SHA-256 of the salt followed by a secret number below
//! `maxnumber`; the browser finds the number by trying them all (half of `maxnumber`
//! hashes on average) and sends it back with the challenge. The salt carries the expiry
//! as a query parameter (`?expires=<unix seconds>&`), and the challenge is signed with an
//! HMAC-SHA256 under a secret only the server knows, so verification needs no state: the
//! salt cannot be changed without changing the challenge, nor the challenge without
//! breaking the signature. Only replay needs memory (see `Store::first_use`).

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The only algorithm issued and accepted (the protocol also names SHA-1 and SHA-512;
/// accepting a weaker one than we issue would only help forgers).
pub const ALGORITHM: &str = "SHA-256";

/// A challenge for the widget, as the protocol's JSON spells it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Challenge {
    pub algorithm: String,
    pub challenge: String,
    pub maxnumber: u64,
    pub salt: String,
    pub signature: String,
}

/// What the widget sends back (base64 of this JSON) as the captcha token.
#[derive(Clone, Debug, Deserialize)]
struct Solution {
    algorithm: String,
    challenge: String,
    number: u64,
    salt: String,
    signature: String,
}

/// A solution that verified: what the replay guard remembers, and until when.
#[derive(Clone, Debug, PartialEq)]
pub struct Solved {
    /// The challenge (hex), unique per issued challenge.
    pub challenge: String,
    /// Unix seconds after which the challenge is refused anyway.
    pub expires_at: u64,
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("the token is not a base64 ALTCHA payload")]
    Malformed,
    #[error("algorithm {0:?} is not accepted (only SHA-256)")]
    Algorithm(String),
    #[error("the challenge carries no expiry")]
    NoExpiry,
    #[error("the challenge expired")]
    Expired,
    #[error("the number does not solve the challenge")]
    WrongNumber,
    #[error("the challenge was not signed by this server")]
    BadSignature,
}

/// Issues and verifies challenges under one HMAC key.
#[derive(Clone)]
pub struct Altcha {
    key: Vec<u8>,
}

impl Altcha {
    /// `key` is the HMAC key; the ALTCHA libraries take it as a string and use its UTF-8
    /// bytes, so the same string configured on both sides agrees.
    pub fn new(key: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into() }
    }

    /// A challenge whose number is drawn below `max_number`, valid until `expires_at`.
    pub fn issue(&self, max_number: u64, expires_at: u64) -> Challenge {
        let salt = format!("{:024x}?expires={expires_at}&", rand::random::<u128>() >> 32);
        let number = rand::random_range(0..=max_number);
        let challenge = sha256_hex(&format!("{salt}{number}"));
        Challenge {
            algorithm: ALGORITHM.to_string(),
            signature: self.sign(&challenge),
            challenge,
            maxnumber: max_number,
            salt,
        }
    }

    /// Checks a token (base64 JSON from the widget) at `now` (unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Solved, Refusal> {
        let json = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .map_err(|_| Refusal::Malformed)?;
        let solution: Solution = serde_json::from_slice(&json).map_err(|_| Refusal::Malformed)?;
        if solution.algorithm != ALGORITHM {
            return Err(Refusal::Algorithm(solution.algorithm));
        }
        let expires_at = expiry(&solution.salt).ok_or(Refusal::NoExpiry)?;
        if expires_at < now {
            return Err(Refusal::Expired);
        }
        let challenge = sha256_hex(&format!("{}{}", solution.salt, solution.number));
        if challenge != solution.challenge {
            return Err(Refusal::WrongNumber);
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(challenge.as_bytes());
        let signature = hex_decode(&solution.signature).ok_or(Refusal::BadSignature)?;
        mac.verify_slice(&signature).map_err(|_| Refusal::BadSignature)?;
        Ok(Solved { challenge, expires_at })
    }

    fn sign(&self, challenge: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(challenge.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

/// The `expires` (or `expire`) parameter of a salt like `ab12?expires=1700000000&`.
/// Challenges without one are refused: a token that never expires would have to be
/// remembered forever to stop its replay.
fn expiry(salt: &str) -> Option<u64> {
    let (_, query) = salt.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "expires" || *name == "expire")
        .and_then(|(_, value)| value.parse().ok())
}

fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Solves like the widget does: tries every number up to the maximum.
    fn solve(challenge: &Challenge) -> String {
        let number = (0..=challenge.maxnumber)
            .find(|n| sha256_hex(&format!("{}{n}", challenge.salt)) == challenge.challenge)
            .expect("the number is below maxnumber");
        let json = serde_json::json!({
            "algorithm": challenge.algorithm,
            "challenge": challenge.challenge,
            "number": number,
            "salt": challenge.salt,
            "signature": challenge.signature,
            "took": 12,
        });
        base64::engine::general_purpose::STANDARD.encode(json.to_string())
    }

    fn tamper(token: &str, field: &str, value: serde_json::Value) -> String {
        let engine = base64::engine::general_purpose::STANDARD;
        let mut json: serde_json::Value = serde_json::from_slice(&engine.decode(token).unwrap()).unwrap();
        json[field] = value;
        engine.encode(json.to_string())
    }

    #[test]
    fn an_issued_challenge_solved_verifies_until_it_expires() {
        let altcha = Altcha::new("install secret");
        let challenge = altcha.issue(2_000, 1_000);
        assert!(challenge.salt.ends_with("?expires=1000&"), "{}", challenge.salt);
        let token = solve(&challenge);
        let solved = altcha.verify(&token, 999).unwrap();
        assert_eq!(solved.challenge, challenge.challenge);
        assert_eq!(solved.expires_at, 1_000);
        assert_eq!(altcha.verify(&token, 1_001), Err(Refusal::Expired));
    }

    #[test]
    fn forged_or_damaged_tokens_are_refused_with_their_reason() {
        let altcha = Altcha::new("install secret");
        let token = solve(&altcha.issue(1_000, 5_000));
        assert_eq!(
            Altcha::new("another secret").verify(&token, 0),
            Err(Refusal::BadSignature)
        );
        assert_eq!(altcha.verify("not base64!", 0), Err(Refusal::Malformed));
        let number = tamper(&token, "number", serde_json::json!(1_000_001));
        assert_eq!(altcha.verify(&number, 0), Err(Refusal::WrongNumber));
        // Pushing the expiry back changes the challenge the number solves.
        let salt = serde_json::from_slice::<serde_json::Value>(
            &base64::engine::general_purpose::STANDARD.decode(&token).unwrap(),
        )
        .unwrap()["salt"]
            .as_str()
            .unwrap()
            .replace("expires=5000", "expires=9999");
        assert_eq!(
            altcha.verify(&tamper(&token, "salt", salt.into()), 0),
            Err(Refusal::WrongNumber)
        );
        let weak = tamper(&token, "algorithm", "SHA-1".into());
        assert_eq!(altcha.verify(&weak, 0), Err(Refusal::Algorithm("SHA-1".into())));
        let no_expiry = tamper(&token, "salt", "abcdef&".into());
        assert_eq!(altcha.verify(&no_expiry, 0), Err(Refusal::NoExpiry));
    }
}
