//! The built-in captcha's costs, both sides: how long the server takes to verify a
//! solution (against issuing a challenge, in the same run), and how long the official
//! ALTCHA library takes to solve a challenge at the default difficulty, which is what a
//! reader's device spends (Node.js here; browsers run the same SHA-256 loop).
//!
//! Run: `cargo bench --bench captcha` (the solve-time half needs Node.js and
//! `npm ci --prefix tests/altcha`, which ./scripts/test does; without them it says so).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use base64::Engine as _;
use modgate::captcha::altcha::Altcha;

const DEFAULT_MAX_NUMBER: u64 = 50_000;
const EXPIRES: u64 = 4_000_000_000;

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// The widget's loop, in Rust: the number below `max` whose hash is the challenge.
fn solve(challenge: &modgate::captcha::altcha::Challenge) -> String {
    use sha2::{Digest, Sha256};
    let number = (0..=challenge.maxnumber)
        .find(|n| {
            let digest = Sha256::digest(format!("{}{n}", challenge.salt).as_bytes());
            digest.iter().map(|b| format!("{b:02x}")).collect::<String>() == challenge.challenge
        })
        .expect("solvable");
    let json = serde_json::json!({
        "algorithm": challenge.algorithm, "challenge": challenge.challenge, "number": number,
        "salt": challenge.salt, "signature": challenge.signature,
    });
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

fn main() {
    let altcha = Altcha::new("benchmark key, 32 bytes long....");
    // Small challenges: solving is not what is timed on this side.
    let tokens: Vec<String> = (0..200).map(|_| solve(&altcha.issue(1_000, EXPIRES))).collect();
    let mut verify_us = Vec::new();
    let mut issue_us = Vec::new();
    for round in 0..50 {
        for token in &tokens {
            let t = Instant::now();
            let solved = altcha.verify(token, 0);
            let elapsed = t.elapsed().as_secs_f64() * 1e6;
            assert!(solved.is_ok());
            if round > 0 {
                verify_us.push(elapsed);
            }
        }
        for _ in 0..200 {
            let t = Instant::now();
            std::hint::black_box(altcha.issue(DEFAULT_MAX_NUMBER, EXPIRES));
            if round > 0 {
                issue_us.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
    }
    verify_us.sort_by(f64::total_cmp);
    issue_us.sort_by(f64::total_cmp);
    println!("server side, {} calls each (after a warm-up round):", verify_us.len());
    println!(
        "  verify a solution   p50 {:.2} µs   p99 {:.2} µs",
        percentile(&verify_us, 0.5),
        percentile(&verify_us, 0.99)
    );
    println!(
        "  issue a challenge   p50 {:.2} µs   p99 {:.2} µs",
        percentile(&issue_us, 0.5),
        percentile(&issue_us, 0.99)
    );

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/altcha");
    if !std::path::Path::new(dir).join("node_modules/altcha-lib").exists() {
        println!("client side: skipped (needs Node.js and `npm ci --prefix tests/altcha`)");
        return;
    }
    let mut took_ms = Vec::new();
    for _ in 0..30 {
        let challenge = serde_json::to_string(&altcha.issue(DEFAULT_MAX_NUMBER, EXPIRES)).expect("json");
        let mut child = Command::new("node")
            .args(["altcha.mjs", "solve"])
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(challenge.as_bytes())
            .expect("write");
        let output = child.wait_with_output().expect("node finishes");
        let payload: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(&output.stdout)
                .expect("base64"),
        )
        .expect("json");
        took_ms.push(payload["took"].as_f64().expect("took"));
    }
    took_ms.sort_by(f64::total_cmp);
    let mean = took_ms.iter().sum::<f64>() / took_ms.len() as f64;
    println!(
        "client side, altcha-lib solveChallenge at maxnumber {DEFAULT_MAX_NUMBER} ({} challenges, one core):",
        took_ms.len()
    );
    println!(
        "  solve time          mean {mean:.0} ms   p50 {:.0} ms   p90 {:.0} ms   max {:.0} ms",
        percentile(&took_ms, 0.5),
        percentile(&took_ms, 0.9),
        took_ms[took_ms.len() - 1]
    );
}
