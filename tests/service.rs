//! The Moderation service end to end: a real server on 127.0.0.1:0, a real gRPC client.

mod common;

use std::time::Duration;

use common::{TestServer, comment, http_get, with_key};
use modgate::api::proto::{Action, Client, GetDecisionRequest, ModerateRequest, ReasonCode};
use tonic::Code;
use tonic_types::StatusExt;

const SITE: &str = r#"
[sites.default]
banned_terms = ["nhà cái"]
suspect_terms = ["giảm cân"]
max_links = 1
blocked_link_domains = ["bad.example"]
[[sites.default.rate_limits]]
key = "ip"
rate = "1/minute"
burst = 4
"#;

fn codes(response: &modgate::api::proto::ModerateResponse) -> Vec<ReasonCode> {
    response.reasons.iter().map(|r| r.code()).collect()
}

fn bad_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|f| f.field).collect())
        .unwrap_or_default()
}

/// Each call from its own IP, so the rate limit of SITE does not interfere.
fn from_ip(mut request: ModerateRequest, last_octet: u8) -> ModerateRequest {
    request.client = Some(Client {
        ip: format!("198.51.100.{last_octet}"),
        ..Default::default()
    });
    request
}

#[tokio::test]
async fn decisions_follow_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(SITE, dir.path()).await;
    let mut client = server.client().await;

    let clean = client
        .moderate(from_ip(
            comment("c1", "Bài viết rất hay, cảm ơn tác giả đã chia sẻ thông tin."),
            1,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clean.action(), Action::Approve, "{clean:?}");
    assert!(clean.reasons.is_empty());
    assert!(!clean.moderation_id.is_empty());
    assert!(!clean.model_version.is_empty());

    let ad = client
        .moderate(from_ip(
            comment(
                "c2",
                "Vay tiền nhanh không thế chấp, giải ngân trong ngày, liên hệ zalo 0912 345 678",
            ),
            2,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(ad.action(), Action::Approve, "{ad:?}");
    assert!(codes(&ad).contains(&ReasonCode::Spam), "{ad:?}");
    assert!(ad.scores.unwrap().spam > 0.5);

    let abuse = client
        .moderate(from_ip(comment("c3", "đ.m thằng óc chó ngu như bò"), 3))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(abuse.action(), Action::Approve);
    assert!(
        codes(&abuse)
            .iter()
            .any(|c| matches!(c, ReasonCode::Abuse | ReasonCode::Hate)),
        "{abuse:?}"
    );

    let banned = client
        .moderate(from_ip(comment("c4", "vào N.H.À C.Á.I uy tín nhất"), 4))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(banned.action(), Action::Reject);
    assert_eq!(banned.reasons[0].code(), ReasonCode::BlockedTerm, "{banned:?}");
    assert!(banned.reasons[0].detail.contains("nhà cái"));

    let suspect = client
        .moderate(from_ip(comment("c5", "bí quyết giam can của tôi"), 5))
        .await
        .unwrap()
        .into_inner();
    assert!(codes(&suspect).contains(&ReasonCode::SuspectTerm), "{suspect:?}");
    assert_ne!(suspect.action(), Action::Approve);

    let links = client
        .moderate(from_ip(comment("c6", "xem a.example.com và b.example.org nhé bạn"), 6))
        .await
        .unwrap()
        .into_inner();
    assert!(codes(&links).contains(&ReasonCode::LinkLimit), "{links:?}");

    let blocked = client
        .moderate(from_ip(comment("c7", "chi tiết ở https://bad.example/x"), 7))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(blocked.action(), Action::Reject);
    assert!(codes(&blocked).contains(&ReasonCode::BlockedLink));

    let mut honeypot = from_ip(comment("c8", "Cảm ơn bài viết"), 8);
    honeypot.honeypot = "http://spam".into();
    let trapped = client.moderate(honeypot).await.unwrap().into_inner();
    assert_eq!(trapped.action(), Action::Reject);
    assert_eq!(trapped.reasons[0].code(), ReasonCode::Honeypot);
    server.stop().await;
}

#[tokio::test]
async fn a_burst_from_one_ip_is_rate_limited_and_resubmissions_are_not_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(SITE, dir.path()).await;
    let mut client = server.client().await;
    let first = client
        .moderate(comment("r1", "Bình luận thứ nhất về bài báo"))
        .await
        .unwrap()
        .into_inner();
    // Resubmitting the same comment (a CMS retry) returns the same decision and is free.
    for _ in 0..5 {
        let again = client
            .moderate(comment("r1", "Bình luận thứ nhất về bài báo"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(again.moderation_id, first.moderation_id);
        assert_eq!(again.action, first.action);
    }
    for i in 2..=4 {
        let r = client
            .moderate(comment(&format!("r{i}"), &format!("Ý kiến số {i} của tôi")))
            .await
            .unwrap()
            .into_inner();
        assert!(
            !codes(&r).contains(&ReasonCode::RateLimited),
            "burst of 4 allows comment {i}"
        );
    }
    let limited = client
        .moderate(comment("r5", "Ý kiến số 5 của tôi"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(limited.action(), Action::Reject);
    assert_eq!(limited.reasons[0].code(), ReasonCode::RateLimited, "{limited:?}");
    let retry = limited.retry_after.expect("retry_after is set");
    let retry = Duration::new(retry.seconds as u64, retry.nanos as u32);
    assert!(
        retry > Duration::from_secs(50) && retry <= Duration::from_secs(60),
        "{retry:?}"
    );

    // The same id with different text is another comment reusing an id.
    let reused = client
        .moderate(comment("r1", "một nội dung khác hẳn"))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists);

    let stored = client
        .get_decision(GetDecisionRequest {
            site_id: "default".into(),
            comment_id: "r5".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.moderation_id, limited.moderation_id);
    let missing = client
        .get_decision(GetDecisionRequest {
            site_id: "default".into(),
            comment_id: "never".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = SITE.replacen("[sites.default]\n", "[sites.default]\nmax_text_chars = 50\n", 1);
    let server = TestServer::start(&config, dir.path()).await;
    let mut client = server.client().await;

    let empty = client.moderate(comment("e1", "  ")).await.unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&empty), ["text"]);
    // Invisible to a reader, so as empty as spaces: a CMS would publish a blank comment.
    let invisible = client
        .moderate(comment("e1z", "\u{200B}\u{200D}\u{FEFF} \u{202E}"))
        .await
        .unwrap_err();
    assert_eq!(invisible.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&invisible), ["text"]);

    let long = client.moderate(comment("e2", &"dài ".repeat(20))).await.unwrap_err();
    assert_eq!(bad_fields(&long), ["text"]);
    assert!(long.message().contains("at most 50 characters"), "{}", long.message());

    let mut bad_ip = comment("e3", "ok");
    bad_ip.client = Some(Client {
        ip: "not-an-ip".into(),
        ..Default::default()
    });
    assert_eq!(bad_fields(&client.moderate(bad_ip).await.unwrap_err()), ["client.ip"]);

    let mut no_id = comment("", "ok");
    no_id.comment_id = String::new();
    assert_eq!(bad_fields(&client.moderate(no_id).await.unwrap_err()), ["comment_id"]);

    let mut unknown_site = comment("e4", "ok");
    unknown_site.site_id = "elsewhere".into();
    let status = client.moderate(unknown_site).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["site_id"]);

    // Beyond the message-size limit (256 KiB by default), the request is refused whole.
    let huge = comment("e5", &"x".repeat(400_000));
    let status = client.moderate(huge).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::ResourceExhausted | Code::OutOfRange),
        "{status:?}"
    );

    // Nothing was stored for refused requests.
    let none = client
        .get_decision(GetDecisionRequest {
            site_id: "default".into(),
            comment_id: "e1".into(),
        })
        .await;
    assert_eq!(none.unwrap_err().code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn api_keys_identify_the_site() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[sites.news]
api_keys = ["news-key-0123456789abcdef"]
[sites.blog]
api_keys = ["blog-key-0123456789abcdef"]
"#;
    let server = TestServer::start(config, dir.path()).await;
    let mut client = server.client().await;
    let mut request = comment("a1", "Bài viết hay");
    request.site_id = "news".into();

    let ok = client
        .moderate(with_key(request.clone(), "news-key-0123456789abcdef"))
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    let missing = client.moderate(request.clone()).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    let wrong = client
        .moderate(with_key(request.clone(), "news-key-0123456789abcdeX"))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let other_site = client
        .moderate(with_key(request.clone(), "blog-key-0123456789abcdef"))
        .await
        .unwrap_err();
    assert_eq!(other_site.code(), Code::PermissionDenied);
    let read_other = client
        .get_decision(with_key(
            GetDecisionRequest {
                site_id: "news".into(),
                comment_id: "a1".into(),
            },
            "blog-key-0123456789abcdef",
        ))
        .await
        .unwrap_err();
    assert_eq!(read_other.code(), Code::PermissionDenied);
    server.stop().await;
}

#[tokio::test]
async fn shadow_mode_records_what_it_would_do_and_approves() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        "[sites.default]\nshadow_mode = true\nbanned_terms = [\"nhà cái\"]\n",
        dir.path(),
    )
    .await;
    let mut client = server.client().await;
    let r = client
        .moderate(comment("s1", "nhà cái uy tín"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.action(), Action::Approve);
    assert_eq!(r.shadow_action(), Action::Reject);
    assert_eq!(r.reasons[0].code(), ReasonCode::BlockedTerm);
    let clean = client
        .moderate(comment("s2", "Đội tuyển chơi quá hay, chúc mừng chiến thắng"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(clean.shadow_action(), Action::Approve);
    server.stop().await;
}

#[tokio::test]
async fn duplicates_and_new_authors_are_held() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(
        "[sites.default]\nhold_new_authors = true\nduplicate_site_copies = 3\n",
        dir.path(),
    )
    .await;
    let mut client = server.client().await;
    let text = "Mọi người ơi vào xem trang này hay lắm";
    let mut first = comment("d1", text);
    first.author = Some(modgate::api::proto::Author {
        email: "same@example.vn".into(),
        ..Default::default()
    });
    let r1 = client.moderate(first.clone()).await.unwrap().into_inner();
    assert!(codes(&r1).contains(&ReasonCode::NewAuthor), "{r1:?}");
    let mut second = first.clone();
    second.comment_id = "d2".into();
    let r2 = client.moderate(second).await.unwrap().into_inner();
    assert!(
        codes(&r2).contains(&ReasonCode::Duplicate),
        "same author, same text: {r2:?}"
    );
    // Different authors, same text: the third copy site-wide is held.
    let mut other = comment("d3", text);
    other.client = Some(Client {
        ip: "192.0.2.77".into(),
        ..Default::default()
    });
    let r3 = client.moderate(other).await.unwrap().into_inner();
    assert!(codes(&r3).contains(&ReasonCode::Duplicate), "{r3:?}");
    server.stop().await;
}

#[tokio::test]
async fn health_reflection_and_metrics_are_served() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start("", dir.path()).await;
    let mut health = HealthClient::new(server.channel().await);
    let status = health
        .check(HealthCheckRequest {
            service: "modgate.v1.Moderation".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await
        .unwrap()
        .into_inner();
    let response = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("{response:?}")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"modgate.v1.Moderation".to_string()), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health".to_string()), "{names:?}");

    let mut client = server.client().await;
    client.moderate(comment("m1", "Bài viết rất hay")).await.unwrap();
    let body = http_get(server.metrics_addr.unwrap(), "/metrics").await;
    assert!(
        body.contains("modgate_decisions_total{site=\"default\",action=\"approve\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("modgate_stage_seconds_count{stage=\"classifier\"} 1"),
        "{body}"
    );
    assert!(body.contains("modgate_model_info{version="), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_form_submitted_faster_than_a_person_types_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start("[sites.default]\nmin_fill_seconds = 3\n", dir.path()).await;
    let mut client = server.client().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let at = |seconds_ago: f64| {
        let t = now.as_secs_f64() - seconds_ago;
        prost_types::Timestamp {
            seconds: t.floor() as i64,
            nanos: ((t - t.floor()) * 1e9) as i32,
        }
    };
    let mut quick = comment("fast-1", "Bài viết rất hay, cảm ơn tác giả");
    quick.form_rendered_at = Some(at(0.5));
    let held = client.moderate(quick).await.unwrap().into_inner();
    assert_eq!(held.action(), modgate::api::proto::Action::Hold, "{held:?}");
    assert_eq!(codes(&held), [ReasonCode::TooFast]);

    let mut typed = comment("fast-2", "Đội tuyển chơi quá hay, chúc mừng");
    typed.client.as_mut().unwrap().ip = "203.0.113.99".into();
    typed.form_rendered_at = Some(at(40.0));
    typed.submitted_at = Some(at(5.0));
    let fine = client.moderate(typed).await.unwrap().into_inner();
    assert!(codes(&fine).is_empty(), "35 s to type: {fine:?}");

    let mut unknown = comment("fast-3", "Giá xăng lại tăng rồi mọi người ơi");
    unknown.client.as_mut().unwrap().ip = "203.0.113.98".into();
    let fine = client.moderate(unknown).await.unwrap().into_inner();
    assert!(codes(&fine).is_empty(), "no render time, no judgement: {fine:?}");
}
