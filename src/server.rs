//! Wiring and lifecycle of `modgate serve`: state, services, health, reflection,
//! metrics, background upkeep and graceful shutdown.
//!
//! [`run`] takes already-bound listeners and a shutdown future, so tests bind
//! `127.0.0.1:0`, run the real server in process and talk to it over the network.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::api::metrics::Metrics;
use crate::api::proto::diagnostics_server::DiagnosticsServer;
use crate::api::proto::moderation_server::ModerationServer;
use crate::api::proto::review_server::ReviewServer;
use crate::api::{DiagnosticsService, ModerationService, ReviewService, proto};
use crate::captcha::altcha::Altcha;
use crate::classify::shipped::shipped_model;
use crate::classify::{Classifier, ClassifierHandle};
use crate::config::Config;
use crate::decisions::webhook::WebhookWorker;
use crate::decisions::{DecisionFeed, POLL_INTERVAL};
use crate::limits::RedisLimiter;
use crate::pipeline::{Pipeline, SharedLimits, now_ms};
use crate::store::embedded::Retention;
use crate::store::{DecisionSpool, EmbeddedStore, RedisLink, RedisStore, Store};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("model: {0}")]
    Model(String),
    #[error("data directory {path}: {message}")]
    DataDir { path: String, message: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("redis at {url}: {message}")]
    Redis { url: String, message: String },
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection: {0}")]
    Reflection(String),
    #[error("webhook HTTP client: {0}")]
    WebhookClient(String),
}

/// Loads the configured model, or the one built into the binary.
pub fn load_classifier(path: Option<&Path>) -> Result<Classifier, ServeError> {
    match path {
        Some(path) => Classifier::load(path).map_err(|e| ServeError::Model(e.to_string())),
        None => match shipped_model() {
            Some(file) => Classifier::from_file(file.map_err(|e| ServeError::Model(e.to_string()))?)
                .map_err(|e| ServeError::Model(e.to_string())),
            None => Err(ServeError::Model(
                "this binary was built without a model; set server.model in the config".to_string(),
            )),
        },
    }
}

/// Loads the configured model file again and puts it in use, for the comments that
/// arrive from now on. Any error (no model file configured, an unreadable or corrupt file,
/// a checksum that does not match, a model of another normalizer version) leaves the model
/// in use as it was. Returns the versions before and after.
pub fn reload_model(pipeline: &Pipeline, path: Option<&Path>) -> Result<(String, String), ServeError> {
    let Some(path) = path else {
        return Err(ServeError::Model(
            "no model file is configured (server.model), so the model built into the binary stays".into(),
        ));
    };
    let classifier = Classifier::load(path).map_err(|e| ServeError::Model(e.to_string()))?;
    let to = classifier.version().to_string();
    let from = pipeline.replace_classifier(classifier).version().to_string();
    Ok((from, to))
}

