//! Service configuration: a TOML file, overridden by flags and environment variables,
//! validated in full before any port is bound.
//!
//! With no file at all modgate runs one site named `default` on 127.0.0.1 with embedded
//! state, so a newcomer can call it at once. Everything is checked up front: a typo in a
//! key, a threshold out of range or a public address without API keys stops the start
//! with one message naming the setting.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::captcha::provider::{Provider, VerifierSettings};
use crate::decisions::webhook::WebhookSettings;
use crate::text::TextAnalysis;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    /// Shared state for several replicas; unset: the embedded single-node backend.
    pub redis: Option<RedisSection>,
    /// People who may review held comments (`modgate queue`), with their tokens.
    #[serde(default)]
    pub moderators: Vec<ModeratorSection>,
    /// Sites by id. Empty: one `default` site with default settings.
    #[serde(default)]
    pub sites: BTreeMap<String, SiteSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// gRPC address.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Prometheus metrics address (HTTP, `/metrics`); off when unset.
    pub metrics_listen: Option<String>,
    /// Where the embedded backend keeps its files.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// A model file to use instead of the one built into the binary.
    pub model: Option<PathBuf>,
    /// Longest time in-flight calls get to finish after SIGTERM/SIGINT.
    #[serde(default = "default_grace_seconds")]
    pub shutdown_grace_seconds: u64,
    /// Largest accepted request message.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// "plain" or "json" log lines.
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// Serve the `Diagnostics.Echo` RPC used by the load generator.
    #[serde(default)]
    pub diagnostics: bool,
    /// Per-install secret that salts stored hashes of IPs and e-mail addresses. Generated
    /// and kept in the data directory when unset.
    pub hash_salt: Option<String>,
    /// HMAC key that signs built-in (ALTCHA) captcha challenges, at least 16 characters.
    /// Unset: derived from the install secret. Set it to share challenges with another
    /// ALTCHA server using the same key.
    pub altcha_hmac_key: Option<String>,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            metrics_listen: None,
            data_dir: default_data_dir(),
            model: None,
            shutdown_grace_seconds: default_grace_seconds(),
            max_message_bytes: default_max_message_bytes(),
            log_format: default_log_format(),
            diagnostics: false,
            hash_salt: None,
            altcha_hmac_key: None,
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:50051".to_string()
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("modgate-data")
}
fn default_grace_seconds() -> u64 {
    10
}
fn default_max_message_bytes() -> usize {
    256 * 1024
}
fn default_log_format() -> String {
    "plain".to_string()
}

/// `[redis]`: setting a URL moves all state (rate limits, decisions, the held queue,
/// duplicates, author history) to Redis.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://[user:password@]host:port[/db]` or `redis+unix:///path/to/socket`.
    pub url: Option<String>,
    /// A Redis Cluster instead: some of its nodes (`redis://host:port`); it finds the rest.
    #[serde(default)]
    pub cluster_nodes: Vec<String>,
    /// Longest wait for one Redis call before the site's failure policy decides.
    pub timeout_ms: Option<u64>,
    /// Longest wait for the first connection at start.
    pub connect_timeout_ms: Option<u64>,
    /// For `rediss://`: a PEM file of the certificate authorities to trust instead of the
    /// system's (a private CA).
    pub ca_file: Option<PathBuf>,
}

/// `[[moderators]]`: one person reviewing held comments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeratorSection {
    /// Shown in the audit trail.
    pub name: String,
    /// Sent by the CLI as `authorization: Bearer <token>` (at least 16 characters).
    pub token: String,
    /// Sites this moderator may review; empty: all.
    #[serde(default)]
    pub sites: Vec<String>,
}

/// A validated moderator.
#[derive(Clone)]
pub struct Moderator {
    pub name: String,
    pub token: String,
    /// Empty: every site.
    pub sites: Vec<String>,
}

impl std::fmt::Debug for Moderator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Moderator")
            .field("name", &self.name)
            .field("token", &"***")
            .field("sites", &self.sites)
            .finish()
    }
}

impl Moderator {
    pub fn may_review(&self, site: &str) -> bool {
        self.sites.is_empty() || self.sites.iter().any(|s| s == site)
    }
}

