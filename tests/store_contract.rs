//! One contract, every backend: each test below runs against the embedded store (a file
//! in a temporary directory), against Redis (a private redis-server) and against a
//! Redis Cluster (three private masters), through the `Store` trait the pipeline uses. A backend is correct when it passes all of them.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::redis_server::{RedisCluster, RedisServer};
use modgate::policy::{Action, Decision, ReasonCode, Signal};
use modgate::store::embedded::Retention;
use modgate::store::{
    Admission, AdmissionRequest, AuditEntry, DeadLetter, DecisionEvent, DecisionRecord, EmbeddedStore, EventCursor,
    Recorded, RedisLink, RedisStore, Reopened, Resolution, Resolved, ScoresRecord, SeenBefore, Sighting, Store,
    StoreError,
};

const RETENTION: Duration = Duration::from_secs(3600);

/// A store and whatever must live as long as it (its directory, its redis-server).
struct Backend {
    store: Arc<dyn Store>,
    _guard: Box<dyn std::any::Any>,
}

async fn embedded() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention {
        by_site: HashMap::new(),
        default: RETENTION,
    };
    let store = EmbeddedStore::open(dir.path(), retention, 0).unwrap();
    Backend {
        store: Arc::new(store),
        _guard: Box::new(dir),
    }
}

async fn redis_store(server: &RedisServer, timeout: Duration) -> RedisStore {
    let link = RedisLink::connect(&server.url(), timeout, Duration::from_secs(2))
        .await
        .unwrap();
    RedisStore::new(Arc::new(link), HashMap::new(), RETENTION)
}

async fn redis_cluster() -> Backend {
    let cluster = RedisCluster::start();
    let link = cluster.link().await;
    Backend {
        store: Arc::new(RedisStore::new(Arc::new(link), HashMap::new(), RETENTION)),
        _guard: Box::new(cluster),
    }
}

async fn single_redis() -> Backend {
    let server = RedisServer::start();
    let store = redis_store(&server, Duration::from_millis(200)).await;
    Backend {
        store: Arc::new(store),
        _guard: Box::new(server),
    }
}

fn record(site: &str, comment: &str, action: Action, at: u64, author: Option<&str>) -> DecisionRecord {
    DecisionRecord {
        moderation_id: format!("m-{site}-{comment}"),
        site_id: site.into(),
        comment_id: comment.into(),
        text_fingerprint: 1,
        content_fingerprint: 42,
        decision: Decision {
            action,
            reasons: vec![Signal::new(ReasonCode::Spam, action, "spam score 0.97 >= 0.90")],
            shadow_action: None,
            retry_after: Some(Duration::from_millis(1500)),
        },
        scores: ScoresRecord {
            spam: 0.97,
            abuse: 0.01,
            hate: 0.002,
        },
        model_version: "vi-en-test".into(),
        degraded: false,
        decided_at_ms: at,
        author_key: author.map(str::to_string),
        ip_hash: Some("iphash".into()),
        thread_id: "bai-viet-1".into(),
        thread_url: "https://example.vn/bai-viet-1".into(),
        text: Some(format!("nội dung {comment}")),
        final_action: None,
        resolution: None,
        reopenings: Vec::new(),
    }
}

async fn a_decision_is_recorded_once_and_read_back_whole(store: &dyn Store) {
    let first = record("s", "c1", Action::Hold, 10, Some("a"));
    assert_eq!(store.get("s", "c1").await.unwrap(), None);
    assert_eq!(store.record(first.clone()).await.unwrap(), Recorded::New);
    assert_eq!(store.get("s", "c1").await.unwrap(), Some(first.clone()));
    // A resubmission (or a racing retry) gets the first decision back, unchanged.
    let second = record("s", "c1", Action::Approve, 20, Some("a"));
    assert_eq!(
        store.record(second).await.unwrap(),
        Recorded::Existing(Box::new(first.clone()))
    );
    assert_eq!(store.get("s", "c1").await.unwrap(), Some(first));
    // The same comment id on another site is another comment.
    assert_eq!(store.get("t", "c1").await.unwrap(), None);
}

async fn the_held_queue_lists_held_comments_of_one_site_oldest_first(store: &dyn Store) {
    store.record(record("s", "late", Action::Hold, 30, None)).await.unwrap();
    store
        .record(record("s", "early", Action::Hold, 10, None))
        .await
        .unwrap();
    store
        .record(record("s", "fine", Action::Approve, 20, None))
        .await
        .unwrap();
    store
        .record(record("s", "bad", Action::Reject, 25, None))
        .await
        .unwrap();
    store
        .record(record("t", "elsewhere", Action::Hold, 5, None))
        .await
        .unwrap();
    let held: Vec<String> = store
        .held("s")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.comment_id)
        .collect();
    assert_eq!(held, ["early", "late"]);
    assert!(store.held("nobody").await.unwrap().is_empty());
}

