//! A private redis-server for one test: started on a free loopback port with no
//! persistence, stopped (killed) when dropped. Never a server someone started by hand.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts redis-server with extra arguments (e.g. `["--appendonly", "yes"]`); a first
    /// argument ending in `.conf` is a configuration file (port and directory are still
    /// the test's own).
    pub fn start_with(extra: &[&str]) -> Self {
        // A port can be taken between finding it free and redis binding it; try again.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let dir = tempfile::tempdir().expect("temporary directory");
            let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            if let Some(child) = spawn(port, &dir, &extra) {
                return Self {
                    port,
                    child,
                    dir,
                    extra,
                };
            }
        }
        panic!("redis-server did not start on a free port in five attempts");
    }

    /// Kills the server (SIGKILL, no goodbye) and starts it again on the same port and
    /// directory, so whatever it persisted (with `--appendonly yes`) comes back.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, &self.dir, &self.extra).expect("redis-server restarts on its port");
    }

    /// Kills the server; [`Self::restart`] brings it back.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server without closing its connections (SIGSTOP): a Redis that hangs.
    pub fn freeze(&self) {
        assert!(self.signal("-STOP"), "kill -STOP failed");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        assert!(self.signal("-CONT"), "kill -CONT failed");
    }

    fn signal(&self, which: &str) -> bool {
        Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .is_ok_and(|status| status.success())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to the test redis-server")
    }
}

/// Starts redis-server and waits until it answers; `None` if it exited or never answered.
fn spawn(port: u16, dir: &tempfile::TempDir, extra: &[String]) -> Option<Child> {
    // A configuration file, when given, must come first on redis-server's command line.
    let (config_file, extra) = match extra.first() {
        Some(first) if first.ends_with(".conf") => (Some(first.as_str()), &extra[1..]),
        _ => (None, extra),
    };
    let mut child = Command::new("redis-server")
        .args(config_file)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .args(["--dir", dir.path().to_str().expect("utf-8 path")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs (./scripts/test installs Debian's redis-server when it is missing)");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return None;
        }
        if ping(port) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn ping(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A test that froze the server and then failed has not thawed it; continue it so
        // nothing is left stopped whatever happens to the kill.
        let _ = self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private three-master Redis Cluster (no replicas) on free loopback ports.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                // The cluster bus defaults to port + 10000, which may not exist for high
                // ports; give it its own free port.
                let bus = TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .expect("a free loopback port")
                    .port()
                    .to_string();
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-port",
                    &bus,
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli runs (it comes with Debian's redis-server)");
        assert!(status.success(), "redis-cli --cluster create failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !nodes.iter().all(|n| cluster_ok(n.port)) {
            assert!(Instant::now() < deadline, "the cluster did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// A connection to the cluster as the service makes one (500 ms per call).
    pub async fn link(&self) -> modgate::store::RedisLink {
        modgate::store::RedisLink::connect_cluster(
            &self.urls(),
            None,
            Duration::from_millis(500),
            Duration::from_secs(5),
        )
        .await
        .expect("connect to the test cluster")
    }
}

fn cluster_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok"))
}

/// A private redis-server that speaks only TLS, with a certificate for `localhost` signed
/// by a throwaway certificate authority (made with the openssl command).
pub struct TlsRedisServer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl TlsRedisServer {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = |name: &str| dir.path().join(name).to_str().expect("utf-8 path").to_string();
        std::fs::write(path("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
        for args in [
            vec![
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &path("ca.key"),
                "-out",
                &path("ca.crt"),
                "-days",
                "2",
                "-subj",
                "/CN=modgate test CA",
            ],
            vec![
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &path("server.key"),
                "-out",
                &path("server.csr"),
                "-subj",
                "/CN=localhost",
            ],
            vec![
                "x509",
                "-req",
                "-in",
                &path("server.csr"),
                "-CA",
                &path("ca.crt"),
                "-CAkey",
                &path("ca.key"),
                "-CAcreateserial",
                "-out",
                &path("server.crt"),
                "-days",
                "2",
                "-extfile",
                &path("ext.cnf"),
            ],
        ] {
            let status = Command::new("openssl")
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("openssl runs");
            assert!(status.success(), "openssl {args:?} failed");
        }
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free loopback port")
                .port();
            let mut child = Command::new("redis-server")
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                ])
                .args([
                    "--tls-cert-file",
                    &path("server.crt"),
                    "--tls-key-file",
                    &path("server.key"),
                ])
                .args(["--tls-ca-cert-file", &path("ca.crt"), "--tls-auth-clients", "no"])
                .args(["--dir", dir.path().to_str().expect("utf-8 path")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server runs");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                let answered = Command::new("redis-cli")
                    .args([
                        "--tls",
                        "--cacert",
                        &path("ca.crt"),
                        "-h",
                        "localhost",
                        "-p",
                        &port.to_string(),
                        "ping",
                    ])
                    .output()
                    .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("PONG"));
                if answered {
                    return Self { port, child, dir };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server with TLS did not start");
    }

    pub fn url(&self) -> String {
        format!("rediss://localhost:{}/", self.port)
    }

    /// The certificate authority's PEM file, to trust instead of the system's.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.crt")
    }
}

impl Drop for TlsRedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