/// The per-install secret that salts stored hashes: from the config, else a file in the
/// data directory created on first start (readable by the owner only).
fn install_salt(config: &Config) -> Result<Vec<u8>, ServeError> {
    if let Some(salt) = &config.hash_salt {
        return Ok(salt.as_bytes().to_vec());
    }
    let path = config.data_dir.join("install-secret");
    let data_dir_error = |e: std::io::Error| ServeError::DataDir {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 16 => Ok(bytes),
        Ok(_) => Err(ServeError::DataDir {
            path: path.display().to_string(),
            message: "secret is too short".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: [u8; 32] = rand::random();
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            write_private(&path, hex.as_bytes()).map_err(data_dir_error)?;
            Ok(hex.into_bytes())
        }
        Err(e) => Err(data_dir_error(e)),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Everything built from the configuration before any port is touched.
pub struct Prepared {
    pub config: Config,
    pub pipeline: Arc<Pipeline>,
    /// The embedded backend, when Redis is not configured (it needs syncing and compacting).
    pub embedded: Option<Arc<EmbeddedStore>>,
    pub metrics: Arc<Metrics>,
}

/// Loads the model and opens the state (the data directory, or a connection to Redis).
/// Fails before anything listens.
pub async fn prepare(config: Config) -> Result<Prepared, ServeError> {
    let classifier = load_classifier(config.model.as_deref())?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| ServeError::DataDir {
        path: config.data_dir.display().to_string(),
        message: e.to_string(),
    })?;
    let retention = Retention {
        by_site: config.sites.values().map(|s| (s.id.clone(), s.retention)).collect(),
        default: Duration::from_secs(30 * 86_400),
    };
    let salt: Vec<u8>;
    let (store, embedded, shared_limits): (Arc<dyn Store>, _, _) = match &config.redis {
        None => {
            salt = install_salt(&config)?;
            let embedded = Arc::new(EmbeddedStore::open(&config.data_dir, retention, now_ms())?);
            (embedded.clone(), Some(embedded), None)
        }
        Some(redis) => {
            let ca = redis.ca_pem.as_deref();
            let link = if redis.cluster_nodes.is_empty() {
                RedisLink::connect_with_ca(&redis.url, ca, redis.timeout, redis.connect_timeout).await
            } else {
                RedisLink::connect_cluster(&redis.cluster_nodes, ca, redis.timeout, redis.connect_timeout).await
            }
            .map_err(|e| ServeError::Redis {
                url: redis.redacted_url(),
                message: e.to_string(),
            })?;
            salt = match &config.hash_salt {
                Some(salt) => salt.as_bytes().to_vec(),
                None => link.shared_salt().await.map_err(|e| ServeError::Redis {
                    url: redis.redacted_url(),
                    message: e.to_string(),
                })?,
            };
            let link = Arc::new(link);
            let store = RedisStore::new(link.clone(), retention.by_site, retention.default);
            let shared = SharedLimits {
                limiter: RedisLimiter::new(config.sites.values()),
                link,
            };
            (Arc::new(store), None, Some(shared))
        }
    };
    let metrics = Arc::new(Metrics::new());
    metrics.model_loaded(classifier.version());
    let handle = Arc::new(ClassifierHandle::new(classifier));
    let altcha_key = match &config.altcha_hmac_key {
        Some(key) => key.clone().into_bytes(),
        // A key of its own, derived so the install secret itself never signs anything
        // a browser sees.
        None => {
            let mut mac = Hmac::<Sha256>::new_from_slice(&salt).expect("HMAC takes any key length");
            mac.update(b"altcha challenge key");
            mac.finalize().into_bytes().to_vec()
        }
    };
    let mut pipeline = Pipeline::new(
        config.sites.clone(),
        handle,
        store,
        shared_limits,
        salt,
        Altcha::new(altcha_key),
    );
    if config.redis.is_some() {
        pipeline = pipeline.with_spool(DecisionSpool::open(&config.data_dir)?);
    }
    let pipeline = Arc::new(pipeline);
    Ok(Prepared {
        config,
        pipeline,
        embedded,
        metrics,
    })
}

/// Serves until `shutdown` resolves, then drains: health turns NOT_SERVING, no new calls
/// are accepted, calls in flight get up to the configured grace period.
pub async fn run(
    prepared: Prepared,
    grpc: TcpListener,
    metrics_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let Prepared {
        config,
        pipeline,
        embedded,
        metrics,
    } = prepared;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<ModerationServer<ModerationService>>()
        .await;
    health_reporter.set_serving::<ReviewServer<ReviewService>>().await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;

    // One signal fans out to the gRPC server, the metrics server, the upkeep tasks, the
    // WatchDecisions streams and the webhook workers.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let feed = Arc::new(DecisionFeed::new(
        pipeline.store().clone(),
        stop_rx.clone(),
        POLL_INTERVAL,
    ));

    let moderation = ModerationServer::new(ModerationService::new(pipeline.clone(), metrics.clone(), feed.clone()))
        .max_decoding_message_size(config.max_message_bytes);
    let diagnostics = config.diagnostics.then(|| DiagnosticsServer::new(DiagnosticsService));
    let review = ReviewServer::new(ReviewService::new(
        pipeline.clone(),
        metrics.clone(),
        &config.moderators,
        feed.clone(),
    ));
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move { until_stopped(&mut rx).await };
    let reporter = health_reporter.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: health NOT_SERVING, draining calls in flight");
        reporter.set_not_serving::<ModerationServer<ModerationService>>().await;
        reporter.set_not_serving::<ReviewServer<ReviewService>>().await;
        // Probes that ask about the whole server (Kubernetes' gRPC probe does by default)
        // must see the drain too.
        reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        let _ = stop_tx.send(true);
    });

    if let Some(listener) = metrics_listener {
        let metrics = metrics.clone();
        let stop = stopped(stop_rx.clone());
        tokio::spawn(async move {
            if let Err(e) = crate::api::metrics::serve(listener, metrics, stop).await {
                tracing::error!(error = %e, "metrics server failed");
            }
        });
    }
    spawn_upkeep(pipeline.clone(), embedded.clone(), stop_rx.clone());
    spawn_model_reloads(pipeline.clone(), config.model.clone(), metrics.clone(), stop_rx.clone());
    spawn_spool_replay(pipeline.clone(), metrics.clone(), stop_rx.clone());
    spawn_webhook_workers(&config, &feed, &metrics)?;

    let router = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(moderation)
        .add_service(review)
        .add_optional_service(diagnostics);
    let mut server = tokio::spawn(router.serve_with_incoming_shutdown(
        // Small replies must not wait for Nagle's algorithm (40 ms stalls measured without).
        TcpIncoming::from(grpc).with_nodelay(Some(true)),
        stopped(stop_rx.clone()),
    ));

    let mut stop_wait = stop_rx.clone();
    let result = tokio::select! {
        finished = &mut server => finished,
        () = until_stopped(&mut stop_wait) => {
            match tokio::time::timeout(config.shutdown_grace, &mut server).await {
                Ok(finished) => finished,
                Err(_) => {
                    tracing::warn!(grace = ?config.shutdown_grace, "grace period over; closing remaining calls");
                    server.abort();
                    Ok(Ok(()))
                }
            }
        }
    };
    if let Some(store) = &embedded
        && let Err(e) = store.sync()
    {
        tracing::error!(error = %e, "could not sync the decision log on shutdown");
    }
    match result {
        Ok(served) => served.map_err(ServeError::from),
        Err(join) => Err(ServeError::Reflection(format!("server task failed: {join}"))),
    }
}