async fn approvals_are_counted_per_author_and_site(store: &dyn Store) {
    store
        .record(record("s", "1", Action::Approve, 1, Some("x")))
        .await
        .unwrap();
    store
        .record(record("s", "2", Action::Approve, 2, Some("x")))
        .await
        .unwrap();
    store
        .record(record("s", "3", Action::Hold, 3, Some("x")))
        .await
        .unwrap();
    store.record(record("s", "4", Action::Approve, 4, None)).await.unwrap();
    store
        .record(record("t", "5", Action::Approve, 5, Some("x")))
        .await
        .unwrap();
    // A resubmission counts nothing twice.
    store
        .record(record("s", "1", Action::Approve, 6, Some("x")))
        .await
        .unwrap();
    assert_eq!(store.approved_count("s", "x").await.unwrap(), 2);
    assert_eq!(store.approved_count("t", "x").await.unwrap(), 1);
    assert_eq!(store.approved_count("s", "y").await.unwrap(), 0);
}

async fn sightings_count_by_author_and_site_within_the_window(store: &dyn Store) {
    let window = Duration::from_secs(60);
    let seen = |author: &'static str, at: u64| store.seen_before("s", 7, Some(author), window, at);
    assert_eq!(
        seen("x", 1_000).await.unwrap(),
        SeenBefore {
            by_author: 0,
            site_wide: 0
        }
    );
    seen("y", 2_000).await.unwrap();
    assert_eq!(
        seen("x", 3_000).await.unwrap(),
        SeenBefore {
            by_author: 1,
            site_wide: 2
        }
    );
    // At 62 s the sighting at 1 s has left the window; x's one at 3 s has not.
    assert_eq!(
        seen("y", 62_000).await.unwrap(),
        SeenBefore {
            by_author: 1,
            site_wide: 2
        }
    );
    assert_eq!(
        seen("x", 200_000).await.unwrap(),
        SeenBefore {
            by_author: 0,
            site_wide: 0
        },
        "all earlier sightings expired"
    );
    let other_text = store.seen_before("s", 8, Some("x"), window, 200_000).await.unwrap();
    assert_eq!(other_text.site_wide, 0);
    let other_site = store.seen_before("t", 7, Some("x"), window, 200_000).await.unwrap();
    assert_eq!(other_site.site_wide, 0);
    let anonymous = store.seen_before("s", 7, None, window, 200_001).await.unwrap();
    assert_eq!(
        anonymous,
        SeenBefore {
            by_author: 0,
            site_wide: 1
        }
    );
}

async fn a_replaced_decision_leaves_the_queue_and_counts(store: &dyn Store) {
    store
        .record(record("s", "asked", Action::Hold, 10, Some("x")))
        .await
        .unwrap();
    assert_eq!(store.held("s").await.unwrap().len(), 1);
    let mut decided = record("s", "asked", Action::Approve, 20, Some("x"));
    decided.moderation_id = "m-second".into();
    store.replace(decided.clone()).await.unwrap();
    assert_eq!(store.get("s", "asked").await.unwrap(), Some(decided));
    assert!(store.held("s").await.unwrap().is_empty());
    assert_eq!(store.approved_count("s", "x").await.unwrap(), 1);
}

fn by(moderator: &str, action: Action) -> Resolution {
    Resolution {
        action,
        moderator: moderator.into(),
        note: format!("{moderator} decided"),
        at_ms: 99,
        event: None,
    }
}

async fn a_held_comment_is_resolved_once_and_leaves_the_queue(store: &dyn Store) {
    store
        .record(record("s", "h1", Action::Hold, 10, Some("x")))
        .await
        .unwrap();
    store
        .record(record("s", "h2", Action::Hold, 11, Some("x")))
        .await
        .unwrap();
    store
        .record(record("s", "ok", Action::Approve, 12, None))
        .await
        .unwrap();

    let done = store.resolve("s", "h1", by("lan", Action::Approve)).await.unwrap();
    let Resolved::Done(resolved) = done else {
        panic!("{done:?}")
    };
    assert_eq!(resolved.final_action, Some(Action::Approve));
    assert_eq!(resolved.resolution.as_ref().unwrap().moderator, "lan");
    assert_eq!(store.get("s", "h1").await.unwrap().as_ref(), Some(resolved.as_ref()));
    let held: Vec<String> = store
        .held("s")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.comment_id)
        .collect();
    assert_eq!(held, ["h2"]);
    assert_eq!(
        store.approved_count("s", "x").await.unwrap(),
        1,
        "an approval counts for the author"
    );

    // The second moderator sees the first one's decision, not an overwrite.
    let late = store.resolve("s", "h1", by("minh", Action::Reject)).await.unwrap();
    let Resolved::NotHeld(winner) = late else {
        panic!("{late:?}")
    };
    assert_eq!(winner.resolution.unwrap().moderator, "lan");
    assert!(matches!(
        store.resolve("s", "ok", by("lan", Action::Reject)).await.unwrap(),
        Resolved::NotHeld(_)
    ));
    assert_eq!(
        store.resolve("s", "nope", by("lan", Action::Reject)).await.unwrap(),
        Resolved::NotFound
    );
}