/// One site's policy, as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSection {
    /// Keys a CMS sends as `authorization: Bearer <key>`. Empty: no authentication
    /// (allowed only when listening on loopback).
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// Compute everything, record what would have happened, approve.
    #[serde(default)]
    pub shadow_mode: bool,
    /// Longest comment accepted, in characters.
    pub max_text_chars: Option<usize>,
    /// Most links a comment may carry before it is held (LINK_LIMIT).
    pub max_links: Option<u32>,
    /// Link hosts that never count against `max_links` (the site's own domain).
    #[serde(default)]
    pub allowed_link_domains: Vec<String>,
    /// Link hosts that get a comment rejected (BLOCKED_LINK).
    #[serde(default)]
    pub blocked_link_domains: Vec<String>,
    /// Terms that get a comment rejected (BLOCKED_TERM), matched after normalization, so
    /// "nhà cái" also catches "nha cai", "n.h.à c.á.i" and "NHÀ CÁI".
    #[serde(default)]
    pub banned_terms: Vec<String>,
    /// Terms that get a comment held for a moderator (SUSPECT_TERM).
    #[serde(default)]
    pub suspect_terms: Vec<String>,
    /// Hold the first comment of an author never approved before (NEW_AUTHOR).
    #[serde(default)]
    pub hold_new_authors: bool,
    /// "off" (a token, when sent, is still verified), "required", or "risk_based" (hold a
    /// borderline comment sent without a token with CAPTCHA_REQUIRED, so the CMS shows
    /// the captcha and resubmits the same comment with its token).
    pub captcha: Option<String>,
    /// Days to keep the text of decided comments (held ones are kept until resolved).
    pub retention_days: Option<u32>,
    /// How long the moderator who resolved a held comment may undo it (put it back in the
    /// queue) with `modgate queue undo`. Default 120; 0 turns undo off; at most 86,400.
    pub undo_window_seconds: Option<u64>,
    /// Score thresholds; unset ones come from the model.
    #[serde(default)]
    pub thresholds: ThresholdSection,
    /// Rate limits; unset: the defaults described in [`default_rate_limits`].
    pub rate_limits: Option<Vec<RateLimitSection>>,
    /// Copies of the same text site-wide within a day before DUPLICATE holds it.
    pub duplicate_site_copies: Option<u32>,
    /// When Redis is unavailable: "fail_open" (local limits only, decision marked
    /// degraded) or "fail_closed" (HOLD with DEPENDENCY_UNAVAILABLE).
    pub redis_failure: Option<String>,
    /// Built-in captcha difficulty: the secret number is at most this (the browser tries
    /// half of it on average). Default 50,000.
    pub altcha_max_number: Option<u64>,
    /// How long an issued built-in captcha challenge stays valid. Default 1,200 s.
    pub altcha_expiry_seconds: Option<u64>,
    /// Third-party captcha verifiers by provider: "turnstile", "hcaptcha", "recaptcha".
    #[serde(default)]
    pub captcha_providers: BTreeMap<String, CaptchaProviderSection>,
    /// Comments submitted sooner after the form was rendered are held (TOO_FAST), when the
    /// CMS sends `form_rendered_at`. Default 2; 0 turns the check off.
    pub min_fill_seconds: Option<u64>,
    /// Longest wait for a captcha provider's answer. Default 2,000 ms.
    pub captcha_timeout_ms: Option<u64>,
    /// What a comment gets when its provider cannot answer: "hold" (default), "reject"
    /// or "approve"; the reason is DEPENDENCY_UNAVAILABLE.
    pub captcha_provider_failure: Option<String>,
    /// Where to POST moderators' final decisions on held comments (http or https); no
    /// webhooks when unset. The CMS can also use WatchDecisions.
    pub webhook_url: Option<String>,
    /// The key that signs each webhook (HMAC-SHA256), shared with the CMS; required with
    /// `webhook_url`, at least 16 characters.
    pub webhook_secret: Option<String>,
    /// Longest wait for the CMS to answer one webhook POST. Default 5,000 ms.
    pub webhook_timeout_ms: Option<u64>,
    /// Attempts per event before it becomes a dead letter. Default 8.
    pub webhook_max_attempts: Option<u32>,
    /// Wait after the first failed attempt, doubled after each further one (at most 10
    /// minutes). Default 5,000 ms: 8 attempts then span about 10 minutes.
    pub webhook_retry_base_ms: Option<u64>,
}

/// `[sites.<id>.captcha_providers.<provider>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptchaProviderSection {
    /// The site's secret key with the provider.
    pub secret: String,
    /// The hostname tokens must have been solved on.
    pub hostname: Option<String>,
    /// The action the widget must have been rendered with (Turnstile, reCAPTCHA v3).
    pub action: Option<String>,
    /// reCAPTCHA v3: the lowest score accepted (0 to 1).
    pub min_score: Option<f32>,
    /// The provider's verification URL (default: the documented one).
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSection {
    pub spam_hold: Option<f32>,
    pub spam_reject: Option<f32>,
    pub abuse_hold: Option<f32>,
    pub abuse_reject: Option<f32>,
    pub hate_hold: Option<f32>,
    pub hate_reject: Option<f32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    /// What is counted: "ip", "ip_prefix" (IPv4 /24, IPv6 /64), "email", "user", "thread"
    /// or "site".
    pub key: String,
    /// Sustained rate, "N/second", "N/minute", "N/hour" or "N/day".
    pub rate: String,
    /// Comments allowed at once before the rate applies.
    pub burst: u32,
}

/// Overrides from the command line and environment (flags win over the environment,
/// both over the file).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub metrics_listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub redis_url: Option<String>,
}

/// What a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitKey {
    Ip,
    IpPrefix,
    Email,
    User,
    Thread,
    Site,
}

impl LimitKey {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKey::Ip => "ip",
            LimitKey::IpPrefix => "ip_prefix",
            LimitKey::Email => "email",
            LimitKey::User => "user",
            LimitKey::Thread => "thread",
            LimitKey::Site => "site",
        }
    }
}

/// One validated rate limit: `burst` at once, then one more every `period`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub key: LimitKey,
    /// Time to earn one comment back.
    pub period: Duration,
    pub burst: u32,
    /// As written, for messages.
    pub rate: String,
}

/// What a site's calls do while Redis is unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisFailure {
    /// Decide with what this process knows (its own rate limits, no shared history) and
    /// mark the decision degraded.
    #[default]
    FailOpen,
    /// Hold every comment for a moderator, with DEPENDENCY_UNAVAILABLE.
    FailClosed,
}

/// Validated `[redis]` settings.
#[derive(Clone, PartialEq)]
pub struct RedisConfig {
    /// One server; empty when `cluster_nodes` is set.
    pub url: String,
    /// Nodes of a Redis Cluster; empty for one server.
    pub cluster_nodes: Vec<String>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// PEM of the certificate authorities to trust for TLS; `None`: the system's.
    pub ca_pem: Option<Vec<u8>>,
}

