//! Test helpers: a real server on 127.0.0.1:0 (in process, or the real binary) and a
//! real gRPC client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use modgate::api::proto::moderation_client::ModerationClient;
use modgate::api::proto::{Author, Client, ModerateRequest};
use modgate::config::{Config, FileConfig, Overrides};
use tonic::transport::Channel;

pub mod redis_server;

/// A server running inside the test process; stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with `config_toml` (the `[server]` listen settings are ignored),
    /// keeping its state in `data_dir`.
    pub async fn start(config_toml: &str, data_dir: &Path) -> Self {
        let file: FileConfig = toml::from_str(config_toml).expect("test config parses");
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            metrics_listen: Some("127.0.0.1:0".into()),
            data_dir: Some(data_dir.to_path_buf()),
            redis_url: None,
        };
        let config = Config::from_file(file, &overrides).expect("test config is valid");
        let prepared = modgate::server::prepare(config).await.expect("server prepares");
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = grpc.local_addr().unwrap();
        let metrics_addr = metrics.local_addr().ok();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            modgate::server::run(prepared, grpc, Some(metrics), async move {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        Self {
            addr,
            metrics_addr,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    pub async fn client(&self) -> ModerationClient<Channel> {
        connect(self.addr).await
    }

    pub async fn channel(&self) -> Channel {
        channel(self.addr).await
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connects")
}

pub async fn connect(addr: SocketAddr) -> ModerationClient<Channel> {
    ModerationClient::new(channel(addr).await)
}

/// A comment request with an IP and e-mail, for site `default`.
pub fn comment(id: &str, text: &str) -> ModerateRequest {
    ModerateRequest {
        site_id: "default".into(),
        comment_id: id.into(),
        thread_id: "article-1".into(),
        text: text.into(),
        author: Some(Author {
            name: "Lan".into(),
            email: format!("{id}@example.vn"),
            ..Default::default()
        }),
        client: Some(Client {
            ip: "203.0.113.10".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Adds `authorization: Bearer <key>`.
pub fn with_key<T>(message: T, key: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    request
}

/// The real `modgate serve` binary in its own process.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    pub fn start(config: &Path, data_dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_modgate"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .env("NO_COLOR", "1")
            .env_remove("MODGATE_METRICS_LISTEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let line = lines.next().expect("server printed its address").unwrap();
            if let Some(addr) = line.strip_prefix("modgate: serving gRPC on ") {
                break addr.parse().unwrap();
            }
            assert!(std::time::Instant::now() < deadline, "server did not start");
        };
        // Keep reading stdout in the background so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, addr }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 GET (for the metrics endpoint); the whole response, headers included.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    body
}