async fn racing_moderators_resolve_a_comment_exactly_once(store: &dyn Store) {
    for n in 0..20 {
        let id = format!("race{n}");
        store.record(record("s", &id, Action::Hold, n, None)).await.unwrap();
        let (a, b) = tokio::join!(
            store.resolve("s", &id, by("lan", Action::Approve)),
            store.resolve("s", &id, by("minh", Action::Reject)),
        );
        let wins = [a.unwrap(), b.unwrap()]
            .into_iter()
            .filter(|r| matches!(r, Resolved::Done(_)))
            .count();
        assert_eq!(wins, 1, "{id}");
    }
    assert!(store.held("s").await.unwrap().is_empty());
    let events = store.decision_events("s", None, 100).await.unwrap();
    let mut comments: Vec<String> = events.iter().map(|e| e.comment_id.clone()).collect();
    comments.sort();
    comments.dedup();
    assert_eq!(
        (events.len(), comments.len()),
        (20, 20),
        "one event per comment: the winner's"
    );
}

async fn resolutions_append_decision_events_in_order(store: &dyn Store) {
    for (site, comment, at) in [("s", "h1", 10), ("s", "h2", 11), ("s", "h3", 12), ("t", "x", 13)] {
        store
            .record(record(site, comment, Action::Hold, at, None))
            .await
            .unwrap();
    }
    assert!(store.decision_events("s", None, 10).await.unwrap().is_empty());
    store.resolve("s", "h1", by("lan", Action::Approve)).await.unwrap();
    store.resolve("t", "x", by("lan", Action::Approve)).await.unwrap();
    store.resolve("s", "h2", by("minh", Action::Reject)).await.unwrap();
    // Refused and unknown resolutions announce nothing.
    store.resolve("s", "h1", by("minh", Action::Reject)).await.unwrap();
    store.resolve("s", "nope", by("lan", Action::Reject)).await.unwrap();

    let events = store.decision_events("s", None, 10).await.unwrap();
    let summary: Vec<(&str, Action, &str)> = events
        .iter()
        .map(|e| (e.comment_id.as_str(), e.action, e.moderator.as_str()))
        .collect();
    assert_eq!(
        summary,
        [("h1", Action::Approve, "lan"), ("h2", Action::Reject, "minh")],
        "in the order they were stored, the late attempt on h1 absent"
    );
    let first = &events[0];
    assert_eq!(
        (
            first.site_id.as_str(),
            first.moderation_id.as_str(),
            first.note.as_str(),
            first.decided_at_ms
        ),
        ("s", "m-s-h1", "lan decided", 99)
    );
    assert!(events[0].cursor < events[1].cursor);
    assert_eq!(events[0].event_id.len(), 32);
    assert_ne!(events[0].event_id, events[1].event_id);
    // Reading on from a cursor gives what came after it, and nothing twice.
    let rest = store.decision_events("s", Some(first.cursor), 10).await.unwrap();
    assert_eq!(rest, events[1..]);
    assert!(
        store
            .decision_events("s", Some(events[1].cursor), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.decision_events("s", None, 1).await.unwrap(), events[..1]);
    // A cursor string round-trips through the wire.
    let parsed: EventCursor = first.cursor.to_string().parse().unwrap();
    assert_eq!(store.decision_events("s", Some(parsed), 10).await.unwrap(), events[1..]);
    let other: Vec<String> = store
        .decision_events("t", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.comment_id)
        .collect();
    assert_eq!(other, ["x"], "each site has its own log");

    // A resolution stored later comes after every event read so far.
    store.resolve("s", "h3", by("lan", Action::Approve)).await.unwrap();
    let newer = store.decision_events("s", Some(events[1].cursor), 10).await.unwrap();
    assert_eq!(newer.len(), 1);
    assert_eq!(newer[0].comment_id, "h3");
}

/// Resolves `comment` as `moderator` and returns the comment as found by its moderation
/// id afterwards (the way `Review.Undo` finds it once it left the queue).
async fn resolved_and_found(store: &dyn Store, comment: &str, moderator: &str, action: Action) -> DecisionRecord {
    let done = store.resolve("s", comment, by(moderator, action)).await.unwrap();
    assert!(matches!(done, Resolved::Done(_)), "{done:?}");
    store
        .find_decided("s", &format!("m-s-{comment}"), 0, 100)
        .await
        .unwrap()
        .expect("found by moderation id through the decision events")
}

async fn an_undo_puts_the_comment_back_announces_it_and_takes_back_the_approval(store: &dyn Store) {
    store
        .record(record("s", "h", Action::Hold, 10, Some("x")))
        .await
        .unwrap();
    store
        .record(record("s", "other", Action::Hold, 11, Some("x")))
        .await
        .unwrap();
    let found = resolved_and_found(store, "h", "lan", Action::Approve).await;
    assert_eq!(found.final_action, Some(Action::Approve));
    assert_eq!(store.approved_count("s", "x").await.unwrap(), 1);
    assert_eq!(store.find_decided("s", "m-s-nope", 0, 100).await.unwrap(), None);
    assert_eq!(
        store.find_decided("t", "m-s-h", 0, 100).await.unwrap(),
        None,
        "another site's log does not name it"
    );

    let reopened = found.reopened("lan", "nhầm tay", 200).unwrap();
    let outcome = store.reopen(&found, reopened).await.unwrap();
    let Reopened::Done(now) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(now.is_held());
    assert_eq!(now.effective_action(), Action::Hold);
    assert_eq!(now.reopenings.len(), 1);
    assert_eq!(now.reopenings[0].undone.action, Action::Approve);
    assert_eq!(now.reopenings[0].undone.moderator, "lan");
    assert_eq!(store.get("s", "h").await.unwrap().as_ref(), Some(now.as_ref()));
    let held: Vec<String> = store
        .held("s")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.comment_id)
        .collect();
    assert_eq!(held, ["h", "other"], "back in the queue at its first hold time");
    assert_eq!(
        store.approved_count("s", "x").await.unwrap(),
        0,
        "the undone approval no longer counts toward the author's trust"
    );

    // The CMS learns it: APPROVE, then HOLD (back in moderation).
    let events = store.decision_events("s", None, 10).await.unwrap();
    let summary: Vec<(&str, Action, &str, &str)> = events
        .iter()
        .map(|e| (e.comment_id.as_str(), e.action, e.moderator.as_str(), e.note.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("h", Action::Approve, "lan", "lan decided"),
            ("h", Action::Hold, "lan", "nhầm tay")
        ]
    );
    assert_eq!(events[1].decided_at_ms, 200);
    assert_eq!(events[1].moderation_id, "m-s-h");
    assert!(events[0].cursor < events[1].cursor);
    assert_ne!(events[0].event_id, events[1].event_id);

    // The same undo again, from the record as it was: refused, nothing written.
    let stale = store
        .reopen(&found, found.reopened("lan", "again", 300).unwrap())
        .await
        .unwrap();
    assert!(matches!(&stale, Reopened::Changed(r) if r.is_held()), "{stale:?}");
    assert_eq!(store.decision_events("s", None, 10).await.unwrap().len(), 2);

    // Resolved again, the history is kept and the newest event comes last.
    let again = resolved_and_found(store, "h", "minh", Action::Reject).await;
    assert_eq!(again.reopenings.len(), 1);
    assert_eq!(again.final_action, Some(Action::Reject));
    let newest: Vec<Action> = store
        .recent_decision_events("s", 0, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        newest,
        [Action::Reject, Action::Hold],
        "newest first, at most the limit"
    );
    // An undo started before that resolution loses to it.
    let late = store
        .reopen(&found, found.reopened("lan", "late", 400).unwrap())
        .await
        .unwrap();
    assert!(
        matches!(&late, Reopened::Changed(r) if r.final_action == Some(Action::Reject)),
        "{late:?}"
    );
    assert_eq!(store.approved_count("s", "x").await.unwrap(), 0);
    // Undoing a rejection takes no approval back.
    store
        .record(record("s", "r", Action::Hold, 12, Some("y")))
        .await
        .unwrap();
    store
        .record(record("s", "a", Action::Approve, 13, Some("y")))
        .await
        .unwrap();
    let rejected = resolved_and_found(store, "r", "lan", Action::Reject).await;
    let outcome = store
        .reopen(&rejected, rejected.reopened("lan", "", 500).unwrap())
        .await
        .unwrap();
    assert!(matches!(outcome, Reopened::Done(_)));
    assert_eq!(store.approved_count("s", "y").await.unwrap(), 1);
    assert_eq!(
        store
            .reopen(
                &record("s", "gone", Action::Hold, 1, None),
                record("s", "gone", Action::Hold, 1, None)
            )
            .await
            .unwrap(),
        Reopened::NotFound
    );
}

