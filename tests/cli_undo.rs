//! `modgate queue undo` against a real server: the real binary on both sides.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::{ServerProcess, comment, connect};
use modgate::api::proto::{Action, GetDecisionRequest, WatchDecisionsRequest};

const LAN: &str = "lan-token-0123456789";
const MINH: &str = "minh-token-0123456789";

fn modgate(addr: std::net::SocketAddr, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(args)
        .args(["--server", &addr.to_string()])
        .env("MODGATE_TOKEN", token)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {:?}, stderr {:?}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Holds comments `ids` (a suspect term) on `site` and returns their moderation ids.
async fn hold(addr: std::net::SocketAddr, site: &str, ids: &[&str]) -> Vec<String> {
    let mut cms = connect(addr).await;
    let mut moderation_ids = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let mut request = comment(id, &format!("Trọng tài hôm nay bắt dở, ý kiến số {n}"));
        request.site_id = site.into();
        request.client.as_mut().unwrap().ip = format!("192.0.2.{}", 10 + n);
        let response = cms.moderate(request).await.unwrap().into_inner();
        assert_eq!(response.action(), Action::Hold, "{id}");
        moderation_ids.push(response.moderation_id);
    }
    moderation_ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_undoes_an_approval_and_the_cms_hears_hold() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("modgate.toml");
    std::fs::write(
        &config,
        format!(
            "[[moderators]]\nname = \"lan\"\ntoken = \"{LAN}\"\n\
             [[moderators]]\nname = \"minh\"\ntoken = \"{MINH}\"\n\
             [sites.default]\nsuspect_terms = [\"trọng tài\"]\n\
             [sites.strict]\nsuspect_terms = [\"trọng tài\"]\nundo_window_seconds = 0\n\
             [sites.quick]\nsuspect_terms = [\"trọng tài\"]\nundo_window_seconds = 1\n"
        ),
    )
    .unwrap();
    let server = ServerProcess::start(&config, &dir.path().join("data"));
    let addr = server.addr;
    let ids = hold(addr, "default", &["u0", "u1"]).await;
    let strict = hold(addr, "strict", &["s0"]).await;
    let quick = hold(addr, "quick", &["k0"]).await;
    let mut cms = connect(addr).await;
    let mut watch = cms
        .watch_decisions(WatchDecisionsRequest {
            site_id: "default".into(),
            after_cursor: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let approved = modgate(addr, LAN, &["queue", "approve", &ids[0], "--json"]);
    assert_eq!(approved.status.code(), Some(0), "{approved:?}");
    let rejected = modgate(addr, MINH, &["queue", "reject", &ids[1]]);
    assert_eq!(rejected.status.code(), Some(0), "{rejected:?}");

    // Another moderator may not undo lan's decision: exit 1, saying who decided.
    let not_theirs = modgate(addr, MINH, &["queue", "undo", &ids[0], "--json"]);
    assert_eq!(not_theirs.status.code(), Some(1), "{not_theirs:?}");
    let answer = json(&not_theirs);
    assert_eq!(answer[0]["ok"], false);
    let error = answer[0]["error"].as_str().unwrap();
    assert!(
        error.contains("by lan") && error.contains("only they may undo"),
        "{error}"
    );

    // lan undoes the approval, with a note; a second undo loses (it is held again).
    let undone = modgate(addr, LAN, &["queue", "undo", &ids[0], "--note", "bấm nhầm", "--json"]);
    assert_eq!(undone.status.code(), Some(0), "{undone:?}");
    let answer = json(&undone);
    assert_eq!(answer[0]["ok"], true);
    assert_eq!(answer[0]["undone_action"], "APPROVE");
    assert_eq!(answer[0]["final_action"], "HOLD");
    assert_eq!(answer[0]["comment_id"], "u0");
    let twice = modgate(addr, LAN, &["queue", "undo", &ids[0]]);
    assert_eq!(twice.status.code(), Some(1), "{twice:?}");
    assert!(
        String::from_utf8_lossy(&twice.stdout).contains("already undone by lan"),
        "{twice:?}"
    );

    // Back in the queue, and GetDecision says HOLD again.
    let listed = json(&modgate(addr, LAN, &["queue", "list", "--json", "--site", "default"]));
    let held: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["moderation_id"].as_str().unwrap())
        .collect();
    assert_eq!(held, [ids[0].as_str()]);
    let decision = cms
        .get_decision(GetDecisionRequest {
            site_id: "default".into(),
            comment_id: "u0".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decision.action(), Action::Hold);
    // The day's counts follow: u0's approval was taken back, u1's rejection stands.
    let stats = json(&modgate(addr, LAN, &["stats", "--site", "default", "--json"]));
    assert_eq!(stats[0]["approved_last_day"], 0, "{stats}");
    assert_eq!(stats[0]["rejected_last_day"], 1, "{stats}");
    assert_eq!(stats[0]["held"], 1, "{stats}");

    // The CMS's stream: APPROVE u0, REJECT u1, then HOLD u0 (unpublish).
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .expect("events arrive")
            .unwrap()
            .expect("stream open");
        seen.push((event.comment_id.clone(), event.action(), event.note.clone()));
    }
    assert_eq!(
        seen,
        [
            ("u0".to_string(), Action::Approve, String::new()),
            ("u1".to_string(), Action::Reject, String::new()),
            ("u0".to_string(), Action::Hold, "bấm nhầm".to_string()),
        ]
    );

    // Undo is off on a site with a zero window; a resolution on a comment that already
    // left the queue is refused and audited (ABORTED: exit 1).
    let strict_approved = modgate(addr, LAN, &["queue", "approve", &strict[0]]);
    assert_eq!(strict_approved.status.code(), Some(0), "{strict_approved:?}");
    let off = modgate(addr, LAN, &["queue", "undo", &strict[0]]);
    assert_eq!(off.status.code(), Some(1), "{off:?}");
    assert!(
        String::from_utf8_lossy(&off.stdout).contains("undo is off on site \"strict\""),
        "{off:?}"
    );
    // Past the window: refused, saying how long ago and the window.
    let quick_approved = modgate(addr, LAN, &["queue", "approve", &quick[0]]);
    assert_eq!(quick_approved.status.code(), Some(0), "{quick_approved:?}");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let too_late = modgate(addr, LAN, &["queue", "undo", &quick[0]]);
    assert_eq!(too_late.status.code(), Some(1), "{too_late:?}");
    let message = String::from_utf8_lossy(&too_late.stdout);
    assert!(
        message.contains("by you 1 s ago") && message.contains("allows undo for 1 s"),
        "{message}"
    );
    let late = modgate(addr, MINH, &["queue", "reject", &ids[1]]);
    assert_eq!(late.status.code(), Some(1), "{late:?}");
    assert!(
        String::from_utf8_lossy(&late.stdout).contains("already resolved by minh (reject)"),
        "{late:?}"
    );

    // An empty id cannot run (exit 2) and the error names the field; an unknown one is
    // refused like any other (exit 1).
    let empty = modgate(addr, LAN, &["queue", "undo", ""]);
    assert_eq!(empty.status.code(), Some(2), "{empty:?}");
    assert!(
        String::from_utf8_lossy(&empty.stderr).contains("moderation_id"),
        "{empty:?}"
    );
    let unknown = modgate(addr, LAN, &["queue", "undo", "0123456789abcdef"]);
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");

    // The audit log shows each attempt, refusals included, newest first.
    let audit = json(&modgate(addr, LAN, &["audit", "--site", "default", "--json"]));
    let summary: Vec<(String, String, String, String, bool)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["moderator"].as_str().unwrap().to_string(),
                e["requested"].as_str().unwrap().to_string(),
                e["before"].as_str().unwrap().to_string(),
                e["after"].as_str().unwrap().to_string(),
                e["refused"].as_str().unwrap().is_empty(),
            )
        })
        .collect();
    let expected = [
        ("minh", "REJECT", "REJECT", "REJECT", false),
        ("lan", "HOLD", "HOLD", "HOLD", false),
        ("lan", "HOLD", "APPROVE", "HOLD", true),
        ("minh", "HOLD", "APPROVE", "APPROVE", false),
        ("minh", "REJECT", "HOLD", "REJECT", true),
        ("lan", "APPROVE", "HOLD", "APPROVE", true),
    ];
    assert_eq!(
        summary,
        expected.map(|(m, r, b, a, ok)| (m.to_string(), r.to_string(), b.to_string(), a.to_string(), ok))
    );
    assert_eq!(audit[2]["note"], "bấm nhầm");
}