impl RedisConfig {
    /// The URL (or the cluster's node URLs) with any password replaced, for logs and
    /// messages.
    pub fn redacted_url(&self) -> String {
        if self.cluster_nodes.is_empty() {
            redact_url(&self.url)
        } else {
            let nodes: Vec<String> = self.cluster_nodes.iter().map(|n| redact_url(n)).collect();
            format!("cluster {}", nodes.join(","))
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("private_ca", &self.ca_pem.is_some())
            .finish()
    }
}

/// `redis://user:secret@host` -> `redis://user:***@host`; URLs without a password are
/// returned as they are.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{path}")
            } else {
                format!("{scheme}://***@{host}{path}")
            }
        }
        None => url.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptchaMode {
    Off,
    Required,
    /// Ask for a captcha only when a comment without one is borderline.
    RiskBased,
}

/// A hold/reject pair for one score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreThresholds {
    pub hold: f32,
    pub reject: f32,
}

/// Normalized term, ready for matching: its compact form and its plain words.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// As written in the configuration, for reasons shown to moderators.
    pub written: String,
    /// Plain words (no diacritics, teencode expanded).
    pub words: Vec<String>,
    /// The same words with their tone marks, as folded (lowercase).
    pub toned: Vec<String>,
    /// The words run together without separators.
    pub compact: String,
}

impl Term {
    pub fn new(written: &str) -> Option<Self> {
        let analysis = TextAnalysis::of(written);
        let words: Vec<String> = analysis
            .tokens()
            .iter()
            .map(|t| analysis.plain(t).replace(' ', ""))
            .collect();
        let toned: Vec<String> = analysis
            .tokens()
            .iter()
            .map(|t| analysis.toned(t).to_string())
            .collect();
        let compact: String = analysis.compact().iter().collect();
        if words.is_empty() || compact.is_empty() {
            return None;
        }
        Some(Self {
            written: written.to_string(),
            words,
            toned,
            compact,
        })
    }
}

/// A site's validated policy.
#[derive(Debug, Clone)]
pub struct SitePolicy {
    pub id: String,
    pub api_keys: Vec<String>,
    pub shadow_mode: bool,
    pub max_text_chars: usize,
    pub max_links: u32,
    pub allowed_link_domains: Vec<String>,
    pub blocked_link_domains: Vec<String>,
    pub banned_terms: Vec<Term>,
    pub suspect_terms: Vec<Term>,
    pub hold_new_authors: bool,
    pub captcha: CaptchaMode,
    pub retention: Duration,
    /// See [`SiteSection::undo_window_seconds`]; zero: undo is off.
    pub undo_window: Duration,
    /// `None` for a score means: take it from the model.
    pub thresholds: ThresholdSection,
    pub rate_limits: Vec<RateLimit>,
    pub duplicate_site_copies: u32,
    pub redis_failure: RedisFailure,
    pub altcha_max_number: u64,
    pub altcha_expiry: Duration,
    pub captcha_verifiers: Vec<VerifierSettings>,
    pub captcha_timeout: Duration,
    /// See [`SiteSection::min_fill_seconds`].
    pub min_fill_time: Duration,
    /// The action for a comment whose captcha provider could not answer.
    pub captcha_provider_failure: crate::policy::Action,
    /// Signed POSTs of final decisions; `None`: no webhooks.
    pub webhook: Option<WebhookSettings>,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub model: Option<PathBuf>,
    pub shutdown_grace: Duration,
    pub max_message_bytes: usize,
    pub json_logs: bool,
    pub diagnostics: bool,
    pub hash_salt: Option<String>,
    pub altcha_hmac_key: Option<String>,
    /// Set: all state lives in Redis; unset: the embedded backend under `data_dir`.
    pub redis: Option<RedisConfig>,
    /// Empty: on loopback, a local moderator needs no token.
    pub moderators: Vec<Moderator>,
    pub sites: BTreeMap<String, SitePolicy>,
}

/// A configuration problem, naming the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

/// Rate limits when a site sets none: a reader posting from one address gets 5 comments
/// at once and then one every 12 seconds; one e-mail address 3 at once, then one a minute.
pub fn default_rate_limits() -> Vec<RateLimit> {
    vec![
        RateLimit {
            key: LimitKey::Ip,
            period: Duration::from_secs(12),
            burst: 5,
            rate: "5/minute".into(),
        },
        RateLimit {
            key: LimitKey::Email,
            period: Duration::from_secs(60),
            burst: 3,
            rate: "1/minute".into(),
        },
    ]
}