async fn racing_undos_reopen_a_comment_exactly_once(store: &dyn Store) {
    for n in 0..10 {
        let id = format!("race{n}");
        store
            .record(record("s", &id, Action::Hold, n, Some("x")))
            .await
            .unwrap();
        let found = resolved_and_found(store, &id, "lan", Action::Approve).await;
        let (a, b) = tokio::join!(
            store.reopen(&found, found.reopened("lan", "a", 200).unwrap()),
            store.reopen(&found, found.reopened("lan", "b", 201).unwrap()),
        );
        let outcomes = [a.unwrap(), b.unwrap()];
        let wins = outcomes.iter().filter(|r| matches!(r, Reopened::Done(_))).count();
        let losses = outcomes.iter().filter(|r| matches!(r, Reopened::Changed(_))).count();
        assert_eq!((wins, losses), (1, 1), "{id}: {outcomes:?}");
    }
    assert_eq!(store.held("s").await.unwrap().len(), 10);
    assert_eq!(store.approved_count("s", "x").await.unwrap(), 0, "taken back once each");
    let holds = store
        .decision_events("s", None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == Action::Hold)
        .count();
    assert_eq!(holds, 10, "one HOLD event per comment: the winner's");
}

fn dead(site: &str, event_id: &str, failed_at_ms: u64) -> DeadLetter {
    DeadLetter {
        event: DecisionEvent {
            cursor: EventCursor {
                ms: failed_at_ms,
                seq: 0,
            },
            event_id: event_id.into(),
            site_id: site.into(),
            comment_id: format!("c-{event_id}"),
            moderation_id: format!("m-{event_id}"),
            action: Action::Reject,
            moderator: "lan".into(),
            note: "quảng cáo".into(),
            decided_at_ms: failed_at_ms - 1,
        },
        attempts: 8,
        last_error: "HTTP 500".into(),
        failed_at_ms,
        requeued: false,
    }
}

