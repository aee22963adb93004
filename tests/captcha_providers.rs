//! Turnstile, hCaptcha and reCAPTCHA verification against a local server that answers
//! like each provider's `siteverify`: every kind of answer gives its documented decision,
//! and a provider that fails or hangs never holds the call past the timeout.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Form, Json, Router};
use common::{TestServer, comment};
use modgate::api::proto::{Action, Captcha, ModerateResponse, ReasonCode};
use serde_json::{Value, json};

const TIMEOUT_MS: u64 = 300;

/// Answers by the token: `good`, `dup`, `bad`, `otherhost`, `wrongaction`, `low`, `high`,
/// `boom` (HTTP 500), `slow` (answers after 2 s), `badsecret`.
async fn siteverify(provider: &'static str, Form(form): Form<HashMap<String, String>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    assert_eq!(
        form.get("secret").map(String::as_str),
        Some("site-secret"),
        "the site's secret is sent"
    );
    assert!(form.contains_key("remoteip"), "the reader's IP is sent");
    let replayed = if provider == "hcaptcha" {
        "already-seen-response"
    } else {
        "timeout-or-duplicate"
    };
    let answer: Value = match form.get("response").map(String::as_str).unwrap_or("") {
        "good" => json!({"success": true, "hostname": "example.vn", "action": "comment", "score": 0.9}),
        "dup" => json!({"success": false, "error-codes": [replayed]}),
        "otherhost" => json!({"success": true, "hostname": "evil.example", "action": "comment", "score": 0.9}),
        "wrongaction" => json!({"success": true, "hostname": "example.vn", "action": "login", "score": 0.9}),
        "low" => json!({"success": true, "hostname": "example.vn", "action": "comment", "score": 0.1}),
        "badsecret" => json!({"success": false, "error-codes": ["invalid-input-secret"]}),
        "boom" => return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            json!({"success": true, "hostname": "example.vn"})
        }
        _ => json!({"success": false, "error-codes": ["invalid-input-response"]}),
    };
    Json(answer).into_response()
}

