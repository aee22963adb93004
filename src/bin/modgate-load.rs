#![forbid(unsafe_code)]
//! Load generator: Moderate against a trivial Echo RPC served by the same server stack,
//! in one run, so the report is a ratio that does not depend on the machine.
//!
//! It starts the real server in this process on 127.0.0.1:0 (embedded state in a
//! temporary directory, the Diagnostics service on, no rate limits) and then, for each
//! RPC, runs a closed loop of concurrent callers for a fixed time (maximum throughput and
//! latency under saturation), and for Moderate an open loop paced at half of its maximum
//! rate (latency at a sustainable load, measured from each call's scheduled start so a
//! slow server cannot hide its queueing).
//!
//!     cargo run --release --bin modgate-load -- [--seconds 10] [--concurrency 32]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use modgate::api::proto::diagnostics_client::DiagnosticsClient;
use modgate::api::proto::moderation_client::ModerationClient;
use modgate::api::proto::{Author, Client, EchoRequest, ModerateRequest};
use modgate::config::{Config, FileConfig, Overrides};
use tonic::transport::Channel;

const COMMENTS: &[&str] = &[
    "Bài viết rất hay, cảm ơn tác giả đã chia sẻ những thông tin hữu ích này.",
    "Tôi không đồng ý với quan điểm này, chính sách cần thêm thời gian để người dân thích nghi.",
    "Đội tuyển chơi quá hay, chúc mừng chiến thắng xứng đáng!",
    "Nhà cái uy tín số 1, nạp lần đầu tặng 100%, liên hệ zalo 0912 345 678",
    "Vay tiền nhanh không cần thế chấp, giải ngân trong ngày, lãi suất thấp.",
    "đm thằng này ngu thật sự, đọc mà tức cả người",
    "Great article, thanks for sharing. The second part was especially useful.",
    "Giá xăng lại tăng rồi, không biết bao giờ mới giảm đây mọi người ơi",
];

struct Args {
    seconds: u64,
    concurrency: usize,
    redis: bool,
    /// CPUs (a `taskset` list) for the private redis-server, instead of this process's.
    redis_cpus: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        seconds: 10,
        concurrency: 32,
        redis: false,
        redis_cpus: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage(&arg));
        match arg.as_str() {
            "--seconds" => args.seconds = value(),
            "--concurrency" => args.concurrency = value() as usize,
            "--redis" => args.redis = true,
            "--redis-cpus" => args.redis_cpus = Some(it.next().unwrap_or_else(|| usage(&arg))),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0)
            }
            _ => usage(&arg),
        }
    }
    args
}

const USAGE: &str = "usage: modgate-load [--seconds N] [--concurrency N] [--redis [--redis-cpus LIST]]\n\n\
    Runs Echo and Moderate against an in-process server and prints throughput and latency\n\
    percentiles (defaults: 10 seconds per phase, 32 concurrent callers).\n\
    --redis instead compares Moderate on Redis with Moderate on the embedded backend, and\n\
    the rate-limit script with a trivial EVALSHA (redis-benchmark), on a redis-server it\n\
    starts itself. --redis-cpus runs that redis-server on the given CPUs (through taskset);\n\
    start modgate-load itself under `taskset -c` on the others to give Redis a core of its\n\
    own, as it would have on its own host.";

fn usage(arg: &str) -> ! {
    eprintln!("modgate-load: unexpected {arg:?}\n{USAGE}");
    std::process::exit(2)
}

/// Syllables that make each load comment's wording distinct, so the run measures the
/// normal path rather than a duplicate flood (the duplicate check ignores digits).
const SYLLABLES: &[&str] = &[
    "an", "binh", "cuong", "dung", "giang", "ha", "hung", "khanh", "lan", "long", "mai", "minh", "nam", "ngoc",
    "phuong", "quang", "son", "tam", "thanh", "thu", "trang", "tuan", "van", "vy",
];