async fn webhook_positions_and_dead_letters_are_kept_per_site(store: &dyn Store) {
    assert_eq!(store.webhook_position("s").await.unwrap(), None);
    let at = |ms| EventCursor { ms, seq: 2 };
    store.set_webhook_position("s", at(5)).await.unwrap();
    store.set_webhook_position("s", at(7)).await.unwrap();
    store.set_webhook_position("t", at(1)).await.unwrap();
    assert_eq!(store.webhook_position("s").await.unwrap(), Some(at(7)));
    assert_eq!(store.webhook_position("t").await.unwrap(), Some(at(1)));

    store.put_dead_letter(dead("s", "e2", 20)).await.unwrap();
    store.put_dead_letter(dead("s", "e1", 10)).await.unwrap();
    store.put_dead_letter(dead("t", "e3", 30)).await.unwrap();
    let ids = |letters: Vec<DeadLetter>| letters.into_iter().map(|l| l.event.event_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.dead_letters("s").await.unwrap()),
        ["e1", "e2"],
        "oldest failure first"
    );
    let requeued = DeadLetter {
        requeued: true,
        ..dead("s", "e1", 10)
    };
    store.put_dead_letter(requeued.clone()).await.unwrap();
    let letters = store.dead_letters("s").await.unwrap();
    assert_eq!(letters.len(), 2, "a put replaces the letter with the same event id");
    assert_eq!(letters[0], requeued);
    assert!(store.remove_dead_letter("s", "e1").await.unwrap());
    assert!(!store.remove_dead_letter("s", "e1").await.unwrap());
    assert!(
        !store.remove_dead_letter("s", "e3").await.unwrap(),
        "e3 is another site's"
    );
    assert_eq!(ids(store.dead_letters("s").await.unwrap()), ["e2"]);
    assert_eq!(ids(store.dead_letters("t").await.unwrap()), ["e3"]);
    assert!(store.dead_letters("u").await.unwrap().is_empty());
}

fn entry(site: &str, comment: &str, moderator: &str, at_ms: u64) -> AuditEntry {
    AuditEntry {
        at_ms,
        moderator: moderator.into(),
        site_id: site.into(),
        comment_id: comment.into(),
        moderation_id: format!("m-{comment}"),
        requested: Action::Approve,
        before: Action::Hold,
        after: Action::Approve,
        refused: String::new(),
        note: "ổn".into(),
    }
}

async fn the_audit_log_lists_a_sites_actions_newest_first(store: &dyn Store) {
    store.audit_append(entry("s", "a", "lan", 1)).await.unwrap();
    store.audit_append(entry("t", "b", "lan", 2)).await.unwrap();
    let mut lost = entry("s", "a", "minh", 3);
    lost.refused = "already resolved by lan (approve)".into();
    store.audit_append(lost.clone()).await.unwrap();
    store.audit_append(entry("s", "c", "lan", 4)).await.unwrap();
    let log = store.audit_log("s", 10).await.unwrap();
    let order: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.comment_id.as_str(), e.moderator.as_str()))
        .collect();
    assert_eq!(order, [("c", "lan"), ("a", "minh"), ("a", "lan")]);
    assert_eq!(log[1], lost);
    assert_eq!(store.audit_log("s", 1).await.unwrap().len(), 1);
    assert!(store.audit_log("u", 10).await.unwrap().is_empty());
}

