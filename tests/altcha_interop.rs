//! The built-in captcha against software we did not write: the official ALTCHA library
//! (`altcha-lib` from npm, installed in tests/altcha by the test command) solves
//! modgate's challenges, creates challenges modgate accepts, and agrees on what is valid.

mod common;

use std::io::Write;

use base64::Engine as _;
use std::process::{Command, Stdio};

use common::redis_server::RedisServer;
use common::{TestServer, comment};
use modgate::api::proto::moderation_client::ModerationClient;
use modgate::api::proto::{Action, Captcha, IssueChallengeRequest, ModerateResponse, ReasonCode};
use tonic::transport::Channel;

const KEY: &str = "shared-altcha-key-for-tests";

/// Runs tests/altcha/altcha.mjs with `args`, feeding `stdin`; returns its output.
fn altcha_lib(args: &[&str], stdin: &str) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/altcha");
    assert!(
        std::path::Path::new(dir).join("node_modules/altcha-lib").exists(),
        "altcha-lib is not installed: ./scripts/test runs `npm ci` in tests/altcha"
    );
    let mut child = Command::new("node")
        .arg("altcha.mjs")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (./scripts/test installs Debian's nodejs when it is missing)");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "node altcha.mjs {args:?} failed");
    String::from_utf8(output.stdout).unwrap()
}

fn config() -> String {
    format!("[server]\naltcha_hmac_key = \"{KEY}\"\n[sites.default]\naltcha_max_number = 5000\n")
}

async fn issue(client: &mut ModerationClient<Channel>) -> String {
    let challenge = client
        .issue_challenge(IssueChallengeRequest {
            site_id: "default".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(challenge.maxnumber, 5000, "the site's difficulty");
    serde_json::json!({
        "algorithm": challenge.algorithm,
        "challenge": challenge.challenge,
        "maxnumber": challenge.maxnumber,
        "salt": challenge.salt,
        "signature": challenge.signature,
    })
    .to_string()
}

async fn submit(client: &mut ModerationClient<Channel>, id: &str, token: &str) -> ModerateResponse {
    let mut request = comment(id, "Cảm ơn bài viết, rất bổ ích cho mọi người");
    request.client.as_mut().unwrap().ip = format!("192.0.2.{}", id.len() * 7 % 250);
    request.captcha = Some(Captcha {
        provider: "altcha".into(),
        token: token.into(),
    });
    client.moderate(request).await.unwrap().into_inner()
}

fn codes(response: &ModerateResponse) -> Vec<ReasonCode> {
    response.reasons.iter().map(|r| r.code()).collect()
}

#[tokio::test]
async fn altcha_lib_solves_modgate_challenges_and_modgate_accepts_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(), dir.path()).await;
    let mut client = server.client().await;

    let token = altcha_lib(&["solve"], &issue(&mut client).await);
    assert_eq!(
        altcha_lib(&["verify", KEY], &token),
        "true",
        "altcha-lib agrees the solution is valid"
    );
    let first = submit(&mut client, "a1", &token).await;
    assert_eq!(first.action(), Action::Approve, "{first:?}");
    assert!(codes(&first).is_empty(), "{first:?}");

    let replayed = submit(&mut client, "a2", &token).await;
    assert_eq!(replayed.action(), Action::Reject);
    assert_eq!(codes(&replayed), [ReasonCode::CaptchaReplayed]);

    // Resubmitting the first comment is idempotent, not a replay.
    let again = submit(&mut client, "a1", &token).await;
    assert_eq!(again.moderation_id, first.moderation_id);
}

#[tokio::test]
async fn challenges_created_by_altcha_lib_with_the_same_key_verify() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(), dir.path()).await;
    let mut client = server.client().await;
    let in_an_hour = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        .to_string();
    let challenge = altcha_lib(&["create", KEY, "5000", &in_an_hour], "");
    let token = altcha_lib(&["solve"], &challenge);
    let accepted = submit(&mut client, "b1", &token).await;
    assert_eq!(accepted.action(), Action::Approve, "{accepted:?}");

    // The same library with another key: not ours.
    let foreign = altcha_lib(&["create", "some-other-servers-key", "5000", &in_an_hour], "");
    let refused = submit(&mut client, "b2", &altcha_lib(&["solve"], &foreign)).await;
    assert_eq!(codes(&refused), [ReasonCode::CaptchaInvalid]);
    assert!(
        refused.reasons[0].detail.contains("not signed by this server"),
        "{refused:?}"
    );

    // Expired (created already past its expiry), and tampered with.
    let expired = altcha_lib(&["create", KEY, "5000", "1700000000"], "");
    let late = submit(&mut client, "b3", &altcha_lib(&["solve"], &expired)).await;
    assert_eq!(codes(&late), [ReasonCode::CaptchaInvalid]);
    assert!(late.reasons[0].detail.contains("expired"), "{late:?}");

    let engine = base64_engine();
    let good = altcha_lib(&["solve"], &altcha_lib(&["create", KEY, "5000", &in_an_hour], ""));
    let mut payload: serde_json::Value = serde_json::from_slice(&engine.decode(&good).unwrap()).unwrap();
    payload["number"] = serde_json::json!(payload["number"].as_u64().unwrap() + 1);
    let tampered = engine.encode(payload.to_string());
    let refused = submit(&mut client, "b4", &tampered).await;
    assert_eq!(codes(&refused), [ReasonCode::CaptchaInvalid]);
    assert_eq!(
        altcha_lib(&["verify", KEY], &tampered),
        "false",
        "altcha-lib refuses it too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_solution_is_accepted_once_across_replicas_sharing_redis() {
    let redis = RedisServer::start();
    let shared = format!("{}[redis]\nurl = \"{}\"\n", config(), redis.url());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = TestServer::start(&shared, dir_a.path()).await;
    let b = TestServer::start(&shared, dir_b.path()).await;
    let (mut client_a, mut client_b) = (a.client().await, b.client().await);
    let token = altcha_lib(&["solve"], &issue(&mut client_a).await);
    let first = submit(&mut client_a, "c1", &token).await;
    assert!(codes(&first).is_empty(), "{first:?}");
    let elsewhere = submit(&mut client_b, "c2", &token).await;
    assert_eq!(codes(&elsewhere), [ReasonCode::CaptchaReplayed]);
}

