//! Decisions back to the CMS, end to end: the real `modgate` binary serves, a CMS client
//! submits comments over gRPC, a moderator works the queue with the real CLI, and the
//! decisions arrive on a WatchDecisions stream and at local webhook receivers (signatures
//! checked here with our own HMAC, not modgate's), through failures, dead letters and a
//! restart; then the same on Redis with two replicas.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::redis_server::RedisServer;
use common::{ServerProcess, TestServer, comment, connect, with_key};
use hmac::{Hmac, KeyInit, Mac};
use modgate::api::proto::{Action, DecisionEvent, WatchDecisionsRequest};
use sha2::Sha256;
use tonic::Code;
use tonic_types::StatusExt;

const LAN: &str = "lan-token-0123456789";
const NEWS_KEY: &str = "news-api-key-0123456789";
const BLOG_KEY: &str = "blog-api-key-0123456789";
const NEWS_SECRET: &str = "news-webhook-secret-0123";
const BLOG_SECRET: &str = "blog-webhook-secret-0123";
const FORUM_SECRET: &str = "forum-webhook-secret-012";

/// One delivery a receiver accepted.
#[derive(Clone, Debug)]
struct Delivery {
    event_id_header: String,
    body: serde_json::Value,
}

/// A CMS's webhook endpoint: checks each POST's signature with the site's secret, fails
/// the first `fail_first` requests with HTTP 500 (or every request while `broken`, or
/// answers after `delay`), and keeps what it accepted.
struct Receiver {
    secret: &'static str,
    fail_first: usize,
    broken: Mutex<bool>,
    delay: Duration,
    requests: Mutex<usize>,
    accepted: Mutex<Vec<Delivery>>,
    bad_signatures: Mutex<Vec<String>>,
}

impl Receiver {
    fn new(secret: &'static str, fail_first: usize) -> Arc<Self> {
        Self::answering_after(secret, fail_first, Duration::ZERO)
    }

    fn answering_after(secret: &'static str, fail_first: usize, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            secret,
            fail_first,
            broken: Mutex::new(false),
            delay,
            requests: Mutex::new(0),
            accepted: Mutex::new(Vec::new()),
            bad_signatures: Mutex::new(Vec::new()),
        })
    }

    fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    fn accepted(&self) -> Vec<Delivery> {
        self.accepted.lock().unwrap().clone()
    }

    /// Accepted deliveries by event id: what a CMS that deduplicates keeps.
    fn unique(&self) -> BTreeMap<String, serde_json::Value> {
        self.accepted()
            .into_iter()
            .map(|d| (d.body["event_id"].as_str().unwrap().to_string(), d.body))
            .collect()
    }
}

/// Checks `t=<unix>,v1=<hex>` against our own HMAC-SHA256 of "<t>.<body>", and that the
/// timestamp is fresh (what docs/webhooks.md tells a CMS to do).
fn signature_problem(secret: &str, header: &str, body: &[u8]) -> Option<String> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = Some(value.to_string()),
            _ => return Some(format!("unexpected part {part:?}")),
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Some(format!("missing t or v1 in {header:?}"));
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now.abs_diff(t) > 300 {
        return Some(format!("stale timestamp {t} (now {now})"));
    }
    let expected: Vec<u8> = (0..v1.len())
        .step_by(2)
        .filter_map(|i| v1.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    match mac.verify_slice(&expected) {
        Ok(()) => None,
        Err(_) => Some(format!("signature mismatch: {header}")),
    }
}