fn admission<'a>(comment: &'a str, fingerprint: u64, author: Option<&'a str>, at: u64) -> AdmissionRequest<'a> {
    AdmissionRequest {
        site_id: "s",
        comment_id: comment,
        sighting: Some(Sighting {
            content_fingerprint: fingerprint,
            author_key: author,
            window: Duration::from_secs(60),
            now_ms: at,
        }),
        approvals_of: author,
        rate_buckets: &[],
    }
}

async fn admission_counts_new_comments_and_nothing_for_decided_ones(store: &dyn Store) {
    store
        .record(record("s", "old", Action::Approve, 1, Some("x")))
        .await
        .unwrap();
    // A decided comment comes back whole, and its resubmission is not a sighting.
    let again = store.admit(admission("old", 5, Some("x"), 1_000)).await.unwrap();
    assert_eq!(
        again,
        Admission::Existing(Box::new(record("s", "old", Action::Approve, 1, Some("x"))))
    );
    let first = store.admit(admission("new1", 5, Some("x"), 2_000)).await.unwrap();
    assert_eq!(
        first,
        Admission::New {
            seen: Some(SeenBefore {
                by_author: 0,
                site_wide: 0
            }),
            approved: Some(1),
            limited: None
        }
    );
    let second = store.admit(admission("new2", 5, Some("y"), 3_000)).await.unwrap();
    assert_eq!(
        second,
        Admission::New {
            seen: Some(SeenBefore {
                by_author: 0,
                site_wide: 1
            }),
            approved: Some(0),
            limited: None
        }
    );
    let nothing_asked = AdmissionRequest {
        sighting: None,
        approvals_of: None,
        ..admission("new3", 5, None, 4_000)
    };
    assert_eq!(
        store.admit(nothing_asked).await.unwrap(),
        Admission::New {
            seen: None,
            approved: None,
            limited: None
        }
    );
}

macro_rules! contract_for {
    ($backend:ident; $($test:ident),+) => {
        mod $backend {
            $(
                #[tokio::test]
                async fn $test() {
                    let backend = super::$backend().await;
                    super::$test(&*backend.store).await;
                }
            )+
        }
    };
}

macro_rules! contract {
    ($($test:ident),+ $(,)?) => {
        contract_for!(embedded; $($test),+);
        contract_for!(single_redis; $($test),+);
        contract_for!(redis_cluster; $($test),+);
    };
}

contract!(
    a_decision_is_recorded_once_and_read_back_whole,
    the_held_queue_lists_held_comments_of_one_site_oldest_first,
    approvals_are_counted_per_author_and_site,
    sightings_count_by_author_and_site_within_the_window,
    admission_counts_new_comments_and_nothing_for_decided_ones,
    a_replaced_decision_leaves_the_queue_and_counts,
    a_held_comment_is_resolved_once_and_leaves_the_queue,
    racing_moderators_resolve_a_comment_exactly_once,
    the_audit_log_lists_a_sites_actions_newest_first,
    resolutions_append_decision_events_in_order,
    webhook_positions_and_dead_letters_are_kept_per_site,
    an_undo_puts_the_comment_back_announces_it_and_takes_back_the_approval,
    racing_undos_reopen_a_comment_exactly_once,
);

fn embedded_at(dir: &std::path::Path, now_ms: u64) -> EmbeddedStore {
    let retention = Retention {
        by_site: HashMap::new(),
        default: RETENTION,
    };
    EmbeddedStore::open(dir, retention, now_ms).unwrap()
}

