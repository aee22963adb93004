//! `modgate queue` against a real server: the real binary on both sides.

mod common;

use std::process::Command;

use common::{ServerProcess, comment, connect};
use modgate::api::proto::{Action, GetDecisionRequest};

const LAN: &str = "lan-token-0123456789";
const MINH: &str = "minh-token-0123456789";

fn queue(addr: std::net::SocketAddr, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_modgate"))
        .arg("queue")
        .args(args)
        .args(["--server", &addr.to_string()])
        .env("MODGATE_TOKEN", token)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderators_list_approve_and_reject_held_comments() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("modgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[moderators]]\nname = \"lan\"\ntoken = \"{LAN}\"\n\
             [[moderators]]\nname = \"minh\"\ntoken = \"{MINH}\"\nsites = [\"other\"]\n\
             [sites.default]\nsuspect_terms = [\"trọng tài\"]\n[sites.other]\n"
        ),
    )
    .unwrap();
    let server = ServerProcess::start(&config, &dir.path().join("data"));
    let mut cms = connect(server.addr).await;
    let texts = [
        "Trọng tài trận tối qua bắt dở quá",
        "Trọng tài cần xem lại video",
        "Bài viết hay, cảm ơn tác giả nhiều",
    ];
    for (n, text) in texts.iter().enumerate() {
        let mut request = comment(&format!("q{n}"), text);
        request.client.as_mut().unwrap().ip = format!("192.0.2.{}", 10 + n);
        cms.moderate(request).await.unwrap();
    }

    let listed = queue(server.addr, LAN, &["list", "--json"]);
    assert_eq!(
        listed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let held: Vec<serde_json::Value> = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(held.len(), 2, "{held:?}");
    for item in &held {
        for field in ["moderation_id", "site_id", "comment_id", "text", "reasons", "held_at"] {
            assert!(!item[field].is_null(), "{field} in {item}");
        }
        assert_eq!(item["reasons"][0]["code"], "SUSPECT_TERM");
        assert!(item["held_at"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(held[0]["comment_id"], "q0", "oldest first");
    let people = queue(server.addr, LAN, &["list"]);
    assert!(stdout(&people).contains("2 of 2 held comments"), "{}", stdout(&people));

    let waiting = Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(["stats", "--site", "default", "--server", &server.addr.to_string()])
        .env("MODGATE_TOKEN", LAN)
        .output()
        .unwrap();
    assert!(
        stdout(&waiting).starts_with("default: 2 held (oldest "),
        "{}",
        stdout(&waiting)
    );

    let first = held[0]["moderation_id"].as_str().unwrap().to_string();
    let second = held[1]["moderation_id"].as_str().unwrap().to_string();
    let approved = queue(server.addr, LAN, &["approve", &first, "--note", "chỉ là góp ý"]);
    assert_eq!(
        approved.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    assert!(stdout(&approved).contains("APPROVE"));
    let rejected = queue(server.addr, LAN, &["reject", &second, "--json"]);
    assert_eq!(rejected.status.code(), Some(0));
    let rejected: serde_json::Value = serde_json::from_str(&stdout(&rejected)).unwrap();
    assert_eq!(rejected[0]["final_action"], "REJECT");

    // The CMS sees the moderators' decisions.
    for (comment_id, action) in [("q0", Action::Approve), ("q1", Action::Reject)] {
        let decision = cms
            .get_decision(GetDecisionRequest {
                site_id: "default".into(),
                comment_id: comment_id.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(decision.action(), action, "{comment_id}");
    }

    // Resolving again: exit 1, saying who decided.
    let again = queue(server.addr, LAN, &["reject", &first]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stdout(&again).contains("not resolved"), "{}", stdout(&again));
    let empty = queue(server.addr, LAN, &["list", "--json"]);
    assert_eq!(stdout(&empty).trim(), "[]");

    // The audit log has both actions and the late attempt, newest first: the late one
    // found the comment through the decision events although it had left the queue.
    let audit = Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args([
            "audit",
            "--site",
            "default",
            "--json",
            "--server",
            &server.addr.to_string(),
        ])
        .env("MODGATE_TOKEN", LAN)
        .output()
        .unwrap();
    assert_eq!(
        audit.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&audit.stderr)
    );
    let entries: Vec<serde_json::Value> = serde_json::from_str(&stdout(&audit)).unwrap();
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| {
            (
                e["comment_id"].as_str().unwrap().to_string(),
                e["requested"].as_str().unwrap().to_string(),
                e["after"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("q0", "REJECT", "APPROVE"),
        ("q1", "REJECT", "REJECT"),
        ("q0", "APPROVE", "APPROVE"),
    ];
    assert_eq!(
        summary,
        expected.map(|(c, r, a)| (c.to_string(), r.to_string(), a.to_string()))
    );
    assert!(
        entries[0]["refused"]
            .as_str()
            .unwrap()
            .contains("already resolved by lan"),
        "{}",
        entries[0]
    );
    assert_eq!(entries[2]["note"], "chỉ là góp ý");
    assert_eq!(entries[2]["moderator"], "lan");
    assert_eq!(entries[2]["before"], "HOLD");

    let stats = Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(["stats", "--json", "--server", &server.addr.to_string()])
        .env("MODGATE_TOKEN", LAN)
        .output()
        .unwrap();
    assert_eq!(
        stats.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&stats.stderr)
    );
    let stats: serde_json::Value = serde_json::from_str(&stdout(&stats)).unwrap();
    assert_eq!(stats[0]["site_id"], "default");
    assert_eq!(stats[0]["held"], 0);
    assert_eq!(stats[0]["approved_last_day"], 1);
    assert_eq!(stats[0]["rejected_last_day"], 1);
    assert_eq!(stats[1]["site_id"], "other");

    // A moderator of another site sees nothing here; a wrong token is exit 2.
    let other = queue(server.addr, MINH, &["list", "--json", "--site", "default"]);
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("may not review"));
    let stranger = queue(server.addr, "not-a-moderator-token", &["list"]);
    assert_eq!(stranger.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&stranger.stderr);
    assert!(stderr.contains("Unauthenticated"), "{stderr}");
    assert!(!stderr.contains("not-a-moderator-token"), "tokens are never echoed");
}

/// `queue list` filters (reason, age, author) and `approve` of many ids in one call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_by_reason_age_and_author_and_resolve_in_bulk() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("modgate.toml");
    std::fs::write(
        &config,
        "[sites.default]\nsuspect_terms = [\"trọng tài\"]\nhold_new_authors = true\nrate_limits = []\n",
    )
    .unwrap();
    let server = ServerProcess::start(&config, &dir.path().join("data"));
    let mut cms = connect(server.addr).await;
    // comment() gives each comment its own author ("<id>@example.vn"): all are new.
    for (id, text) in [
        ("f1", "Trọng tài bắt dở quá"),
        ("f2", "Bài viết hay, cảm ơn tác giả"),
        ("f3", "Mình đồng ý với ý kiến này"),
    ] {
        cms.moderate(comment(id, text)).await.unwrap();
    }
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_modgate"))
            .arg("queue")
            .args(args)
            .args(["--server", &server.addr.to_string()])
            .output()
            .unwrap()
    };
    let ids = |output: &std::process::Output| -> Vec<String> {
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let items: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
        items
            .iter()
            .map(|i| i["comment_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&run(&["list", "--json"])), ["f1", "f2", "f3"]);
    // For people: a table, with no colour codes when stdout is not a terminal.
    let people = run(&["list"]);
    let people = String::from_utf8_lossy(&people.stdout);
    assert!(
        people.contains("3 of 3 held comments") && !people.contains('\x1b'),
        "{people:?}"
    );
    assert_eq!(ids(&run(&["list", "--json", "--reason", "suspect_term"])), ["f1"]);
    assert_eq!(ids(&run(&["list", "--json", "--author", "F2@Example.vn"])), ["f2"]);
    assert_eq!(ids(&run(&["list", "--json", "--newer-than", "1h"])).len(), 3);
    assert!(ids(&run(&["list", "--json", "--older-than", "1h"])).is_empty());
    let bad = run(&["list", "--older-than", "2h", "--newer-than", "1h"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("min_age_seconds"),
        "{bad:?}"
    );
    let bad = run(&["list", "--reason", "sapm"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("unknown reason"),
        "{bad:?}"
    );

    let listed: Vec<serde_json::Value> = serde_json::from_slice(&run(&["list", "--json"]).stdout).unwrap();
    let id = |n: usize| listed[n]["moderation_id"].as_str().unwrap().to_string();
    let bulk = run(&["approve", &id(0), &id(2), "no-such-id", "--json"]);
    assert_eq!(bulk.status.code(), Some(1), "one id was not resolved: {bulk:?}");
    let outcomes: Vec<serde_json::Value> = serde_json::from_slice(&bulk.stdout).unwrap();
    assert_eq!(outcomes.len(), 3);
    assert_eq!(outcomes[0]["ok"], true);
    assert_eq!(outcomes[1]["final_action"], "APPROVE");
    assert_eq!(outcomes[2]["ok"], false);
    assert_eq!(outcomes[2]["error_code"], "NOT_FOUND");
    assert_eq!(ids(&run(&["list", "--json"])), ["f2"]);
}