fn signature(mut n: u64) -> String {
    let mut words = Vec::new();
    for _ in 0..4 {
        words.push(SYLLABLES[(n % SYLLABLES.len() as u64) as usize]);
        n /= SYLLABLES.len() as u64;
    }
    words.join(" ")
}

fn moderate_request(n: u64) -> ModerateRequest {
    ModerateRequest {
        site_id: "default".into(),
        comment_id: format!("load-{n}"),
        thread_id: format!("article-{}", n % 50),
        text: format!(
            "{} ({})",
            COMMENTS[n as usize % COMMENTS.len()],
            signature(n / COMMENTS.len() as u64)
        ),
        author: Some(Author {
            name: "Load".into(),
            email: format!("reader{}@example.vn", n % 1000),
            ..Default::default()
        }),
        client: Some(Client {
            ip: format!("10.{}.{}.{}", n % 200, (n / 200) % 250, n % 250),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[derive(Clone, Copy)]
enum Rpc {
    Echo,
    Moderate,
}

async fn call(rpc: Rpc, channel: &Channel, n: u64, payload: &[u8]) -> bool {
    match rpc {
        Rpc::Echo => DiagnosticsClient::new(channel.clone())
            .echo(EchoRequest {
                payload: payload.to_vec(),
            })
            .await
            .is_ok(),
        Rpc::Moderate => ModerationClient::new(channel.clone())
            .moderate(moderate_request(n))
            .await
            .is_ok(),
    }
}

struct Report {
    calls: u64,
    errors: u64,
    per_second: f64,
    latencies_us: Vec<f64>,
    elapsed_s: f64,
}

impl Report {
    fn of(mut latencies_us: Vec<f64>, errors: u64, elapsed_s: f64) -> Self {
        latencies_us.sort_by(f64::total_cmp);
        Self {
            calls: latencies_us.len() as u64,
            errors,
            per_second: latencies_us.len() as f64 / elapsed_s,
            latencies_us,
            elapsed_s,
        }
    }

    fn empty() -> Self {
        Self {
            calls: 0,
            errors: 0,
            per_second: 0.0,
            latencies_us: Vec::new(),
            elapsed_s: 0.0,
        }
    }

    fn merge(&mut self, other: Report) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.elapsed_s += other.elapsed_s;
        self.per_second = self.calls as f64 / self.elapsed_s;
        self.latencies_us.extend(other.latencies_us);
        self.latencies_us.sort_by(f64::total_cmp);
    }

    fn percentile(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let rank = ((q * self.latencies_us.len() as f64).ceil() as usize).clamp(1, self.latencies_us.len());
        self.latencies_us[rank - 1]
    }
}

/// Closed loop: `concurrency` callers, each calling again as soon as its call returns.
async fn saturate(rpc: Rpc, channels: &[Channel], concurrency: usize, seconds: u64, counter: Arc<AtomicU64>) -> Report {
    let payload = Arc::new(vec![b'x'; 600]);
    let channels = channels.to_vec();
    closed_loop(concurrency, seconds, move |worker| {
        let channel = channels[worker % channels.len()].clone();
        let (counter, payload) = (counter.clone(), payload.clone());
        move || {
            let (channel, counter, payload) = (channel.clone(), counter.clone(), payload.clone());
            async move { call(rpc, &channel, counter.fetch_add(1, Ordering::Relaxed), &payload).await }
        }
    })
    .await
}

/// `concurrency` workers, each calling again as soon as its call returns, for `seconds`.
/// `worker(i)` makes worker i's call function; a call returns whether it succeeded.
async fn closed_loop<W, C, Fut>(concurrency: usize, seconds: u64, worker: W) -> Report
where
    W: Fn(usize) -> C,
    C: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..concurrency {
        let mut next_call = worker(i);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                if !next_call().await {
                    errors += 1;
                }
                latencies.push(t.elapsed().as_secs_f64() * 1e6);
            }
            (latencies, errors)
        }));
    }
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.expect("worker");
        latencies_us.extend(l);
        errors += e;
    }
    Report::of(latencies_us, errors, started.elapsed().as_secs_f64())
}