#[tokio::test]
async fn embedded_decision_events_and_webhook_state_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = embedded_at(dir.path(), 0);
    for n in 0..3 {
        store
            .record(record("s", &format!("h{n}"), Action::Hold, n, None))
            .await
            .unwrap();
    }
    store.resolve("s", "h0", by("lan", Action::Approve)).await.unwrap();
    store.resolve("s", "h1", by("lan", Action::Reject)).await.unwrap();
    let before = store.decision_events("s", None, 10).await.unwrap();
    store.set_webhook_position("s", before[0].cursor).await.unwrap();
    store.put_dead_letter(dead("s", "e1", 10)).await.unwrap();
    store.put_dead_letter(dead("s", "e2", 20)).await.unwrap();
    store.remove_dead_letter("s", "e1").await.unwrap();
    // Compaction rewrites the decision file: the events must come through it.
    store.compact(1_000, Duration::from_secs(60)).unwrap();
    drop(store);

    let reopened = embedded_at(dir.path(), 2_000);
    assert_eq!(reopened.decision_events("s", None, 10).await.unwrap(), before);
    assert_eq!(reopened.webhook_position("s").await.unwrap(), Some(before[0].cursor));
    let letters = reopened.dead_letters("s").await.unwrap();
    assert_eq!(letters, [dead("s", "e2", 20)], "the removal was kept too");
    // Cursors keep growing after the restart, even for a resolution stamped earlier.
    let mut early = by("minh", Action::Approve);
    early.at_ms = 1;
    reopened.resolve("s", "h2", early).await.unwrap();
    let after = reopened.decision_events("s", Some(before[1].cursor), 10).await.unwrap();
    assert_eq!(after.len(), 1);
    assert!(after[0].cursor > before[1].cursor);
    drop(reopened);

    // A torn last line of the dead-letter file (power lost mid-write) is dropped.
    let path = dir.path().join("dead-letters.jsonl");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"put\": {\"event\"");
    std::fs::write(&path, text).unwrap();
    let again = embedded_at(dir.path(), 3_000);
    assert_eq!(again.dead_letters("s").await.unwrap().len(), 1);
    assert_eq!(again.decision_events("s", None, 10).await.unwrap().len(), 3);
}

async fn lease_holders_take_turns(store: &dyn Store) {
    // Margins of 400 ms around every expiry, so a loaded machine does not flip the answers.
    let ttl = Duration::from_millis(1000);
    assert!(store.webhook_lease("s", "replica-a", ttl).await.unwrap());
    assert!(!store.webhook_lease("s", "replica-b", ttl).await.unwrap(), "a holds it");
    assert!(store.webhook_lease("t", "replica-b", ttl).await.unwrap(), "per site");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(store.webhook_lease("s", "replica-a", ttl).await.unwrap(), "renewed");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !store.webhook_lease("s", "replica-b", ttl).await.unwrap(),
        "the renewal moved the expiry"
    );
    tokio::time::sleep(Duration::from_millis(1400)).await;
    assert!(
        store.webhook_lease("s", "replica-b", ttl).await.unwrap(),
        "a holder that stops renewing loses the lease"
    );
    assert!(!store.webhook_lease("s", "replica-a", ttl).await.unwrap());
}

#[tokio::test]
async fn redis_replicas_take_turns_holding_a_sites_webhook_lease() {
    lease_holders_take_turns(&*single_redis().await.store).await;
}

#[tokio::test]
async fn redis_cluster_replicas_take_turns_holding_a_sites_webhook_lease() {
    lease_holders_take_turns(&*redis_cluster().await.store).await;
}

#[tokio::test]
async fn redis_decision_events_are_a_capped_stream_under_the_sites_hash_tag() {
    let server = RedisServer::start();
    let store = redis_store(&server, Duration::from_millis(200)).await;
    store.record(record("s", "h", Action::Hold, 1, None)).await.unwrap();
    store.resolve("s", "h", by("lan", Action::Approve)).await.unwrap();
    let events = store.decision_events("s", None, 10).await.unwrap();
    let mut conn = server.connection().await;
    let ids: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("modgate:{s}:decision-events")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].0, events[0].cursor.to_string(), "the stream id is the cursor");
}