impl Config {
    /// Reads `path` (when given), applies the overrides and validates everything.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("cannot read config {}: {e}", path.display())))?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|e| ConfigError(format!("config {}: {}", path.display(), e.to_string().trim_end())))?
            }
            None => FileConfig {
                server: ServerSection::default(),
                redis: None,
                moderators: Vec::new(),
                sites: BTreeMap::new(),
            },
        };
        Self::from_file(file, overrides)
    }

    pub fn from_file(mut file: FileConfig, overrides: &Overrides) -> Result<Self, ConfigError> {
        if let Some(listen) = &overrides.listen {
            file.server.listen = listen.clone();
        }
        if let Some(metrics) = &overrides.metrics_listen {
            file.server.metrics_listen = Some(metrics.clone());
        }
        if let Some(dir) = &overrides.data_dir {
            file.server.data_dir = dir.clone();
        }
        if let Some(url) = &overrides.redis_url {
            let section = file.redis.get_or_insert_with(RedisSection::default);
            // A comma-separated list names the nodes of a cluster.
            if url.contains(',') {
                section.url = None;
                section.cluster_nodes = url.split(',').map(|n| n.trim().to_string()).collect();
            } else {
                section.url = Some(url.clone());
                section.cluster_nodes.clear();
            }
        }
        let redis = validate_redis(file.redis)?;
        let server = file.server;
        let listen = parse_addr("server.listen (MODGATE_LISTEN)", &server.listen)?;
        let metrics_listen = match &server.metrics_listen {
            Some(addr) if !addr.is_empty() => Some(parse_addr("server.metrics_listen (MODGATE_METRICS_LISTEN)", addr)?),
            _ => None,
        };
        if metrics_listen == Some(listen) && listen.port() != 0 {
            return err("server.metrics_listen must differ from server.listen");
        }
        let json_logs = match server.log_format.as_str() {
            "plain" => false,
            "json" => true,
            other => {
                return err(format!(
                    "server.log_format: expected \"plain\" or \"json\", got {other:?}"
                ));
            }
        };
        if server.max_message_bytes < 1024 {
            return err("server.max_message_bytes: at least 1024");
        }
        if let Some(salt) = &server.hash_salt
            && salt.len() < 16
        {
            return err("server.hash_salt: at least 16 characters (or leave it unset to generate one)");
        }
        if let Some(key) = &server.altcha_hmac_key
            && key.len() < 16
        {
            return err("server.altcha_hmac_key: at least 16 characters (or leave it unset to derive one)");
        }
        let mut sections = file.sites;
        if sections.is_empty() {
            sections.insert("default".to_string(), SiteSection::default());
        }
        let mut sites = BTreeMap::new();
        let mut key_owner: BTreeMap<String, String> = BTreeMap::new();
        for (id, section) in sections {
            let site = validate_site(&id, section)?;
            for key in &site.api_keys {
                if let Some(other) = key_owner.insert(key.clone(), id.clone()) {
                    return err(format!(
                        "sites.{id}.api_keys: a key is also used by site {other:?}; keys identify a site"
                    ));
                }
            }
            if site.api_keys.is_empty() && !listen.ip().is_loopback() {
                return err(format!(
                    "sites.{id}.api_keys: listening on {listen}, which is not a loopback address, needs API keys for every site"
                ));
            }
            sites.insert(id, site);
        }
        let mut moderators = Vec::new();
        for (i, m) in file.moderators.into_iter().enumerate() {
            if m.name.trim().is_empty() {
                return err(format!("moderators[{i}].name: required"));
            }
            if m.token.len() < 16 {
                return err(format!("moderators[{i}].token: at least 16 characters"));
            }
            if key_owner.contains_key(&m.token) || moderators.iter().any(|o: &Moderator| o.token == m.token) {
                return err(format!(
                    "moderators[{i}].token: already used by a site or another moderator"
                ));
            }
            for site in &m.sites {
                if !sites.contains_key(site) {
                    return err(format!("moderators[{i}].sites: no site {site:?}"));
                }
            }
            moderators.push(Moderator {
                name: m.name,
                token: m.token,
                sites: m.sites,
            });
        }
        if moderators.is_empty() && !listen.ip().is_loopback() {
            return err(format!(
                "moderators: listening on {listen}, which is not a loopback address, needs [[moderators]] with tokens for the review API"
            ));
        }
        Ok(Config {
            listen,
            metrics_listen,
            data_dir: server.data_dir,
            model: server.model,
            shutdown_grace: Duration::from_secs(server.shutdown_grace_seconds),
            max_message_bytes: server.max_message_bytes,
            json_logs,
            diagnostics: server.diagnostics,
            hash_salt: server.hash_salt,
            altcha_hmac_key: server.altcha_hmac_key,
            redis,
            moderators,
            sites,
        })
    }
}

fn validate_redis(section: Option<RedisSection>) -> Result<Option<RedisConfig>, ConfigError> {
    let Some(section) = section else {
        return Ok(None);
    };
    let url = section.url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
    let cluster_nodes: Vec<String> = section.cluster_nodes.iter().map(|n| n.trim().to_string()).collect();
    if url.is_none() && cluster_nodes.is_empty() {
        if section.timeout_ms.is_some() || section.connect_timeout_ms.is_some() || section.ca_file.is_some() {
            return err("redis.url (MODGATE_REDIS_URL): required when [redis] has other settings");
        }
        return Ok(None);
    }
    if url.is_some() && !cluster_nodes.is_empty() {
        return err("redis: set url (one server) or cluster_nodes (a cluster), not both");
    }
    let check = |name: &str, url: &str, unix_allowed: bool| -> Result<(), ConfigError> {
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        match scheme {
            "redis" | "rediss" => {}
            "redis+unix" | "unix" if unix_allowed => {}
            _ => {
                return err(format!(
                    "{name}: expected redis://host:port, rediss://host:port (TLS){}, got {}",
                    if unix_allowed { " or redis+unix:///path" } else { "" },
                    redact_url(url)
                ));
            }
        }
        if let Err(e) = redis::Client::open(url) {
            return err(format!("{name}: {} ({e})", redact_url(url)));
        }
        Ok(())
    };
    match &url {
        Some(url) => check("redis.url (MODGATE_REDIS_URL)", url, true)?,
        None => {
            for (i, node) in cluster_nodes.iter().enumerate() {
                check(&format!("redis.cluster_nodes[{i}]"), node, false)?;
            }
        }
    }
    let timeout_ms = section.timeout_ms.unwrap_or(50);
    if !(1..=10_000).contains(&timeout_ms) {
        return err(format!("redis.timeout_ms: 1 to 10000, got {timeout_ms}"));
    }
    let connect_timeout_ms = section.connect_timeout_ms.unwrap_or(5_000);
    if !(1..=120_000).contains(&connect_timeout_ms) {
        return err(format!(
            "redis.connect_timeout_ms: 1 to 120000, got {connect_timeout_ms}"
        ));
    }
    let ca_pem = match &section.ca_file {
        None => None,
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| ConfigError(format!("redis.ca_file: cannot read {}: {e}", path.display())))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return err(format!("redis.ca_file: {} holds no PEM certificate", path.display()));
            }
            Some(pem)
        }
    };
    Ok(Some(RedisConfig {
        url: url.unwrap_or_default(),
        ca_pem,
        cluster_nodes,
        timeout: Duration::from_millis(timeout_ms),
        connect_timeout: Duration::from_millis(connect_timeout_ms),
    }))
}