/// Open loop: one call every 1/rate seconds; latency counted from the scheduled start.
///
/// The pacing runs on its own OS thread: tokio's timer has millisecond resolution, which
/// would add up to a millisecond of the generator's own lateness to every call at the
/// rates measured here. The thread sleeps until the next call is due and then starts
/// every call that is due (so a late wake-up shows as latency, not as a lower rate).
async fn paced(rpc: Rpc, channels: &[Channel], rate: f64, seconds: u64, counter: Arc<AtomicU64>) -> Report {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let total = (rate * seconds as f64) as u64;
    let runtime = tokio::runtime::Handle::current();
    let channels = channels.to_vec();
    let started = Instant::now();
    let pacer = std::thread::spawn(move || {
        let mut tasks = Vec::with_capacity(total as usize);
        let mut next = 0u64;
        while next < total {
            let due = started + interval.mul_f64(next as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
                continue;
            }
            let channel = channels[next as usize % channels.len()].clone();
            let n = counter.fetch_add(1, Ordering::Relaxed);
            tasks.push(runtime.spawn(async move {
                let ok = call(rpc, &channel, n, &[]).await;
                (due.elapsed().as_secs_f64() * 1e6, ok)
            }));
            next += 1;
        }
        tasks
    });
    let tasks = tokio::task::spawn_blocking(move || pacer.join().expect("pacer thread"))
        .await
        .expect("pacer");
    let mut latencies_us = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, ok) = task.await.expect("call");
        latencies_us.push(l);
        errors += u64::from(!ok);
    }
    Report::of(latencies_us, errors, started.elapsed().as_secs_f64())
}

/// A server of the real stack in this process, on 127.0.0.1:0.
struct InProcess {
    channels: Vec<Channel>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), modgate::server::ServeError>>,
    _data: tempfile::TempDir,
}