/// One webhook worker per site with a `webhook_url`. They stop with the server; an event
/// in flight then is sent again after the restart (its position had not moved).
fn spawn_webhook_workers(config: &Config, feed: &Arc<DecisionFeed>, metrics: &Arc<Metrics>) -> Result<(), ServeError> {
    if config.sites.values().all(|s| s.webhook.is_none()) {
        return Ok(());
    }
    let client = reqwest::Client::builder()
        // A redirect would resend a signed body somewhere the site did not configure.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("modgate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ServeError::WebhookClient(e.to_string()))?;
    // Names this process in the Redis lease; random, so replicas never share a name.
    let holder = format!("{:016x}", rand::random::<u64>());
    for site in config.sites.values() {
        if let Some(settings) = &site.webhook {
            let worker = WebhookWorker::new(
                feed.clone(),
                site.id.clone(),
                settings.clone(),
                client.clone(),
                holder.clone(),
                metrics.clone(),
            );
            tokio::spawn(worker.run());
        }
    }
    Ok(())
}

/// Reloads the model file on SIGHUP, the signal daemons reload their files on, so a model
/// retrained on moderators' labels goes live without dropping a connection or a call.
/// Loading (decode, checksum, table) takes tens of milliseconds, so it runs off the
/// request threads, and comments keep being scored with the old model until the swap.
fn spawn_model_reloads(
    pipeline: Arc<Pipeline>,
    path: Option<PathBuf>,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    #[cfg(unix)]
    {
        let mut hangups = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler: the model cannot be reloaded without a restart");
                return;
            }
        };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    received = hangups.recv() => if received.is_none() { return },
                    () = until_stopped(&mut stop) => return,
                }
                let (pipeline, path) = (pipeline.clone(), path.clone());
                let reloaded = tokio::task::spawn_blocking(move || reload_model(&pipeline, path.as_deref())).await;
                match reloaded {
                    Ok(Ok((from, to))) => {
                        metrics.model_loaded(&to);
                        metrics.model_reload("loaded");
                        tracing::info!(from = %from, to = %to, "model reloaded");
                    }
                    Ok(Err(e)) => {
                        metrics.model_reload("failed");
                        tracing::error!(error = %e, "model reload failed; the model in use stays");
                    }
                    Err(e) => {
                        metrics.model_reload("failed");
                        tracing::error!(error = %e, "model reload failed; the model in use stays");
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (pipeline, path, metrics, &mut stop);
}

/// Resolves once the stop flag is set (the borrow of the flag ends here, so callers can
/// hold this across awaits in `Send` futures).
async fn until_stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Forgets idle rate-limit keys every minute; compacts the embedded decision log every
/// hour (Redis expires its own keys).
fn spawn_upkeep(
    pipeline: Arc<Pipeline>,
    store: Option<Arc<EmbeddedStore>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut minute = tokio::time::interval(Duration::from_secs(60));
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = minute.tick() => {}
                () = until_stopped(&mut stop) => return,
            }
            ticks += 1;
            pipeline.limiter().forget_idle();
            if let Some(store) = store.clone()
                && ticks.is_multiple_of(60)
            {
                let compacted =
                    tokio::task::spawn_blocking(move || store.compact(now_ms(), crate::pipeline::DUPLICATE_WINDOW))
                        .await;
                if let Ok(Err(e)) = compacted {
                    tracing::error!(error = %e, "compacting the decision log failed");
                }
            }
        }
    });
}

/// Every second, hands decisions spooled during a Redis outage to Redis, once it answers;
/// one last try when the server stops (what is left stays on disk for the next start).
fn spawn_spool_replay(pipeline: Arc<Pipeline>, metrics: Arc<Metrics>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Some(spool) = pipeline.spool().cloned() else {
        return;
    };
    tokio::spawn(async move {
        let mut second = tokio::time::interval(SPOOL_REPLAY_INTERVAL);
        loop {
            let stopping = tokio::select! {
                _ = second.tick() => false,
                () = until_stopped(&mut stop) => true,
            };
            if !spool.is_empty() {
                match spool.replay(pipeline.store().as_ref()).await {
                    Ok(0) => {}
                    Ok(stored) => {
                        tracing::info!(
                            stored,
                            waiting = spool.len(),
                            "spooled decisions stored in shared state"
                        )
                    }
                    Err(e) => tracing::error!(error = %e, "rewriting the decision spool failed"),
                }
            }
            metrics.spooled(spool.len());
            if stopping {
                return;
            }
        }
    });
}

/// How often the spool is offered to Redis: recovery is noticed within this.
const SPOOL_REPLAY_INTERVAL: Duration = Duration::from_secs(1);

/// Resolves on SIGTERM (what Kubernetes sends) or SIGINT (Ctrl-C).
pub async fn termination_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