fn parse_addr(name: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    // "localhost:50051" is common in examples; resolve only that name, never DNS.
    if let Some(port) = value.strip_prefix("localhost:")
        && let Ok(port) = port.parse::<u16>()
    {
        return Ok(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port));
    }
    err(format!(
        "{name}: expected an address like 127.0.0.1:50051 or [::1]:50051, got {value:?}"
    ))
}

fn validate_site(id: &str, s: SiteSection) -> Result<SitePolicy, ConfigError> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return err(format!(
            "sites.{id}: a site id is 1-64 characters of letters, digits, '-', '_' or '.'"
        ));
    }
    for key in &s.api_keys {
        if key.len() < 16 {
            return err(format!("sites.{id}.api_keys: keys must be at least 16 characters"));
        }
    }
    let max_text_chars = s.max_text_chars.unwrap_or(10_000);
    if !(1..=1_000_000).contains(&max_text_chars) {
        return err(format!("sites.{id}.max_text_chars: 1 to 1,000,000"));
    }
    let captcha = match s.captcha.as_deref().unwrap_or("off") {
        "off" => CaptchaMode::Off,
        "required" => CaptchaMode::Required,
        "risk_based" => CaptchaMode::RiskBased,
        other => {
            return err(format!(
                "sites.{id}.captcha: expected \"off\", \"required\" or \"risk_based\", got {other:?}"
            ));
        }
    };
    let t = s.thresholds;
    for (name, value) in [
        ("spam_hold", t.spam_hold),
        ("spam_reject", t.spam_reject),
        ("abuse_hold", t.abuse_hold),
        ("abuse_reject", t.abuse_reject),
        ("hate_hold", t.hate_hold),
        ("hate_reject", t.hate_reject),
    ] {
        if let Some(v) = value
            && !(0.0..=1.0).contains(&v)
        {
            return err(format!(
                "sites.{id}.thresholds.{name}: a probability between 0 and 1, got {v}"
            ));
        }
    }
    for (score, hold, reject) in [
        ("spam", t.spam_hold, t.spam_reject),
        ("abuse", t.abuse_hold, t.abuse_reject),
        ("hate", t.hate_hold, t.hate_reject),
    ] {
        if let (Some(h), Some(r)) = (hold, reject)
            && h > r
        {
            return err(format!(
                "sites.{id}.thresholds: {score}_hold ({h}) is above {score}_reject ({r})"
            ));
        }
    }
    let terms = |name: &str, list: &[String]| -> Result<Vec<Term>, ConfigError> {
        list.iter()
            .enumerate()
            .map(|(i, written)| {
                Term::new(written)
                    .ok_or_else(|| ConfigError(format!("sites.{id}.{name}[{i}]: {written:?} has no letters or digits")))
            })
            .collect()
    };
    let banned_terms = terms("banned_terms", &s.banned_terms)?;
    let suspect_terms = terms("suspect_terms", &s.suspect_terms)?;
    let domains = |name: &str, list: &[String]| -> Result<Vec<String>, ConfigError> {
        list.iter()
            .enumerate()
            .map(|(i, d)| {
                let d = d.trim().trim_start_matches("www.").to_ascii_lowercase();
                if d.is_empty()
                    || !d.contains('.')
                    || d.chars().any(|c| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                {
                    err(format!("sites.{id}.{name}[{i}]: expected a domain like example.com"))
                } else {
                    Ok(d)
                }
            })
            .collect()
    };
    let redis_failure = match s.redis_failure.as_deref().unwrap_or("fail_open") {
        "fail_open" => RedisFailure::FailOpen,
        "fail_closed" => RedisFailure::FailClosed,
        other => {
            return err(format!(
                "sites.{id}.redis_failure: expected \"fail_open\" or \"fail_closed\", got {other:?}"
            ));
        }
    };
    let altcha_max_number = s.altcha_max_number.unwrap_or(50_000);
    if !(1_000..=100_000_000).contains(&altcha_max_number) {
        return err(format!(
            "sites.{id}.altcha_max_number: 1000 to 100000000, got {altcha_max_number}"
        ));
    }
    let altcha_expiry_seconds = s.altcha_expiry_seconds.unwrap_or(1_200);
    if !(10..=86_400).contains(&altcha_expiry_seconds) {
        return err(format!(
            "sites.{id}.altcha_expiry_seconds: 10 to 86400, got {altcha_expiry_seconds}"
        ));
    }
    let mut captcha_verifiers = Vec::new();
    for (name, p) in &s.captcha_providers {
        let provider = Provider::from_name(name).ok_or_else(|| {
            ConfigError(format!(
                "sites.{id}.captcha_providers.{name}: expected turnstile, hcaptcha or recaptcha"
            ))
        })?;
        if p.secret.trim().is_empty() {
            return err(format!("sites.{id}.captcha_providers.{name}.secret: required"));
        }
        if let Some(score) = p.min_score
            && !(0.0..=1.0).contains(&score)
        {
            return err(format!(
                "sites.{id}.captcha_providers.{name}.min_score: 0 to 1, got {score}"
            ));
        }
        let url = p.url.clone().unwrap_or_else(|| provider.default_url().to_string());
        if reqwest::Url::parse(&url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
            return err(format!(
                "sites.{id}.captcha_providers.{name}.url: expected an http(s) URL, got {url:?}"
            ));
        }
        captcha_verifiers.push(VerifierSettings {
            provider,
            secret: p.secret.clone(),
            url,
            hostname: p.hostname.clone(),
            action: p.action.clone(),
            min_score: p.min_score,
        });
    }
    let captcha_timeout_ms = s.captcha_timeout_ms.unwrap_or(2_000);
    if !(10..=30_000).contains(&captcha_timeout_ms) {
        return err(format!(
            "sites.{id}.captcha_timeout_ms: 10 to 30000, got {captcha_timeout_ms}"
        ));
    }
    let captcha_provider_failure = match s.captcha_provider_failure.as_deref().unwrap_or("hold") {
        "hold" => crate::policy::Action::Hold,
        "reject" => crate::policy::Action::Reject,
        "approve" => crate::policy::Action::Approve,
        other => {
            return err(format!(
                "sites.{id}.captcha_provider_failure: expected \"hold\", \"reject\" or \"approve\", got {other:?}"
            ));
        }
    };
    let webhook = validate_webhook(id, &s)?;
    let undo_window_seconds = s.undo_window_seconds.unwrap_or(120);
    if undo_window_seconds > 86_400 {
        return err(format!(
            "sites.{id}.undo_window_seconds: 0 (off) to 86400, got {undo_window_seconds}"
        ));
    }
    let rate_limits = match s.rate_limits {
        None => default_rate_limits(),
        Some(list) => list
            .into_iter()
            .enumerate()
            .map(|(i, r)| parse_rate_limit(&format!("sites.{id}.rate_limits[{i}]"), r))
            .collect::<Result<_, _>>()?,
    };
    Ok(SitePolicy {
        id: id.to_string(),
        api_keys: s.api_keys,
        shadow_mode: s.shadow_mode,
        max_text_chars,
        max_links: s.max_links.unwrap_or(3),
        allowed_link_domains: domains("allowed_link_domains", &s.allowed_link_domains)?,
        blocked_link_domains: domains("blocked_link_domains", &s.blocked_link_domains)?,
        banned_terms,
        suspect_terms,
        hold_new_authors: s.hold_new_authors,
        captcha,
        retention: Duration::from_secs(u64::from(s.retention_days.unwrap_or(30)) * 86_400),
        undo_window: Duration::from_secs(undo_window_seconds),
        thresholds: t,
        rate_limits,
        duplicate_site_copies: s.duplicate_site_copies.unwrap_or(5).max(2),
        redis_failure,
        altcha_max_number,
        altcha_expiry: Duration::from_secs(altcha_expiry_seconds),
        captcha_verifiers,
        captcha_timeout: Duration::from_millis(captcha_timeout_ms),
        min_fill_time: Duration::from_secs(s.min_fill_seconds.unwrap_or(2).min(3600)),
        captcha_provider_failure,
        webhook,
    })
}

