//! `modgate serve` as a real process: durability across kill -9, graceful shutdown on
//! SIGTERM, model reloads on SIGHUP, configuration errors before any port is bound.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{ServerProcess, comment, connect, http_get};
use modgate::api::proto::{Action, GetDecisionRequest, ReasonCode};

// Thresholds at 1.0: these tests are about the process, not the classifier.
const CONFIG: &str = "[sites.default]\nsuspect_terms = [\"bầu cử\"]\n[sites.default.thresholds]\n\
    spam_hold = 1.0\nspam_reject = 1.0\nabuse_hold = 1.0\nabuse_reject = 1.0\nhate_hold = 1.0\nhate_reject = 1.0\n";

#[tokio::test]
async fn held_comments_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("modgate.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.path().join("data");

    let mut held = Vec::new();
    {
        let server = ServerProcess::start(&config, &data);
        let mut client = connect(server.addr).await;
        for i in 0..3 {
            let mut request = comment(
                &format!("h{i}"),
                &format!("Tôi nghĩ cuộc bầu cử lần {i} này rất quan trọng"),
            );
            request.client = Some(modgate::api::proto::Client {
                ip: format!("192.0.2.{i}"),
                ..Default::default()
            });
            let r = client.moderate(request).await.unwrap().into_inner();
            assert_eq!(r.action(), Action::Hold, "{r:?}");
            held.push(r);
        }
        // `server` drops here: SIGKILL, no chance to flush or sync anything.
    }

    let server = ServerProcess::start(&config, &data);
    let mut client = connect(server.addr).await;
    for (i, before) in held.iter().enumerate() {
        let after = client
            .get_decision(GetDecisionRequest {
                site_id: "default".into(),
                comment_id: format!("h{i}"),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(after.action(), Action::Hold);
        assert_eq!(after.moderation_id, before.moderation_id);
        assert!(after.reasons.iter().any(|r| r.code() == ReasonCode::SuspectTerm));
    }
}

#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("modgate.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let mut server = ServerProcess::start(&config, &dir.path().join("data"));
    let mut client = connect(server.addr).await;
    client.moderate(comment("t1", "Bài viết rất hay")).await.unwrap();

    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not stop within the grace period"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
}

/// The shipped model under another version name, saved with its checksum at `path`.
fn save_shipped_model_as(path: &std::path::Path, version: &str) {
    let mut model = modgate::classify::shipped::shipped_model()
        .expect("built with a model")
        .expect("the shipped model loads");
    model.version = version.to_string();
    model.save(path).unwrap();
}

async fn decide(
    client: &mut modgate::api::proto::moderation_client::ModerationClient<tonic::transport::Channel>,
    id: &str,
    text: &str,
) -> modgate::api::proto::ModerateResponse {
    client.moderate(comment(id, text)).await.unwrap().into_inner()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn sighup_reloads_the_model_file_and_a_bad_file_keeps_the_model_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("site.model");
    save_shipped_model_as(&model, "reload-a");
    let metrics_addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.path().join("modgate.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nmodel = {:?}\nmetrics_listen = \"{metrics_addr}\"\n{CONFIG}",
            model.display().to_string()
        ),
    )
    .unwrap();
    let mut server = ServerProcess::start(&config, &dir.path().join("data"));
    let mut client = connect(server.addr).await;
    let first = decide(&mut client, "m0", "Bài viết rất hay").await;
    assert_eq!(first.model_version, "reload-a");

    let hangup = |server: &ServerProcess| {
        let status = Command::new("kill")
            .args(["-HUP", &server.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    let metrics_show = |wanted: &'static str| async move {
        let started = Instant::now();
        loop {
            let text = http_get(metrics_addr, "/metrics").await;
            if text.contains(wanted) {
                return text;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no {wanted} in {text}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };

    // A retrained model written over the file goes live on SIGHUP, without a restart.
    save_shipped_model_as(&model, "reload-b");
    hangup(&server);
    metrics_show("modgate_model_reloads_total{outcome=\"loaded\"} 1").await;
    let metrics = metrics_show("modgate_model_info{version=\"reload-b\"} 1").await;
    assert!(!metrics.contains("reload-a"), "one model in use: {metrics}");
    let after = decide(&mut client, "m1", "Bài viết rất hay").await;
    assert_eq!(after.model_version, "reload-b");
    // A decision made before keeps the model that made it.
    let resent = decide(&mut client, "m0", "Bài viết rất hay").await;
    assert_eq!(
        (resent.moderation_id.as_str(), resent.model_version.as_str()),
        (first.moderation_id.as_str(), "reload-a")
    );

    // A file that does not load (here: not the bytes its checksum names) changes nothing:
    // the server keeps serving with the model it has.
    std::fs::write(&model, b"not a model").unwrap();
    hangup(&server);
    metrics_show("modgate_model_reloads_total{outcome=\"failed\"} 1").await;
    assert!(server.child.try_wait().unwrap().is_none(), "still running");
    let still = decide(&mut client, "m2", "Cảm ơn tác giả").await;
    assert_eq!(still.model_version, "reload-b");
}

#[test]
fn health_reports_serving_and_tells_unknown_services_and_absent_servers_apart() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("modgate.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let server = ServerProcess::start(&config, &dir.path().join("data"));
    let health = |args: &[&str], env: &[(&str, String)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_modgate"));
        command
            .arg("health")
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("MODGATE_SERVER")
            .env_remove("MODGATE_LISTEN");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).trim().to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let addr = server.addr.to_string();
    let serving = health(&["--server", &addr], &[]);
    assert_eq!((serving.0, serving.1.as_str()), (Some(0), "SERVING"), "{serving:?}");
    let whole = health(&["--server", &addr, "--service", ""], &[]);
    assert_eq!((whole.0, whole.1.as_str()), (Some(0), "SERVING"), "{whole:?}");
    let unknown = health(&["--server", &addr, "--service", "no.such.Service"], &[]);
    assert_eq!(
        (unknown.0, unknown.1.as_str()),
        (Some(1), "SERVICE_UNKNOWN"),
        "{unknown:?}"
    );
    // A container sets MODGATE_LISTEN to a wildcard address for `serve`; `health` in the
    // same environment asks loopback on that port.
    let listen = format!("0.0.0.0:{}", server.addr.port());
    let from_env = health(&[], &[("MODGATE_LISTEN", listen)]);
    assert_eq!(from_env.0, Some(0), "{from_env:?}");

    drop(server);
    let started = Instant::now();
    let gone = health(&["--server", &addr, "--timeout", "2"], &[]);
    assert_eq!(gone.0, Some(2), "{gone:?}");
    assert!(gone.2.contains(&addr), "{gone:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no hang: {:?}",
        started.elapsed()
    );
}

#[test]
fn bad_configuration_stops_the_start_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    for (toml, expected) in [
        (
            "[sites.default.thresholds]\nspam_hold = 2\n",
            "sites.default.thresholds.spam_hold",
        ),
        ("[server]\nlisten = \"0.0.0.0:0\"\n", "needs API keys"),
        ("[sites.default]\nunknown_setting = 1\n", "unknown field"),
    ] {
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, toml).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_modgate"))
            .args(["serve", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("NO_COLOR", "1")
            .env_remove("MODGATE_LISTEN")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{toml}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{toml}: {stderr}");
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("serving"),
            "nothing was bound"
        );
    }
    let missing = Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(["serve", "--config", "/nonexistent/modgate.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/modgate.toml"));
}

#[test]
fn an_unreachable_redis_at_start_is_exit_2_without_the_password() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_modgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env(
            "MODGATE_REDIS_URL",
            format!("redis://app:hunter2secret@127.0.0.1:{port}/0"),
        )
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "no hang");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("redis"), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(
        !stderr.contains("hunter2secret"),
        "the password is never printed: {stderr}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("serving"));
}