#[tokio::test]
async fn redis_admission_counts_rate_limits_in_the_same_round_trip() {
    let server = RedisServer::start();
    let store = redis_store(&server, Duration::from_millis(200)).await;
    let config = modgate::config::Config::from_file(
        toml::from_str("[[sites.s.rate_limits]]\nkey = \"ip\"\nrate = \"1/hour\"\nburst = 2\n").unwrap(),
        &modgate::config::Overrides::default(),
    )
    .unwrap();
    let limiter = modgate::limits::RedisLimiter::new(config.sites.values());
    let reader = modgate::limits::LimitSubjects {
        ip: Some("203.0.113.5".parse().unwrap()),
        ..Default::default()
    };
    let buckets = limiter.buckets("s", &reader);
    assert_eq!(buckets.len(), 1);
    let mut verdicts = Vec::new();
    for n in 0..3 {
        let id = format!("c{n}");
        let request = AdmissionRequest {
            rate_buckets: &buckets,
            ..admission(&id, 9, None, 1_000 + n)
        };
        match store.admit(request).await.unwrap() {
            Admission::New { limited, seen, .. } => {
                assert_eq!(seen.unwrap().site_wide, n as u32, "sightings counted alongside");
                verdicts.push(limited.map(|l| l.rule));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(verdicts[..2], [None, None]);
    assert!(verdicts[2].as_deref().unwrap().starts_with("ip limit 1/hour"));
}

#[tokio::test]
async fn redis_going_away_is_an_unavailable_error_within_the_timeout() {
    let server = RedisServer::start();
    let timeout = Duration::from_millis(100);
    let store = redis_store(&server, timeout).await;
    store.record(record("s", "c", Action::Hold, 1, None)).await.unwrap();
    drop(server);
    for _ in 0..3 {
        let started = Instant::now();
        let error = store.get("s", "c").await.unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        assert!(
            started.elapsed() < timeout + Duration::from_millis(50),
            "{:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_redis_that_stops_answering_is_unavailable_within_the_timeout() {
    let server = RedisServer::start();
    let timeout = Duration::from_millis(100);
    let store = redis_store(&server, timeout).await;
    store.record(record("s", "c", Action::Hold, 1, None)).await.unwrap();
    server.freeze();
    for _ in 0..3 {
        let started = Instant::now();
        let error = store.get("s", "c").await.unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        assert!(
            started.elapsed() < timeout + Duration::from_millis(50),
            "{:?}",
            started.elapsed()
        );
    }
    server.thaw();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match store.get("s", "c").await {
            Ok(found) => {
                assert!(found.is_some(), "the held decision is still there");
                break;
            }
            Err(e) if Instant::now() > deadline => panic!("no recovery within 2 s: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

#[tokio::test]
async fn redis_keeps_held_decisions_without_expiry_and_expires_the_rest() {
    let server = RedisServer::start();
    let store = redis_store(&server, Duration::from_millis(200)).await;
    store.record(record("s", "held", Action::Hold, 1, None)).await.unwrap();
    store
        .record(record("s", "done", Action::Approve, 1, Some("x")))
        .await
        .unwrap();
    store
        .seen_before("s", 9, Some("x"), Duration::from_secs(60), 1)
        .await
        .unwrap();
    let mut conn = server.connection().await;
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.unwrap();
    assert_eq!(
        keys.len(),
        6,
        "two decisions, the queue, one counter, two sighting sets: {keys:?}"
    );
    for key in keys {
        let ttl_ms: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
        let lives_forever = key.ends_with(":decision:held") || key.ends_with(":held");
        assert!(key.starts_with("modgate:{s}:"), "one hash tag per site: {key}");
        if lives_forever {
            assert_eq!(ttl_ms, -1, "{key} waits for a moderator");
        } else {
            assert!(ttl_ms > 0, "{key} must expire (PTTL {ttl_ms})");
        }
    }
}

#[tokio::test]
async fn embedded_undo_history_and_its_events_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = embedded_at(dir.path(), 0);
    store
        .record(record("s", "h", Action::Hold, 1, Some("x")))
        .await
        .unwrap();
    let found = resolved_and_found(&store, "h", "lan", Action::Approve).await;
    store
        .reopen(&found, found.reopened("lan", "nhầm", 200).unwrap())
        .await
        .unwrap();
    let before = store.decision_events("s", None, 10).await.unwrap();
    drop(store);

    let reopened = embedded_at(dir.path(), 1_000);
    assert_eq!(reopened.decision_events("s", None, 10).await.unwrap(), before);
    assert_eq!(
        before.iter().map(|e| e.action).collect::<Vec<_>>(),
        [Action::Approve, Action::Hold]
    );
    assert_eq!(reopened.held("s").await.unwrap().len(), 1);
    assert_eq!(reopened.approved_count("s", "x").await.unwrap(), 0);
    // The next event gets a later cursor than the replayed ones.
    reopened.resolve("s", "h", by("lan", Action::Reject)).await.unwrap();
    let after = reopened.decision_events("s", Some(before[1].cursor), 10).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].action, Action::Reject);
}

#[tokio::test]
async fn redis_keeps_a_reopened_decision_without_expiry_in_the_held_queue() {
    let server = RedisServer::start();
    let store = redis_store(&server, Duration::from_millis(200)).await;
    store.record(record("s", "h", Action::Hold, 7, None)).await.unwrap();
    let found = resolved_and_found(&store, "h", "lan", Action::Reject).await;
    let mut conn = server.connection().await;
    let ttl = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        async move {
            redis::cmd("PTTL")
                .arg("modgate:{s}:decision:h")
                .query_async::<i64>(&mut conn)
                .await
                .unwrap()
        }
    };
    assert!(
        ttl(&mut conn).await > 0,
        "a resolved decision expires with the retention"
    );
    store
        .reopen(&found, found.reopened("lan", "", 100).unwrap())
        .await
        .unwrap();
    assert_eq!(ttl(&mut conn).await, -1, "held again: waits for a moderator");
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg("modgate:{s}:held")
        .arg("h")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(score, Some(7.0), "queued at its first hold time");
}