async fn fake_providers() -> std::net::SocketAddr {
    let app = Router::new()
        .route("/turnstile", post(|form| siteverify("turnstile", form)))
        .route("/hcaptcha", post(|form| siteverify("hcaptcha", form)))
        .route("/recaptcha", post(|form| siteverify("recaptcha", form)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn config(providers: std::net::SocketAddr) -> String {
    format!(
        "[sites.default]\ncaptcha_timeout_ms = {TIMEOUT_MS}\nrate_limits = []\n\
         [sites.default.captcha_providers.turnstile]\nsecret = \"site-secret\"\nhostname = \"example.vn\"\nurl = \"http://{providers}/turnstile\"\n\
         [sites.default.captcha_providers.hcaptcha]\nsecret = \"site-secret\"\nhostname = \"example.vn\"\nurl = \"http://{providers}/hcaptcha\"\n\
         [sites.default.captcha_providers.recaptcha]\nsecret = \"site-secret\"\nhostname = \"example.vn\"\naction = \"comment\"\nmin_score = 0.5\nurl = \"http://{providers}/recaptcha\"\n"
    )
}

fn codes(response: &ModerateResponse) -> Vec<ReasonCode> {
    response.reasons.iter().map(|r| r.code()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_provider_answer_gets_its_documented_decision_within_the_timeout() {
    let providers = fake_providers().await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(providers), dir.path()).await;
    let mut client = server.client().await;

    // (token, expected action, expected reason or none)
    let cases: &[(&str, Action, Option<ReasonCode>)] = &[
        ("good", Action::Approve, None),
        ("dup", Action::Reject, Some(ReasonCode::CaptchaReplayed)),
        ("bad", Action::Reject, Some(ReasonCode::CaptchaInvalid)),
        ("otherhost", Action::Reject, Some(ReasonCode::CaptchaInvalid)),
        ("boom", Action::Hold, Some(ReasonCode::DependencyUnavailable)),
        ("badsecret", Action::Hold, Some(ReasonCode::DependencyUnavailable)),
        ("slow", Action::Hold, Some(ReasonCode::DependencyUnavailable)),
    ];
    let texts = [
        "Bài viết hay",
        "Rất bổ ích",
        "Cảm ơn tác giả",
        "Đồng ý với bạn",
        "Hay quá",
        "Tuyệt vời",
        "Quá đúng",
    ];
    let mut n = 0;
    let mut baseline = Duration::ZERO;
    for provider in ["turnstile", "hcaptcha", "recaptcha"] {
        for (token, action, reason) in cases {
            n += 1;
            let mut request = comment(
                &format!("{provider}-{token}"),
                &format!("{}, bình luận thứ {n}", texts[n % texts.len()]),
            );
            request.captcha = Some(Captcha {
                provider: provider.into(),
                token: token.to_string(),
            });
            let started = Instant::now();
            let response = client.moderate(request).await.unwrap().into_inner();
            let took = started.elapsed();
            if *token == "good" {
                baseline = baseline.max(took);
            }
            assert_eq!(response.action(), *action, "{provider} {token}: {response:?}");
            assert_eq!(
                codes(&response),
                reason.iter().copied().collect::<Vec<_>>(),
                "{provider} {token}"
            );
            if let Some(detail) = response.reasons.first().map(|r| r.detail.as_str()) {
                assert!(detail.starts_with(provider), "the provider is named: {detail}");
            }
            assert!(
                took <= baseline.max(Duration::from_millis(50)) + Duration::from_millis(TIMEOUT_MS + 10),
                "{provider} {token} took {took:?}"
            );
        }
    }

    // reCAPTCHA v3: action and score.
    for (token, action, reason) in [
        ("wrongaction", Action::Reject, ReasonCode::CaptchaInvalid),
        ("low", Action::Hold, ReasonCode::CaptchaInvalid),
    ] {
        let mut request = comment(&format!("v3-{token}"), &format!("Ý kiến {token} về bài viết"));
        request.captcha = Some(Captcha {
            provider: "recaptcha".into(),
            token: token.into(),
        });
        let response = client.moderate(request).await.unwrap().into_inner();
        assert_eq!(response.action(), action, "{token}: {response:?}");
        assert_eq!(codes(&response), [reason], "{token}");
    }
}

#[tokio::test]
async fn provider_settings_are_validated_and_the_failure_policy_applies() {
    let providers = fake_providers().await;
    let dir = tempfile::tempdir().unwrap();
    let approve_on_failure = config(providers).replace(
        "rate_limits = []\n",
        "rate_limits = []\ncaptcha_provider_failure = \"approve\"\n",
    );
    let server = TestServer::start(&approve_on_failure, dir.path()).await;
    let mut client = server.client().await;
    let mut request = comment("fail-open", "Bài viết rất hay");
    request.captcha = Some(Captcha {
        provider: "turnstile".into(),
        token: "boom".into(),
    });
    let response = client.moderate(request).await.unwrap().into_inner();
    assert_eq!(response.action(), Action::Approve, "{response:?}");

    for (bad, expected) in [
        (
            "[sites.a.captcha_providers.recaptha]\nsecret = \"s\"\n",
            "expected turnstile, hcaptcha or recaptcha",
        ),
        (
            "[sites.a.captcha_providers.turnstile]\nsecret = \"\"\n",
            "secret: required",
        ),
        (
            "[sites.a.captcha_providers.recaptcha]\nsecret = \"s\"\nmin_score = 2\n",
            "min_score",
        ),
        (
            "[sites.a.captcha_providers.hcaptcha]\nsecret = \"s\"\nurl = \"ftp://x\"\n",
            "url",
        ),
        (
            "[sites.a]\ncaptcha_provider_failure = \"ignore\"\n",
            "captcha_provider_failure",
        ),
    ] {
        let error = modgate::config::Config::from_file(toml::from_str(bad).unwrap(), &Default::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{bad}: {error}");
    }
}