impl InProcess {
    async fn start(config_toml: &str, redis_url: Option<String>) -> Self {
        let data = tempfile::tempdir().expect("temporary directory");
        let file: FileConfig = toml::from_str(config_toml).expect("built-in config");
        let overrides = Overrides {
            listen: Some("127.0.0.1:0".into()),
            metrics_listen: None,
            data_dir: Some(data.path().into()),
            redis_url,
        };
        let config = Config::from_file(file, &overrides).expect("valid config");
        let prepared = modgate::server::prepare(config).await.expect("server prepares");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(modgate::server::run(prepared, listener, None, async move {
            let _ = stopped.await;
        }));
        let mut channels = Vec::new();
        for _ in 0..4 {
            channels.push(
                Channel::from_shared(format!("http://{addr}"))
                    .expect("uri")
                    .connect()
                    .await
                    .expect("connect"),
            );
        }
        Self {
            channels,
            stop,
            task,
            _data: data,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    if args.redis {
        redis_comparison(&args).await;
        return;
    }
    let server = InProcess::start(
        "[server]\ndiagnostics = true\n[sites.default]\nrate_limits = []\n",
        None,
    )
    .await;
    let channels = server.channels.clone();
    let counter = Arc::new(AtomicU64::new(0));
    // Warm up both paths (model pages, connection windows).
    saturate(Rpc::Echo, &channels, args.concurrency, 1, counter.clone()).await;
    saturate(Rpc::Moderate, &channels, args.concurrency, 1, counter.clone()).await;

    // Echo and Moderate alternate in one-second slices, so a change in the machine's speed
    // during the run (shared hosts drift by a third) weighs on both sides of the ratio.
    let mut echo = Report::empty();
    let mut moderate = Report::empty();
    for _ in 0..args.seconds {
        echo.merge(saturate(Rpc::Echo, &channels, args.concurrency, 1, counter.clone()).await);
        moderate.merge(saturate(Rpc::Moderate, &channels, args.concurrency, 1, counter.clone()).await);
    }
    let half = paced(
        Rpc::Moderate,
        &channels,
        moderate.per_second / 2.0,
        args.seconds,
        counter.clone(),
    )
    .await;

    let echo_half = paced(
        Rpc::Echo,
        &channels,
        moderate.per_second / 2.0,
        args.seconds,
        counter.clone(),
    )
    .await;
    print_table(
        &format!("{} s per run, client and server in one process", args.seconds),
        args.concurrency,
        &[
            ("Echo, saturated", &echo),
            ("Moderate, saturated", &moderate),
            ("Moderate at half its max rate", &half),
            ("Echo at the same rate", &echo_half),
        ],
    );
    println!(
        "Moderate / Echo throughput: {:.0}%",
        100.0 * moderate.per_second / echo.per_second
    );
    server.stop().await;
}

/// Prints the run's setting and one Markdown table row per report.
fn print_table(setting: &str, concurrency: usize, rows: &[(&str, &Report)]) {
    println!(
        "load: {setting}, {concurrency} concurrent callers, 4 connections, on {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| run | calls | errors | calls/s | p50 µs | p99 µs |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, r) in rows {
        println!(
            "| {name} | {} | {} | {:.0} | {:.0} | {:.0} |",
            r.calls,
            r.errors,
            r.per_second,
            r.percentile(0.5),
            r.percentile(0.99)
        );
    }
}

/// Rules generous enough never to refuse a load comment, so every call runs the limit
/// check (in process, and in Redis on that backend) and takes the normal path.
const GENEROUS_LIMITS: &str = "[server]\ndiagnostics = true\n[sites.default]\nrate_limits = [\n\
    { key = \"ip\", rate = \"1000000/second\", burst = 1000000 },\n\
    { key = \"email\", rate = \"1000000/second\", burst = 1000000 },\n\
    { key = \"thread\", rate = \"1000000/second\", burst = 1000000 },\n]\n";

async fn redis_comparison(args: &Args) {
    let redis = PrivateRedis::start(args.redis_cpus.as_deref());
    println!(
        "modgate-load on CPUs {}, redis-server on CPUs {}",
        allowed_cpus(),
        args.redis_cpus.as_deref().unwrap_or("the same")
    );
    let embedded = InProcess::start(GENEROUS_LIMITS, None).await;
    let shared = InProcess::start(GENEROUS_LIMITS, Some(redis.url())).await;
    let counter = Arc::new(AtomicU64::new(0));
    saturate(Rpc::Moderate, &embedded.channels, args.concurrency, 1, counter.clone()).await;
    saturate(Rpc::Moderate, &shared.channels, args.concurrency, 1, counter.clone()).await;
    let mut on_embedded = Report::empty();
    let mut on_redis = Report::empty();
    for _ in 0..args.seconds {
        on_embedded.merge(saturate(Rpc::Moderate, &embedded.channels, args.concurrency, 1, counter.clone()).await);
        on_redis.merge(saturate(Rpc::Moderate, &shared.channels, args.concurrency, 1, counter.clone()).await);
    }
    embedded.stop().await;
    shared.stop().await;

    // The rate-limit script alone (three rules, as above), against the floor of any
    // script call on this server: redis-benchmark running `return 1` by EVALSHA.
    let limits = limit_checks(&redis.url(), args.concurrency, args.seconds).await;
    let floor = redis.benchmark_trivial_evalsha(args.concurrency);

    print_table(
        &format!("{} s per backend, client, server and redis-server", args.seconds),
        args.concurrency,
        &[
            ("Moderate, embedded backend", &on_embedded),
            ("Moderate, Redis backend", &on_redis),
            ("rate-limit script (3 rules), direct", &limits),
        ],
    );
    println!("| trivial EVALSHA, redis-benchmark | | | {floor:.0} | | |");
    println!(
        "Redis / embedded Moderate throughput: {:.0}%; rate-limit script / trivial EVALSHA: {:.0}%",
        100.0 * on_redis.per_second / on_embedded.per_second,
        100.0 * limits.per_second / floor
    );
}

/// `concurrency` tasks calling the rate-limit script for `seconds`.
async fn limit_checks(url: &str, concurrency: usize, seconds: u64) -> Report {
    let config =
        Config::from_file(toml::from_str(GENEROUS_LIMITS).expect("config"), &Overrides::default()).expect("valid");
    let limiter = Arc::new(modgate::limits::RedisLimiter::new(config.sites.values()));
    let link = Arc::new(
        modgate::store::RedisLink::connect(url, Duration::from_secs(1), Duration::from_secs(5))
            .await
            .expect("redis"),
    );
    closed_loop(concurrency, seconds, move |worker| {
        let (limiter, link) = (limiter.clone(), link.clone());
        let mut n = 0u64;
        move || {
            n += 1;
            let subjects = modgate::limits::LimitSubjects {
                ip: Some(std::net::IpAddr::from([
                    10,
                    (worker % 250) as u8,
                    (n / 250 % 250) as u8,
                    (n % 250) as u8,
                ])),
                email: Some(format!("{worker}-{n}")),
                thread: Some(format!("thread-{}", n % 50)),
                ..Default::default()
            };
            let (limiter, link) = (limiter.clone(), link.clone());
            async move {
                let result = link
                    .run(|mut conn| {
                        let (limiter, subjects) = (&limiter, &subjects);
                        async move { limiter.check(&mut conn, "default", subjects).await }
                    })
                    .await;
                matches!(result, Ok(Ok(())))
            }
        }
    })
    .await
}

/// The CPUs this process may run on, as the kernel lists them.
fn allowed_cpus() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
                .map(|list| list.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// A redis-server for the benchmark alone: a free loopback port, no persistence.
struct PrivateRedis {
    port: u16,
    child: std::process::Child,
}

impl PrivateRedis {
    fn start(cpus: Option<&str>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut command = match cpus {
            Some(cpus) => {
                let mut taskset = std::process::Command::new("taskset");
                taskset.args(["-c", cpus, "redis-server"]);
                taskset
            }
            None => std::process::Command::new("redis-server"),
        };
        let child = command
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                let through = if cpus.is_some() {
                    " and taskset (util-linux)"
                } else {
                    ""
                };
                eprintln!("modgate-load --redis needs redis-server (Debian package redis-server){through}: {e}");
                std::process::exit(2)
            });
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { port, child }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Requests per second of `EVALSHA <return 1> 0` from redis-benchmark.
    fn benchmark_trivial_evalsha(&self, concurrency: usize) -> f64 {
        let port = self.port.to_string();
        let cli = |args: &[&str]| {
            std::process::Command::new("redis-cli")
                .args(["-p", &port])
                .args(args)
                .output()
                .expect("redis-cli runs")
        };
        let sha = String::from_utf8_lossy(&cli(&["SCRIPT", "LOAD", "return 1"]).stdout)
            .trim()
            .to_string();
        let out = std::process::Command::new("redis-benchmark")
            .args([
                "-p",
                &port,
                "-c",
                &concurrency.to_string(),
                "-n",
                "200000",
                "-q",
                "EVALSHA",
                &sha,
                "0",
            ])
            .output()
            .expect("redis-benchmark runs");
        let text = String::from_utf8_lossy(&out.stdout);
        // "EVALSHA ...: 123456.79 requests per second, p50=0.1 msec" (after \r progress lines)
        text.rsplit('\r')
            .next()
            .and_then(|line| line.split(": ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected redis-benchmark output: {text:?}"))
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