async fn hook(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = {
        let mut requests = receiver.requests.lock().unwrap();
        *requests += 1;
        *requests
    };
    if !receiver.delay.is_zero() {
        tokio::time::sleep(receiver.delay).await;
    }
    if n <= receiver.fail_first || *receiver.broken.lock().unwrap() {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    if let Some(problem) = signature_problem(receiver.secret, &header("x-modgate-signature"), &body) {
        receiver.bad_signatures.lock().unwrap().push(problem);
        return StatusCode::BAD_REQUEST;
    }
    assert_eq!(header("content-type"), "application/json");
    receiver.accepted.lock().unwrap().push(Delivery {
        event_id_header: header("x-modgate-event-id"),
        body: serde_json::from_slice(&body).unwrap(),
    });
    StatusCode::NO_CONTENT
}

async fn serve_receiver(receiver: Arc<Receiver>) -> SocketAddr {
    let app = Router::new().route("/hooks", post(hook)).with_state(receiver);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Waits (polling) until `done` holds, for at most `limit`.
async fn eventually(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn cli(addr: SocketAddr, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(args)
        .args(["--server", &addr.to_string()])
        .env("MODGATE_TOKEN", LAN)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn ok_json(output: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {} stdout: {}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Held comments by (site, comment id) -> moderation id, from `queue list --json`.
fn held(addr: SocketAddr) -> BTreeMap<(String, String), String> {
    let listed = ok_json(&cli(addr, &["queue", "list", "--json", "--limit", "100"]));
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["site_id"].as_str().unwrap().to_string(),
                    c["comment_id"].as_str().unwrap().to_string(),
                ),
                c["moderation_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn resolve(addr: SocketAddr, verb: &str, moderation_id: &str, note: &str) {
    let done = ok_json(&cli(addr, &["queue", verb, moderation_id, "--note", note, "--json"]));
    assert_eq!(done[0]["ok"], true, "{done}");
}

/// Submits a comment that the site's suspect term holds.
async fn submit_held(addr: SocketAddr, site: &str, key: &str, id: &str, n: usize) {
    let mut request = comment(id, &format!("Trọng tài trận số {n} bắt dở quá"));
    request.site_id = site.into();
    request.client.as_mut().unwrap().ip = format!("192.0.2.{}", 10 + n);
    let decision = connect(addr)
        .await
        .moderate(with_key(request, key))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decision.action(), Action::Hold, "{id}: {decision:?}");
}

async fn next_event(stream: &mut tonic::Streaming<DecisionEvent>) -> DecisionEvent {
    tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("an event within 5 s")
        .expect("the stream is healthy")
        .expect("the stream is open")
}

fn watch(site: &str, after: &str) -> WatchDecisionsRequest {
    WatchDecisionsRequest {
        site_id: site.into(),
        after_cursor: after.into(),
    }
}

fn site(id: &str, key: &str, url: &str, secret: &str, extra: &str) -> String {
    format!(
        "[sites.{id}]\napi_keys = [\"{key}\"]\nsuspect_terms = [\"trọng tài\"]\n\
         webhook_url = \"{url}\"\nwebhook_secret = \"{secret}\"\nwebhook_retry_base_ms = 50\n{extra}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderator_decisions_reach_the_cms_by_stream_and_signed_webhooks_at_least_once() {
    let news_hooks = Receiver::new(NEWS_SECRET, 0);
    let blog_hooks = Receiver::new(BLOG_SECRET, 3);
    let forum_hooks = Receiver::new(FORUM_SECRET, 0);
    *forum_hooks.broken.lock().unwrap() = true;
    let slow_hooks = Receiver::answering_after(FORUM_SECRET, 0, Duration::from_secs(3));
    let news_addr = serve_receiver(news_hooks.clone()).await;
    let blog_addr = serve_receiver(blog_hooks.clone()).await;
    let forum_addr = serve_receiver(forum_hooks.clone()).await;
    let slow_addr = serve_receiver(slow_hooks.clone()).await;
    // A port nobody listens on: the receiver is down.
    let down_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("modgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[moderators]]\nname = \"lan\"\ntoken = \"{LAN}\"\n{}{}{}{}{}",
            site("news", NEWS_KEY, &format!("http://{news_addr}/hooks"), NEWS_SECRET, ""),
            site("blog", BLOG_KEY, &format!("http://{blog_addr}/hooks"), BLOG_SECRET, ""),
            site(
                "forum",
                "forum-api-key-0123456789",
                &format!("http://{forum_addr}/hooks"),
                FORUM_SECRET,
                "webhook_max_attempts = 2\n"
            ),
            site(
                "slow",
                "slow-api-key-01234567890",
                &format!("http://{slow_addr}/hooks"),
                FORUM_SECRET,
                "webhook_max_attempts = 2\nwebhook_timeout_ms = 200\n"
            ),
            site(
                "down",
                "down-api-key-01234567890",
                &format!("http://{down_addr}/hooks"),
                FORUM_SECRET,
                "webhook_max_attempts = 3\n"
            ),
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let server = ServerProcess::start(&config, &data);
    let addr = server.addr;
    let mut cms = connect(addr).await;

    // Refusals come before any stream opens, naming what is wrong.
    let denied = cms
        .watch_decisions(with_key(watch("news", ""), BLOG_KEY))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let no_site = cms
        .watch_decisions(with_key(watch("", ""), NEWS_KEY))
        .await
        .unwrap_err();
    assert_eq!(no_site.code(), Code::InvalidArgument);
    assert_eq!(
        no_site.get_details_bad_request().unwrap().field_violations[0].field,
        "site_id"
    );
    let bad_cursor = cms
        .watch_decisions(with_key(watch("news", "yesterday"), NEWS_KEY))
        .await
        .unwrap_err();
    assert_eq!(bad_cursor.code(), Code::InvalidArgument);
    assert_eq!(
        bad_cursor.get_details_bad_request().unwrap().field_violations[0].field,
        "after_cursor"
    );

    // The CMS starts watching before anything is decided.
    let mut stream = cms
        .watch_decisions(with_key(watch("news", ""), NEWS_KEY))
        .await
        .unwrap()
        .into_inner();

    for (n, (site, key, id)) in [
        ("news", NEWS_KEY, "n0"),
        ("news", NEWS_KEY, "n1"),
        ("blog", BLOG_KEY, "b0"),
        ("blog", BLOG_KEY, "b1"),
        ("forum", "forum-api-key-0123456789", "f0"),
        ("slow", "slow-api-key-01234567890", "s0"),
        ("down", "down-api-key-01234567890", "d0"),
    ]
    .into_iter()
    .enumerate()
    {
        submit_held(addr, site, key, id, n).await;
    }
    let queue = held(addr);
    assert_eq!(queue.len(), 7, "{queue:?}");
    let id_of = |site: &str, comment: &str| queue[&(site.to_string(), comment.to_string())].clone();
    resolve(addr, "approve", &id_of("news", "n0"), "góp ý bình thường");
    resolve(addr, "reject", &id_of("news", "n1"), "công kích trọng tài");
    resolve(addr, "approve", &id_of("blog", "b0"), "");
    resolve(addr, "reject", &id_of("blog", "b1"), "");
    resolve(addr, "reject", &id_of("forum", "f0"), "");
    resolve(addr, "approve", &id_of("slow", "s0"), "");
    resolve(addr, "approve", &id_of("down", "d0"), "");

    // The stream opened before the decisions gets both, in order.
    let first = next_event(&mut stream).await;
    let second = next_event(&mut stream).await;
    let got = [&first, &second].map(|e| (e.comment_id.as_str(), e.action(), e.note.as_str()));
    assert_eq!(
        got,
        [
            ("n0", Action::Approve, "góp ý bình thường"),
            ("n1", Action::Reject, "công kích trọng tài")
        ]
    );
    assert_eq!(first.moderator, "lan");
    assert_eq!(first.moderation_id, id_of("news", "n0"));
    assert!(first.decided_at.is_some());

    // The healthy receiver gets both, signed, once each, with the stream's event ids.
    eventually(Duration::from_secs(10), "news webhooks", || {
        news_hooks.accepted().len() >= 2
    })
    .await;
    let news = news_hooks.accepted();
    assert_eq!(news.len(), 2, "no retries were needed: {news:?}");
    assert_eq!(news_hooks.requests(), 2);
    for (delivery, event) in news.iter().zip([&first, &second]) {
        assert_eq!(delivery.body["event_id"], event.event_id.as_str());
        assert_eq!(delivery.event_id_header, event.event_id);
        assert_eq!(delivery.body["comment_id"], event.comment_id.as_str());
        assert_eq!(delivery.body["moderation_id"], event.moderation_id.as_str());
        assert_eq!(delivery.body["site_id"], "news");
        assert_eq!(delivery.body["moderator"], "lan");
        assert!(delivery.body["decided_at"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(news[0].body["action"], "APPROVE");
    assert_eq!(news[1].body["action"], "REJECT");
    assert_eq!(news[0].body["note"], "góp ý bình thường");

    // The receiver that fails its first 3 requests still ends up with each decision once.
    eventually(Duration::from_secs(10), "blog webhooks after retries", || {
        blog_hooks.unique().len() >= 2
    })
    .await;
    let blog = blog_hooks.unique();
    let comments: BTreeSet<(&str, &str)> = blog
        .values()
        .map(|b| (b["comment_id"].as_str().unwrap(), b["action"].as_str().unwrap()))
        .collect();
    assert_eq!(comments, BTreeSet::from([("b0", "APPROVE"), ("b1", "REJECT")]));
    assert_eq!(
        blog_hooks.requests(),
        3 + 2,
        "three failures, then one success per event"
    );
    assert_eq!(blog_hooks.accepted().len(), 2, "nothing delivered twice");
    for receiver in [&news_hooks, &blog_hooks] {
        assert!(receiver.bad_signatures.lock().unwrap().is_empty());
    }

    // Resuming after the first event's cursor gives the second, and only it.
    let mut resumed = cms
        .watch_decisions(with_key(watch("news", &first.cursor), NEWS_KEY))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut resumed).await, second);
    let quiet = tokio::time::timeout(Duration::from_millis(1200), resumed.message()).await;
    assert!(quiet.is_err(), "nothing after the second event: {quiet:?}");
    drop(resumed);

    // Receivers that answer 500, too slowly or not at all: each event is a dead letter
    // after the site's attempts, with what went wrong, and the CLI shows it.
    let dead_letters = |addr| ok_json(&cli(addr, &["webhooks", "dead-letters", "--json"]));
    eventually(Duration::from_secs(15), "three dead letters", || {
        dead_letters(addr).as_array().unwrap().len() >= 3
    })
    .await;
    let letters = dead_letters(addr);
    let by_site: BTreeMap<&str, &serde_json::Value> = letters
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["site_id"].as_str().unwrap(), l))
        .collect();
    assert_eq!(by_site.keys().copied().collect::<Vec<_>>(), ["down", "forum", "slow"]);
    assert_eq!(by_site["forum"]["last_error"], "HTTP 500");
    assert_eq!(by_site["forum"]["attempts"], 2);
    assert_eq!(by_site["forum"]["comment_id"], "f0");
    assert_eq!(by_site["forum"]["action"], "REJECT");
    assert_eq!(by_site["slow"]["last_error"], "no answer within 200 ms");
    assert!(
        by_site["down"]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("no connection"),
        "{}",
        by_site["down"]
    );
    assert_eq!(by_site["down"]["attempts"], 3);
    assert_eq!(forum_hooks.requests(), 2);
    let people = cli(addr, &["webhooks", "dead-letters", "--site", "forum"]);
    let text = String::from_utf8_lossy(&people.stdout);
    assert!(
        text.contains("forum/f0  REJECT") && text.contains("after 2 attempts: HTTP 500"),
        "{text}"
    );

    // The forum's CMS is fixed; an operator sends its dead letter again.
    *forum_hooks.broken.lock().unwrap() = false;
    let forum_event = by_site["forum"]["event_id"].as_str().unwrap().to_string();
    let retried = ok_json(&cli(addr, &["webhooks", "retry", &forum_event, "--json"]));
    assert_eq!(retried[0]["ok"], true);
    assert_eq!(retried[0]["site_id"], "forum");
    eventually(Duration::from_secs(10), "the requeued forum event", || {
        forum_hooks.accepted().len() == 1
    })
    .await;
    assert_eq!(forum_hooks.accepted()[0].body["event_id"], forum_event.as_str());
    eventually(Duration::from_secs(5), "the dead letter leaves the list", || {
        dead_letters(addr).as_array().unwrap().len() == 2
    })
    .await;
    let unknown = cli(addr, &["webhooks", "retry", "no-such-event"]);
    assert_eq!(unknown.status.code(), Some(1), "not a dead letter: exit 1");
    assert!(String::from_utf8_lossy(&unknown.stdout).contains("not requeued"));

    // After a restart, the webhook worker resumes after what it delivered: nothing is
    // sent again, and a new decision still goes out.
    drop(stream);
    drop(server);
    let server = ServerProcess::start(&config, &data);
    let addr = server.addr;
    submit_held(addr, "news", NEWS_KEY, "n2", 20).await;
    let queue = held(addr);
    resolve(addr, "approve", &queue[&("news".to_string(), "n2".to_string())], "");
    eventually(Duration::from_secs(10), "the decision made after the restart", || {
        news_hooks.accepted().len() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let news = news_hooks.accepted();
    assert_eq!(news.len(), 3, "the first two were not sent again: {news:?}");
    assert_eq!(news[2].body["comment_id"], "n2");
    // And the stream's history survived too.
    let mut replay = connect(addr)
        .await
        .watch_decisions(with_key(watch("news", ""), NEWS_KEY))
        .await
        .unwrap()
        .into_inner();
    let replayed = [
        next_event(&mut replay).await,
        next_event(&mut replay).await,
        next_event(&mut replay).await,
    ];
    assert_eq!(replayed[..2], [first, second]);
    assert_eq!(replayed[2].comment_id, "n2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_a_decision_on_one_replica_reaches_watchers_and_webhooks_of_both_once() {
    let redis = RedisServer::start();
    let hooks = Receiver::new(NEWS_SECRET, 1);
    let hooks_addr = serve_receiver(hooks.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("modgate.toml");
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{}\"\ntimeout_ms = 500\n[[moderators]]\nname = \"lan\"\ntoken = \"{LAN}\"\n{}",
            redis.url(),
            site("news", NEWS_KEY, &format!("http://{hooks_addr}/hooks"), NEWS_SECRET, "")
        ),
    )
    .unwrap();
    // Two replicas, each with its own webhook worker; they share Redis.
    let a = ServerProcess::start(&config, &dir.path().join("a"));
    let b = ServerProcess::start(&config, &dir.path().join("b"));
    let mut stream = connect(a.addr)
        .await
        .watch_decisions(with_key(watch("news", ""), NEWS_KEY))
        .await
        .unwrap()
        .into_inner();
    submit_held(a.addr, "news", NEWS_KEY, "r0", 0).await;
    submit_held(b.addr, "news", NEWS_KEY, "r1", 1).await;
    let queue = held(b.addr);
    let started = Instant::now();
    // Decided on replica b; the watcher is on replica a, which polls Redis.
    resolve(b.addr, "approve", &queue[&("news".to_string(), "r0".to_string())], "");
    let first = next_event(&mut stream).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?} (poll interval 0.5 s)",
        started.elapsed()
    );
    resolve(b.addr, "reject", &queue[&("news".to_string(), "r1".to_string())], "");
    let second = next_event(&mut stream).await;
    assert_eq!([first.comment_id.as_str(), second.comment_id.as_str()], ["r0", "r1"]);
    assert_eq!(second.action(), Action::Reject);

    eventually(Duration::from_secs(10), "both webhooks", || hooks.unique().len() >= 2).await;
    // Let both replicas' workers run a while: the lease keeps the other from resending.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(hooks.accepted().len(), 2, "{:?}", hooks.accepted());
    assert_eq!(hooks.requests(), 3, "one failure, then each event once");
    let ids: BTreeSet<String> = hooks.unique().into_keys().collect();
    assert_eq!(ids, BTreeSet::from([first.event_id.clone(), second.event_id.clone()]));

    // Resuming on the other replica from the first cursor gives the second event.
    let mut resumed = connect(b.addr)
        .await
        .watch_decisions(with_key(watch("news", &first.cursor), NEWS_KEY))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_event(&mut resumed).await, second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_with_unavailable_when_the_server_shuts_down_without_holding_up_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start("[server]\nshutdown_grace_seconds = 30\n", dir.path()).await;
    let mut stream = server
        .client()
        .await
        .watch_decisions(watch("default", ""))
        .await
        .unwrap()
        .into_inner();
    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    let end = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("the stream ends at once, not after the 30 s grace period");
    let status = end.expect_err("ended with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("cursor"), "says how to resume: {status:?}");
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("the server drained")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_with_unavailable_when_redis_goes_away_instead_of_hanging() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[redis]\nurl = \"{}\"\ntimeout_ms = 100\n", redis.url());
    let server = TestServer::start(&config, dir.path()).await;
    let mut stream = server
        .client()
        .await
        .watch_decisions(watch("default", ""))
        .await
        .unwrap()
        .into_inner();
    redis.kill();
    // The next poll (0.5 s) fails within the Redis timeout and ends the stream.
    let end = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .expect("the stream ends, it does not hang");
    let status = end.expect_err("ended with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("cursor"), "says how to resume: {status:?}");
}
