//! The service on Redis: replicas that share one limit, an outage decided by each site's
//! failure policy without hanging, recovery without a restart, and held comments that
//! outlive a Redis restart (with the AOF settings of deploy/redis.conf).

mod common;

use std::time::{Duration, Instant};

use common::redis_server::RedisServer;
use common::{ServerProcess, TestServer, comment, connect, http_get};
use modgate::api::proto::{Action, GetDecisionRequest, ModerateRequest, ReasonCode};

const TIMEOUT_MS: u64 = 50;

fn config(redis: &RedisServer, sites: &str) -> String {
    format!("[redis]\nurl = \"{}\"\ntimeout_ms = {TIMEOUT_MS}\n{sites}", redis.url())
}

fn codes(response: &modgate::api::proto::ModerateResponse) -> Vec<ReasonCode> {
    response.reasons.iter().map(|r| r.code()).collect()
}

fn on_site(site: &str, id: &str, text: &str, ip: &str) -> ModerateRequest {
    let mut request = comment(id, text);
    request.site_id = site.into();
    request.client.as_mut().unwrap().ip = ip.into();
    request
}

const TEXTS: &[&str] = &[
    "Bài viết rất hay, cảm ơn tác giả",
    "Tôi đồng ý với ý kiến này",
    "Chúc mừng đội tuyển chiến thắng",
    "Giá xăng tăng quá, đời sống khó khăn hơn",
    "Thông tin hữu ích, mong có thêm bài",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_modgate_processes_sharing_redis_enforce_one_limit() {
    let redis = RedisServer::start();
    // 10 per minute with a burst of 10: one comment earned back every 6 s, so within
    // this test (well under 6 s) exactly the burst is admitted, however the calls split.
    let sites = "[sites.default]\nrate_limits = [{ key = \"ip\", rate = \"10/minute\", burst = 10 }]\n";
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("modgate.toml");
    std::fs::write(&config_file, config(&redis, sites)).unwrap();
    let a = ServerProcess::start(&config_file, &dir.path().join("a"));
    let b = ServerProcess::start(&config_file, &dir.path().join("b"));
    let (client_a, client_b) = (connect(a.addr).await, connect(b.addr).await);
    let started = Instant::now();
    let mut calls = Vec::new();
    for n in 0..20 {
        let mut client = if n % 2 == 0 { client_a.clone() } else { client_b.clone() };
        let request = on_site("default", &format!("r{n}"), TEXTS[n % TEXTS.len()], "198.51.100.20");
        calls.push(tokio::spawn(async move {
            client.moderate(request).await.unwrap().into_inner()
        }));
    }
    let mut admitted = 0;
    for call in calls {
        let response = call.await.unwrap();
        assert!(!response.degraded);
        if !codes(&response).contains(&ReasonCode::RateLimited) {
            admitted += 1;
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the test must finish within one period"
    );
    assert_eq!(admitted, 10, "20 attempts over two replicas, one shared burst of 10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_decided_by_each_sites_policy_within_the_timeout_and_recovers_by_itself() {
    let redis = RedisServer::start();
    let sites = "[sites.open]\nredis_failure = \"fail_open\"\n[sites.closed]\nredis_failure = \"fail_closed\"\n";
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(&redis, sites), dir.path()).await;
    let mut client = server.client().await;

    // How long a call takes here when Redis answers (debug builds are slow).
    let mut baseline = Duration::ZERO;
    for (n, text) in TEXTS.iter().enumerate() {
        let started = Instant::now();
        let response = client
            .moderate(on_site("open", &format!("warm{n}"), text, &format!("192.0.2.{n}")))
            .await
            .unwrap()
            .into_inner();
        baseline = baseline.max(started.elapsed());
        assert!(!response.degraded);
    }

    redis.freeze();
    let bound = baseline + Duration::from_millis(TIMEOUT_MS + 10);
    for n in 0..20 {
        let site = if n % 2 == 0 { "open" } else { "closed" };
        let started = Instant::now();
        let response = client
            .moderate(on_site(
                site,
                &format!("out{n}"),
                TEXTS[n % TEXTS.len()],
                &format!("192.0.2.{}", 50 + n),
            ))
            .await
            .unwrap()
            .into_inner();
        let took = started.elapsed();
        assert!(took <= bound, "call {n} took {took:?}, bound {bound:?}");
        assert!(response.degraded, "call {n} is marked degraded");
        if site == "open" {
            assert_eq!(
                response.action(),
                Action::Approve,
                "fail_open decides on content: {response:?}"
            );
        } else {
            assert_eq!(response.action(), Action::Hold, "{response:?}");
            assert!(codes(&response).contains(&ReasonCode::DependencyUnavailable));
        }
    }

    redis.thaw();
    let back = Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let response = client
            .moderate(on_site(
                "open",
                &format!("back{n}"),
                TEXTS[n % TEXTS.len()],
                &format!("192.0.2.{}", 100 + n % 100),
            ))
            .await
            .unwrap()
            .into_inner();
        if !response.degraded {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(2),
            "still degraded 2 s after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_comments_survive_a_redis_restart_with_the_deploy_config() {
    let deploy_config = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/redis.conf");
    let mut redis = RedisServer::start_with(&[deploy_config]);
    let sites = "[sites.default]\nsuspect_terms = [\"trọng tài\"]\n";
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config(&redis, sites), dir.path()).await;
    let mut client = server.client().await;
    let mut held = Vec::new();
    for n in 0..10 {
        let id = format!("held{n}");
        let response = client
            .moderate(on_site(
                "default",
                &id,
                &format!("Trọng tài trận tối qua bắt dở quá. {}", TEXTS[n % 5]),
                &format!("192.0.2.{n}"),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.action(), Action::Hold, "{response:?}");
        held.push((id, response.moderation_id));
    }

    redis.restart();

    let deadline = Instant::now() + Duration::from_secs(2);
    for (id, moderation_id) in held {
        loop {
            let found = client
                .get_decision(GetDecisionRequest {
                    site_id: "default".into(),
                    comment_id: id.clone(),
                })
                .await;
            match found {
                Ok(decision) => {
                    assert_eq!(decision.into_inner().moderation_id, moderation_id, "{id}");
                    break;
                }
                Err(status) if Instant::now() < deadline => {
                    assert_ne!(status.code(), tonic::Code::NotFound, "{id} was lost");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(status) => panic!("{id}: {status:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_with_a_private_certificate_authority() {
    let redis = common::redis_server::TlsRedisServer::start();
    let config = format!(
        "[redis]\nurl = \"{}\"\nca_file = \"{}\"\n[sites.default]\n",
        redis.url(),
        redis.ca_file().display()
    );
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&config, dir.path()).await;
    let mut client = server.client().await;
    let response = client
        .moderate(on_site("default", "tls-1", TEXTS[0], "192.0.2.77"))
        .await
        .unwrap()
        .into_inner();
    assert!(!response.degraded, "{response:?}");
    let stored = client
        .get_decision(GetDecisionRequest {
            site_id: "default".into(),
            comment_id: "tls-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.moderation_id, response.moderation_id);

    // Without the private authority the server's certificate is not trusted.
    let untrusted =
        modgate::store::RedisLink::connect(&redis.url(), Duration::from_millis(200), Duration::from_secs(2)).await;
    assert!(
        untrusted.is_err(),
        "a certificate from an unknown authority was accepted"
    );
}

/// Under fail_open a comment answered during an outage is spooled on local disk and
/// stored in Redis once it is back, by the same process or, after a restart, the next one:
/// a held comment still reaches the moderators' queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_answered_during_an_outage_reach_redis_when_it_returns() {
    use modgate::api::proto::ListHeldRequest;
    use modgate::api::proto::review_client::ReviewClient;

    let redis = RedisServer::start();
    let sites = "[sites.default]\nredis_failure = \"fail_open\"\nsuspect_terms = [\"trọng tài\"]\n";
    let dir = tempfile::tempdir().unwrap();
    let held_text = "Trọng tài trận tối qua bắt dở quá";
    let server = TestServer::start(&config(&redis, sites), dir.path()).await;
    let mut client = server.client().await;

    redis.freeze();
    let during = client
        .moderate(on_site("default", "o1", held_text, "192.0.2.1"))
        .await
        .unwrap()
        .into_inner();
    assert!(during.degraded, "{during:?}");
    assert_eq!(during.action(), Action::Hold, "{during:?}");
    let approved = client
        .moderate(on_site("default", "o2", TEXTS[0], "192.0.2.2"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.action(), Action::Approve, "{approved:?}");
    // Operators see what waits: the spool gauge, updated every second.
    let metrics = server.metrics_addr.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !http_get(metrics, "/metrics")
        .await
        .contains("modgate_spooled_decisions 2")
    {
        assert!(Instant::now() < deadline, "the spool gauge never showed 2");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    redis.thaw();

    let find = |client: &mut modgate::api::proto::moderation_client::ModerationClient<tonic::transport::Channel>,
                comment_id: &'static str| {
        let mut client = client.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let found = client
                    .get_decision(GetDecisionRequest {
                        site_id: "default".into(),
                        comment_id: comment_id.into(),
                    })
                    .await;
                match found {
                    Ok(decision) => return decision.into_inner(),
                    Err(status) => assert!(
                        Instant::now() < deadline,
                        "{comment_id} not in Redis 5 s after it came back: {status:?}"
                    ),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(find(&mut client, "o1").await.moderation_id, during.moderation_id);
    assert_eq!(find(&mut client, "o2").await.moderation_id, approved.moderation_id);
    let mut review = ReviewClient::new(server.channel().await);
    let held = review.list_held(ListHeldRequest::default()).await.unwrap().into_inner();
    assert_eq!(held.comments.len(), 1, "{held:?}");
    assert_eq!(held.comments[0].moderation_id, during.moderation_id);
    let spool = dir.path().join("decision-spool.jsonl");
    assert_eq!(std::fs::read_to_string(&spool).unwrap(), "", "the spool is empty again");

    // An outage that outlasts the process: the spool file carries the decision to the
    // next start.
    redis.freeze();
    let late = client
        .moderate(on_site("default", "o3", held_text, "192.0.2.3"))
        .await
        .unwrap()
        .into_inner();
    assert!(late.degraded);
    server.stop().await;
    assert!(
        std::fs::read_to_string(&spool).unwrap().contains(&late.moderation_id),
        "spooled on disk"
    );
    redis.thaw();
    let restarted = TestServer::start(&config(&redis, sites), dir.path()).await;
    let mut client = restarted.client().await;
    assert_eq!(find(&mut client, "o3").await.moderation_id, late.moderation_id);
    restarted.stop().await;
}