fn validate_webhook(id: &str, s: &SiteSection) -> Result<Option<WebhookSettings>, ConfigError> {
    let url = s.webhook_url.as_deref().map(str::trim).filter(|u| !u.is_empty());
    let Some(url) = url else {
        if s.webhook_secret.is_some()
            || s.webhook_timeout_ms.is_some()
            || s.webhook_max_attempts.is_some()
            || s.webhook_retry_base_ms.is_some()
        {
            return err(format!(
                "sites.{id}.webhook_url: required when other webhook_* settings are set"
            ));
        }
        return Ok(None);
    };
    if reqwest::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "http" | "https") || !u.has_host()) {
        return err(format!(
            "sites.{id}.webhook_url: expected an http(s) URL, got {:?}",
            url.chars().take(200).collect::<String>()
        ));
    }
    let secret = match s.webhook_secret.as_deref() {
        None | Some("") => {
            return err(format!(
                "sites.{id}.webhook_secret: required when webhook_url is set (the CMS checks each webhook's signature with it)"
            ));
        }
        Some(secret) if secret.len() < 16 => {
            return err(format!("sites.{id}.webhook_secret: at least 16 characters"));
        }
        Some(secret) => secret.to_string(),
    };
    let timeout_ms = s.webhook_timeout_ms.unwrap_or(5_000);
    if !(10..=60_000).contains(&timeout_ms) {
        return err(format!("sites.{id}.webhook_timeout_ms: 10 to 60000, got {timeout_ms}"));
    }
    let max_attempts = s.webhook_max_attempts.unwrap_or(8);
    if !(1..=50).contains(&max_attempts) {
        return err(format!("sites.{id}.webhook_max_attempts: 1 to 50, got {max_attempts}"));
    }
    let retry_base_ms = s.webhook_retry_base_ms.unwrap_or(5_000);
    if !(1..=600_000).contains(&retry_base_ms) {
        return err(format!(
            "sites.{id}.webhook_retry_base_ms: 1 to 600000, got {retry_base_ms}"
        ));
    }
    Ok(Some(WebhookSettings {
        url: url.to_string(),
        secret,
        timeout: Duration::from_millis(timeout_ms),
        max_attempts,
        retry_base: Duration::from_millis(retry_base_ms),
    }))
}