fn base64_engine() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

#[tokio::test]
async fn captcha_modes_and_other_providers() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[server]\naltcha_hmac_key = \"{KEY}\"\n[sites.default]\ncaptcha = \"required\"\naltcha_max_number = 5000\n"
    );
    let server = TestServer::start(&config, dir.path()).await;
    let mut client = server.client().await;

    let mut bare = comment("m1", "Cảm ơn bài viết, rất bổ ích cho mọi người");
    bare.client.as_mut().unwrap().ip = "192.0.2.201".into();
    let missing = client.moderate(bare.clone()).await.unwrap().into_inner();
    assert_eq!(missing.action(), Action::Reject);
    assert_eq!(codes(&missing), [ReasonCode::CaptchaMissing]);

    let mut turnstile = bare.clone();
    turnstile.comment_id = "m2".into();
    turnstile.text = "Đội tuyển chơi hay quá, chúc mừng".into();
    turnstile.captcha = Some(Captcha {
        provider: "turnstile".into(),
        token: "0.abc".into(),
    });
    let unverifiable = client.moderate(turnstile).await.unwrap().into_inner();
    assert_eq!(codes(&unverifiable), [ReasonCode::CaptchaInvalid]);

    let token = altcha_lib(&["solve"], &issue(&mut client).await);
    let solved = submit(&mut client, "m3", &token).await;
    assert_eq!(solved.action(), Action::Approve, "{solved:?}");

    let mut bot = bare;
    bot.comment_id = "m4".into();
    bot.text = "Giá xăng lại tăng rồi mọi người ơi".into();
    bot.honeypot = "http://spam.example".into();
    bot.captcha = Some(Captcha {
        provider: "altcha".into(),
        token: altcha_lib(&["solve"], &issue(&mut client).await),
    });
    let trapped = client.moderate(bot).await.unwrap().into_inner();
    assert_eq!(trapped.action(), Action::Reject);
    assert_eq!(codes(&trapped), [ReasonCode::Honeypot]);
}

#[tokio::test]
async fn risk_based_asks_borderline_comments_for_a_captcha_and_decides_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[server]\naltcha_hmac_key = \"{KEY}\"\n[sites.default]\ncaptcha = \"risk_based\"\naltcha_max_number = 5000\n\
         [sites.default.thresholds]\nspam_hold = 0.5\nspam_reject = 0.95\nabuse_hold = 0.6\nhate_hold = 0.6\n"
    );
    let server = TestServer::start(&config, dir.path()).await;
    let mut client = server.client().await;

    // A reader asking whether anyone sells: the shipped model scores it about 0.46 for
    // spam (it could be the start of a sales pitch), borderline against a hold of 0.5.
    let mut borderline = comment("r1", "Có ai bán không");
    borderline.client.as_mut().unwrap().ip = "192.0.2.31".into();
    let asked = client.moderate(borderline.clone()).await.unwrap().into_inner();
    let spam = asked.scores.as_ref().unwrap().spam;
    assert!(
        (0.25..0.5).contains(&spam),
        "the fixture must be borderline, spam {spam}"
    );
    assert_eq!(asked.action(), Action::Hold, "{asked:?}");
    assert_eq!(codes(&asked), [ReasonCode::CaptchaRequired]);

    // Resubmitted without a token: the same answer.
    let again = client.moderate(borderline.clone()).await.unwrap().into_inner();
    assert_eq!(again.moderation_id, asked.moderation_id);

    // With a solved captcha: decided again, and stored.
    borderline.captcha = Some(Captcha {
        provider: "altcha".into(),
        token: altcha_lib(&["solve"], &issue(&mut client).await),
    });
    let decided = client.moderate(borderline).await.unwrap().into_inner();
    assert_eq!(decided.action(), Action::Approve, "{decided:?}");
    assert_ne!(decided.moderation_id, asked.moderation_id);
    let stored = client
        .get_decision(modgate::api::proto::GetDecisionRequest {
            site_id: "default".into(),
            comment_id: "r1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.moderation_id, decided.moderation_id);

    // A clearly fine comment is not asked.
    let mut fine = comment("r2", "Đội tuyển chơi quá hay, chúc mừng chiến thắng xứng đáng");
    fine.client.as_mut().unwrap().ip = "192.0.2.32".into();
    let approved = client.moderate(fine).await.unwrap().into_inner();
    assert!(approved.scores.as_ref().unwrap().spam < 0.25, "{approved:?}");
    assert_eq!(approved.action(), Action::Approve, "{approved:?}");
}
