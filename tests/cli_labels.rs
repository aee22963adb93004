//! `modgate labels export` against a real server: decisions become training rows that
//! the training loader reads.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::time::Duration;

use common::{ServerProcess, comment, connect};
use modgate::api::proto::{Action, ReasonCode};
use modgate::classify::data::read_jsonl;

const LAN: &str = "lan-token-0123456789";

fn modgate(addr: std::net::SocketAddr, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(args)
        .args(["--server", &addr.to_string()])
        .env("MODGATE_TOKEN", LAN)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn ok(output: Output) -> Output {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout {:?}, stderr {:?}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Holds `comment_id` on `site`, checks it was held for `reason`, returns its moderation id.
async fn hold(addr: std::net::SocketAddr, site: &str, comment_id: &str, text: &str, reason: ReasonCode) -> String {
    let mut request = comment(comment_id, text);
    request.site_id = site.into();
    // One reader each, so the default rate limits never count them together.
    let n: u32 = comment_id[1..].parse().unwrap();
    request.client.as_mut().unwrap().ip = format!("192.0.2.{}", 10 + n + if site == "rude" { 100 } else { 0 });
    let response = connect(addr).await.moderate(request).await.unwrap().into_inner();
    assert_eq!(response.action(), Action::Hold, "{comment_id}");
    let codes: Vec<ReasonCode> = response.reasons.iter().map(|r| r.code()).collect();
    assert_eq!(codes, [reason], "{comment_id}: the test's sites hold for one reason");
    response.moderation_id
}

/// The exported file as comment id → label, through the training loader (row ids are
/// "modgate-<site>-<moderation id>").
fn labels_in(path: &std::path::Path, ids: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    read_jsonl(path)
        .unwrap()
        .into_iter()
        .map(|e| {
            let moderation_id = e.id.rsplit('-').next().unwrap();
            let comment = ids
                .iter()
                .find(|(_, m)| *m == moderation_id)
                .expect("a known comment")
                .0;
            (comment.clone(), e.label.as_str().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_export_as_training_rows_with_the_final_state_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("modgate.toml");
    // Thresholds of 0 hold every comment for one head (and 1 for none for the others), so
    // the test knows which question each decision answers.
    std::fs::write(
        &config,
        format!(
            "[[moderators]]\nname = \"lan\"\ntoken = \"{LAN}\"\n\
             [sites.spammy.thresholds]\nspam_hold = 0.0\nspam_reject = 1.0\n\
             abuse_hold = 1.0\nabuse_reject = 1.0\nhate_hold = 1.0\nhate_reject = 1.0\n\
             [sites.rude.thresholds]\nabuse_hold = 0.0\nabuse_reject = 1.0\n\
             spam_hold = 1.0\nspam_reject = 1.0\nhate_hold = 1.0\nhate_reject = 1.0\n"
        ),
    )
    .unwrap();
    let server = ServerProcess::start(&config, &dir.path().join("data"));
    let addr = server.addr;
    let polite = [
        "Bài viết rất hay",
        "Cảm ơn tác giả",
        "Tôi đồng ý với ý kiến này",
        "Thông tin hữu ích",
    ];
    let mut ids = BTreeMap::new();
    for (n, text) in polite.iter().take(3).enumerate() {
        let id = format!("s{n}");
        ids.insert(id.clone(), hold(addr, "spammy", &id, text, ReasonCode::Spam).await);
    }
    for (n, text) in polite.iter().take(3).enumerate() {
        let id = format!("r{n}");
        ids.insert(id.clone(), hold(addr, "rude", &id, text, ReasonCode::Abuse).await);
    }
    ok(modgate(addr, &["queue", "approve", &ids["s0"], &ids["s2"], &ids["r1"]]));
    ok(modgate(addr, &["queue", "reject", &ids["s1"], &ids["r0"]]));
    // Undone: only the final state counts, and s2 is held again.
    ok(modgate(addr, &["queue", "undo", &ids["s2"]]));

    // Later decisions, for --since.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let cut = modgate::pipeline::rfc3339_millis(modgate::pipeline::now_ms());
    tokio::time::sleep(Duration::from_millis(50)).await;
    ok(modgate(addr, &["queue", "reject", &ids["r2"]]));

    let all = dir.path().join("labels.jsonl");
    let export = ok(modgate(addr, &["labels", "export", "--out", all.to_str().unwrap()]));
    let stderr = String::from_utf8_lossy(&export.stderr);
    assert!(
        stderr.contains("wrote 5 labelled comments")
            && stderr.contains("skipped 1 (0 with their text past retention, 1 undone or decided again)"),
        "{stderr}"
    );
    let expected: BTreeMap<String, String> = [
        ("s0", "ham"),
        ("s1", "spam"),
        ("r0", "toxic"),
        ("r1", "clean"),
        ("r2", "toxic"),
    ]
    .into_iter()
    .map(|(c, l)| (c.to_string(), l.to_string()))
    .collect();
    assert_eq!(labels_in(&all, &ids), expected);
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&all)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let first = rows.iter().find(|r| r["meta"]["comment_id"] == "s0").unwrap();
    assert_eq!(first["text"], polite[0], "the comment as written");
    assert_eq!(first["source"], "modgate-spammy");
    assert_eq!(first["orig_label"], "APPROVE");
    assert_eq!(first["meta"]["held_for"][0], "SPAM");
    assert_eq!(first["meta"]["moderator"], "lan");

    // --since: an RFC 3339 time or a duration; --site; stdout without --out.
    let recent = dir.path().join("recent.jsonl");
    ok(modgate(
        addr,
        &["labels", "export", "--since", &cut, "--out", recent.to_str().unwrap()],
    ));
    assert_eq!(labels_in(&recent, &ids).into_keys().collect::<Vec<_>>(), ["r2"]);
    let last_hour = ok(modgate(addr, &["labels", "export", "--since", "1h", "--site", "rude"]));
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&last_hour.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rude: Vec<&str> = rows.iter().map(|r| r["meta"]["comment_id"].as_str().unwrap()).collect();
    assert_eq!(rude, ["r1", "r0", "r2"], "in decision order");

    // Bad input: a malformed --since is a usage error (2); an unknown site names the field.
    let bad = modgate(addr, &["labels", "export", "--since", "last week"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"), "{bad:?}");
    let unknown = modgate(addr, &["labels", "export", "--site", "nowhere"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("site_id"),
        "{unknown:?}"
    );
}