fn parse_rate_limit(name: &str, r: RateLimitSection) -> Result<RateLimit, ConfigError> {
    let key = match r.key.as_str() {
        "ip" => LimitKey::Ip,
        "ip_prefix" => LimitKey::IpPrefix,
        "email" => LimitKey::Email,
        "user" => LimitKey::User,
        "thread" => LimitKey::Thread,
        "site" => LimitKey::Site,
        other => {
            return err(format!(
                "{name}.key: expected one of ip, ip_prefix, email, user, thread, site; got {other:?}"
            ));
        }
    };
    let (count, unit) = r.rate.split_once('/').ok_or_else(|| {
        ConfigError(format!(
            "{name}.rate: expected \"N/unit\" like \"5/minute\", got {:?}",
            r.rate
        ))
    })?;
    let count: u32 = count.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
        ConfigError(format!(
            "{name}.rate: the count must be a positive whole number, got {count:?}"
        ))
    })?;
    let unit_seconds: u64 = match unit.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3_600,
        "d" | "day" => 86_400,
        other => {
            return err(format!(
                "{name}.rate: unit must be second, minute, hour or day, got {other:?}"
            ));
        }
    };
    if r.burst == 0 {
        return err(format!("{name}.burst: at least 1"));
    }
    let period = Duration::from_secs(unit_seconds) / count;
    if period.is_zero() {
        return err(format!("{name}.rate: too fast to count"));
    }
    Ok(RateLimit {
        key,
        period,
        burst: r.burst,
        rate: r.rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        Config::from_file(file, &Overrides::default())
    }

    #[test]
    fn no_configuration_gives_one_default_site_on_loopback() {
        let config = Config::load(None, &Overrides::default()).unwrap();
        assert!(config.listen.ip().is_loopback());
        assert_eq!(config.sites.keys().collect::<Vec<_>>(), ["default"]);
        let site = &config.sites["default"];
        assert!(site.api_keys.is_empty());
        assert_eq!(site.max_text_chars, 10_000);
        assert_eq!(site.rate_limits, default_rate_limits());
    }

    #[test]
    fn overrides_win_over_the_file() {
        let file: FileConfig = toml::from_str("[server]\nlisten = \"127.0.0.1:1\"\n").unwrap();
        let overrides = Overrides {
            listen: Some("127.0.0.1:2".into()),
            ..Overrides::default()
        };
        assert_eq!(Config::from_file(file, &overrides).unwrap().listen.port(), 2);
    }

    #[test]
    fn public_address_needs_keys_for_every_site() {
        let e = load("[server]\nlisten = \"0.0.0.0:50051\"\n").unwrap_err().to_string();
        assert!(
            e.contains("sites.default.api_keys") && e.contains("not a loopback"),
            "{e}"
        );
        let no_moderators =
            load("[server]\nlisten = \"0.0.0.0:50051\"\n[sites.news]\napi_keys = [\"0123456789abcdef0123\"]\n")
                .unwrap_err()
                .to_string();
        assert!(no_moderators.contains("[[moderators]]"), "{no_moderators}");
        let ok = load(
            "[server]\nlisten = \"0.0.0.0:50051\"\n[[moderators]]\nname = \"lan\"\ntoken = \"moderator-token-0123\"\n\
             [sites.news]\napi_keys = [\"0123456789abcdef0123\"]\n",
        );
        assert!(ok.is_ok(), "{ok:?}");
        let reused = load(
            "[[moderators]]\nname = \"lan\"\ntoken = \"0123456789abcdef0123\"\n[sites.news]\napi_keys = [\"0123456789abcdef0123\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(reused.contains("already used"), "{reused}");
    }

    #[test]
    fn redis_urls_lose_their_password_in_messages() {
        assert_eq!(redact_url("redis://:s3cret@cache:6379/0"), "redis://:***@cache:6379/0");
        assert_eq!(
            redact_url("redis://app:s3cret@cache:6379"),
            "redis://app:***@cache:6379"
        );
        assert_eq!(redact_url("redis://cache:6379/2"), "redis://cache:6379/2");
        assert_eq!(
            redact_url("redis+unix:///run/redis.sock"),
            "redis+unix:///run/redis.sock"
        );
        let e = load("[redis]\nurl = \"http://app:s3cret@cache\"\n")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("s3cret"), "{e}");
        let config = load("[redis]\nurl = \"redis://app:s3cret@cache:6379\"\n").unwrap();
        let redis = config.redis.expect("redis configured");
        assert_eq!(redis.timeout, Duration::from_millis(50), "default timeout");
        assert!(!format!("{redis:?}").contains("s3cret"));
        assert_eq!(config.sites["default"].redis_failure, RedisFailure::FailOpen);
    }

    #[test]
    fn the_redis_url_override_switches_the_backend() {
        let overrides = Overrides {
            redis_url: Some("redis://127.0.0.1:6390".into()),
            ..Overrides::default()
        };
        let config = Config::from_file(toml::from_str("").unwrap(), &overrides).unwrap();
        assert_eq!(config.redis.unwrap().url, "redis://127.0.0.1:6390");
        let embedded = Config::from_file(toml::from_str("").unwrap(), &Overrides::default()).unwrap();
        assert!(embedded.redis.is_none());
        let cluster = Overrides {
            redis_url: Some("redis://10.0.0.1:6379, redis://10.0.0.2:6379".into()),
            ..Overrides::default()
        };
        let config = Config::from_file(toml::from_str("[redis]\nurl = \"redis://one\"\n").unwrap(), &cluster).unwrap();
        let redis = config.redis.unwrap();
        assert_eq!(redis.cluster_nodes, ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]);
        assert!(redis.url.is_empty(), "the override replaces the file's single server");
    }

    #[test]
    fn errors_name_the_setting() {
        for (text, expected) in [
            ("[sites.a]\ncaptcha = \"sometimes\"\n", "sites.a.captcha"),
            (
                "[sites.a.thresholds]\nspam_hold = 1.5\n",
                "sites.a.thresholds.spam_hold",
            ),
            (
                "[sites.a.thresholds]\nspam_hold = 0.9\nspam_reject = 0.5\n",
                "spam_hold (0.9) is above spam_reject",
            ),
            (
                "[[sites.a.rate_limits]]\nkey = \"ip\"\nrate = \"5/fortnight\"\nburst = 1\n",
                "sites.a.rate_limits[0].rate",
            ),
            (
                "[[sites.a.rate_limits]]\nkey = \"cookie\"\nrate = \"5/minute\"\nburst = 1\n",
                "rate_limits[0].key",
            ),
            ("[sites.a]\nbanned_terms = [\"...\"]\n", "sites.a.banned_terms[0]"),
            ("[sites.a]\napi_keys = [\"short\"]\n", "at least 16"),
            ("[server]\nlisten = \"nowhere\"\n", "server.listen"),
            ("[server]\nlog_format = \"xml\"\n", "server.log_format"),
            ("[sites.a]\nspam_treshold = 0.5\n", "unknown field"),
            ("[sites.a]\naltcha_max_number = 10\n", "sites.a.altcha_max_number"),
            ("[sites.a]\nredis_failure = \"panic\"\n", "sites.a.redis_failure"),
            (
                "[sites.a]\nundo_window_seconds = 86401\n",
                "sites.a.undo_window_seconds: 0 (off) to 86400",
            ),
            (
                "[sites.a]\nwebhook_url = \"https://cms.example/hook\"\n",
                "sites.a.webhook_secret: required when webhook_url is set",
            ),
            (
                "[sites.a]\nwebhook_url = \"https://cms.example/hook\"\nwebhook_secret = \"short\"\n",
                "sites.a.webhook_secret: at least 16",
            ),
            (
                "[sites.a]\nwebhook_url = \"ftp://cms.example/hook\"\nwebhook_secret = \"0123456789abcdef\"\n",
                "sites.a.webhook_url: expected an http(s) URL",
            ),
            (
                "[sites.a]\nwebhook_secret = \"0123456789abcdef\"\n",
                "sites.a.webhook_url: required",
            ),
            (
                "[sites.a]\nwebhook_url = \"http://cms\"\nwebhook_secret = \"0123456789abcdef\"\nwebhook_max_attempts = 0\n",
                "sites.a.webhook_max_attempts",
            ),
            ("[redis]\nurl = \"http://cache:6379\"\n", "redis.url"),
            (
                "[redis]\nurl = \"rediss://cache:6380\"\nca_file = \"/nonexistent/ca.pem\"\n",
                "redis.ca_file: cannot read /nonexistent/ca.pem",
            ),
            ("[redis]\nurl = \"redis://cache\"\ntimeout_ms = 0\n", "redis.timeout_ms"),
            ("[redis]\ntimeout_ms = 20\n", "redis.url (MODGATE_REDIS_URL): required"),
            (
                "[redis]\nurl = \"redis://a\"\ncluster_nodes = [\"redis://b:6379\"]\n",
                "not both",
            ),
            (
                "[redis]\ncluster_nodes = [\"redis://b:6379\", \"b:6379\"]\n",
                "redis.cluster_nodes[1]",
            ),
        ] {
            let e = load(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{text:?}: {e}");
        }
    }

    #[test]
    fn webhooks_have_defaults_and_keep_their_secret_out_of_debug_output() {
        let c = load(
            "[sites.a]\nwebhook_url = \"https://cms.example/modgate\"\nwebhook_secret = \"whsec-0123456789abcdef\"\n[sites.b]\n",
        )
        .unwrap();
        let hook = c.sites["a"].webhook.as_ref().expect("configured");
        assert_eq!(hook.url, "https://cms.example/modgate");
        assert_eq!(hook.timeout, Duration::from_millis(5_000));
        assert_eq!(hook.max_attempts, 8);
        assert_eq!(hook.retry_base, Duration::from_millis(5_000));
        assert!(c.sites["b"].webhook.is_none());
        let debug = format!("{:?}", c.sites["a"]);
        assert!(!debug.contains("whsec-0123456789abcdef"), "{debug}");
    }

    #[test]
    fn a_key_belongs_to_one_site() {
        let text =
            "[sites.a]\napi_keys = [\"0123456789abcdef0123\"]\n[sites.b]\napi_keys = [\"0123456789abcdef0123\"]\n";
        assert!(load(text).unwrap_err().to_string().contains("also used by site"));
    }

    #[test]
    fn rates_parse_into_periods() {
        let c = load("[[sites.a.rate_limits]]\nkey = \"ip_prefix\"\nrate = \"30/hour\"\nburst = 4\n").unwrap();
        let limit = &c.sites["a"].rate_limits[0];
        assert_eq!(limit.key, LimitKey::IpPrefix);
        assert_eq!(limit.period, Duration::from_secs(120));
        assert_eq!(limit.burst, 4);
    }

    #[test]
    fn terms_are_normalized_for_matching() {
        let term = Term::new("Nhà Cái").unwrap();
        assert_eq!(term.words, ["nha", "cai"]);
        assert_eq!(term.compact, "nhacai");
    }
}
