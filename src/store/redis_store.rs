//! The Redis backend of [`Store`]: what every replica must see the same way.
//!
//! Keys of one site share the hash tag `{site}`, so each script below touches one cluster
//! slot. Every key carries a TTL except the decisions of comments still held (they wait
//! for a moderator, however long that takes) and the held queue itself:
//!
//! | key | holds | lives |
//! | --- | --- | --- |
//! | `modgate:{site}:decision:<comment id>` | the decision record (JSON) | the site's retention; held ones (undone ones too) until resolved |
//! | `modgate:{site}:held` | sorted set of held comment ids, by decision time | while non-empty |
//! | `modgate:{site}:seen:<fingerprint>` | sightings of one text, by time | the duplicate window |
//! | `modgate:{site}:seen:<fingerprint>:<author>` | the same, for one author | the duplicate window |
//! | `modgate:{site}:approved:<author>` | count of the author's approved comments | a year after the last |
//! | `modgate:{site}:captcha:<token id>` | a used captcha token (replay guard) | until the token expires |
//! | `modgate:{site}:audit` | stream of moderator actions | the newest million |
//! | `modgate:{site}:decision-events` | stream of final decisions for the CMS (id = cursor) | the newest 100,000 |
//! | `modgate:{site}:webhook:position` | cursor of the last event the webhook is done with | no TTL |
//! | `modgate:{site}:webhook:dead` | hash of dead letters by event id (JSON) | until delivered or removed |
//! | `modgate:{site}:webhook:lease` | the replica delivering the site's webhooks | the lease's TTL |
//!
//! Every call is bounded by `timeout`; past it, or when Redis is unreachable, the call
//! fails with [`StoreError::Unavailable`] and the pipeline's failure policy decides.
//! After a failure, [`RedisLink`] answers "unavailable" at once for a short pause instead
//! of letting every call wait out the timeout again, then lets one call through to see
//! whether Redis is back (the connection manager reconnects by itself).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;

mod outbox;

use super::events::{DECISION_EVENTS_KEPT, new_event_id};
use super::{
    Admission, AdmissionRequest, AuditEntry, DeadLetter, DecisionEvent, DecisionRecord, EventCursor, Recorded,
    Reopened, Resolution, Resolved, SeenBefore, Store, StoreError,
};
use crate::limits::{GCRA, RateBucket};
use crate::policy::Action;

/// Sightings kept per text: the duplicate thresholds are single digits, so a flood of one
/// text is counted up to here and no further, and its memory stays bounded.
const MAX_SIGHTINGS: u32 = 1000;
/// Audit entries kept per site (approximately: Redis trims whole stream nodes).
const AUDIT_KEPT: u64 = 1_000_000;
/// How long an author's approval count lives after their last approved comment.
const AUTHOR_HISTORY: Duration = Duration::from_secs(365 * 86_400);

const RECORD_SCRIPT: &str = r"
-- KEYS: decision, held queue, author's approval counter (or the decision key again)
-- ARGV: record JSON, comment id, decided at (ms), held (0/1), approved with author (0/1),
--       decision TTL (ms), approval counter TTL (ms)
local existing = redis.call('GET', KEYS[1])
if existing then
  return existing
end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[6])
end
if ARGV[5] == '1' then
  redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
end
return false
";

/// Overwrites a decision (a held comment re-decided), keeping the held queue in step.
/// KEYS: decision, held queue, author's approval counter (or the decision key again)
/// ARGV: record JSON, comment id, decided at (ms), held (0/1), approved with author (0/1),
///       decision TTL (ms), approval counter TTL (ms)
const REPLACE_SCRIPT: &str = r"
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[6])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
if ARGV[5] == '1' then
  redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
end
return 1
";

/// A moderator's resolution, as a compare-and-set: written only if the decision is still
/// the one the resolution was computed from, so of two racing moderators one wins. The
/// winner's decision event is appended to the site's stream in the same script: a script
/// runs whole or not at all, so a stored resolution always has its event (and a refused
/// one never does), which is what lets the CMS get every decision at least once.
/// KEYS: decision, held queue, author's approval counter (or the decision key again),
///       decision-event stream
/// ARGV: the decision as read, the resolved decision, comment id, approved with author
///       (0/1), decision TTL (ms), approval counter TTL (ms), event JSON, events kept
/// Returns {1, event stream id} when written, else {0, the decision as it is now or ''}.
const RESOLVE_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then
  return {0, current or ''}
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
redis.call('ZREM', KEYS[2], ARGV[3])
if ARGV[4] == '1' then
  redis.call('INCR', KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
end
local id = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[8], '*', 'event', ARGV[7])
return {1, id}
";

/// A moderator's undo, as a compare-and-set like [`RESOLVE_SCRIPT`]: written only if the
/// decision is still the resolved one the undo was checked against, so of two racing
/// undos (or an undo and a resolution after an earlier undo) exactly one wins. The
/// comment goes back in the held queue at its first hold time, its decision loses its
/// expiry (held decisions wait for a moderator), the approval the undone resolution
/// counted for the author is taken back, and the HOLD event is appended, all in one
/// script, so the CMS hears of every undo that took effect and of no other.
/// KEYS: decision, held queue, author's approval counter (or the decision key again),
///       decision-event stream
/// ARGV: the decision as read, the reopened decision, comment id, first held at (ms),
///       take an approval back (0/1), event JSON, events kept
/// Returns {1, event stream id} when written, else {0, the decision as it is now or ''}.
const REOPEN_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then
  return {0, current or ''}
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
if ARGV[5] == '1' then
  local approved = tonumber(redis.call('GET', KEYS[3]) or '0')
  if approved > 0 then
    redis.call('DECR', KEYS[3])
  end
end
local id = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 'event', ARGV[6])
return {1, id}
";

/// Counting sightings of a text: drop those older than the window, count the rest, add
/// this one, keep at most `cap`; the key expires with the window.
const SIGHTINGS_LIB: &str = r"
local function count_then_add(key, now, window, member, cap)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (now - window))
  local before = redis.call('ZCARD', key)
  redis.call('ZADD', key, now, member)
  if before + 1 > cap then
    redis.call('ZREMRANGEBYRANK', key, 0, before - cap)
  end
  redis.call('PEXPIRE', key, window)
  return before
end
";

/// KEYS: sightings of the text, sightings of the text by this author (or the first again)
/// ARGV: now (ms), window (ms), has author (0/1), a unique member, most sightings kept
const SEEN_BODY: &str = r"
local now, window, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5])
local site_wide = count_then_add(KEYS[1], now, window, ARGV[4], cap)
local by_author = 0
if ARGV[3] == '1' then
  by_author = count_then_add(KEYS[2], now, window, ARGV[4], cap)
end
return {site_wide, by_author}
";

/// Everything before the decision in one round trip. Nothing is counted for a comment
/// decided before.
/// KEYS: decision, sightings of the text, sightings by the author, author's approvals,
///       then the rate-limit buckets (unused slots repeat the decision key)
/// ARGV: count a sighting (0/1), sighting has an author (0/1), want approvals (0/1),
///       now (ms), window (ms), unique member, most sightings kept, GCRA now (us or ''),
///       then interval (us) and burst per bucket
/// Returns {decided before (0/1), its JSON or '', refused by bucket (0: none), wait (us),
///          sightings site-wide, by the author, approvals} with -1 for what was not asked.
const ADMIT_BODY: &str = r"
local existing = redis.call('GET', KEYS[1])
if existing then
  return {1, existing, 0, 0, -1, -1, -1}
end
local buckets = #KEYS - 4
local refused_by, wait = 0, 0
if buckets > 0 then
  refused_by, wait = count_in_buckets(5, buckets, 9, now_us(ARGV[8]))
end
local site_wide, by_author = -1, -1
if ARGV[1] == '1' then
  local now, window, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[7])
  site_wide = count_then_add(KEYS[2], now, window, ARGV[6], cap)
  by_author = 0
  if ARGV[2] == '1' then
    by_author = count_then_add(KEYS[3], now, window, ARGV[6], cap)
  end
end
local approved = -1
if ARGV[3] == '1' then
  approved = tonumber(redis.call('GET', KEYS[4]) or '0')
end
return {0, '', refused_by, wait, site_wide, by_author, approved}
";

/// How long calls skip Redis after one failed, before one is let through again.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_millis(250);

/// A connection to one Redis server or to a Redis Cluster; both reconnect by themselves.
#[derive(Clone)]
pub enum SharedConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for SharedConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            SharedConnection::Single(conn) => conn.req_packed_command(cmd),
            SharedConnection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            SharedConnection::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            SharedConnection::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            SharedConnection::Single(conn) => conn.get_db(),
            SharedConnection::Cluster(conn) => conn.get_db(),
        }
    }
}

/// The connection every Redis-backed part shares, with its time limit and a breaker.
pub struct RedisLink {
    conn: SharedConnection,
    timeout: Duration,
    /// Zero while Redis answers; else when (in ms since `epoch`) to try it again.
    paused_until_ms: AtomicU64,
    epoch: Instant,
}

impl RedisLink {
    /// Connects to one server, waiting at most `connect_timeout`; afterwards reconnects
    /// by itself.
    pub async fn connect(url: &str, timeout: Duration, connect_timeout: Duration) -> Result<Self, StoreError> {
        Self::connect_with_ca(url, None, timeout, connect_timeout).await
    }

    /// [`Self::connect`], trusting the certificate authorities in `ca_pem` (instead of the
    /// system's) for a `rediss://` URL.
    pub async fn connect_with_ca(
        url: &str,
        ca_pem: Option<&[u8]>,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Self, StoreError> {
        install_tls_provider();
        let client = match ca_pem {
            None => redis::Client::open(url),
            Some(pem) => redis::Client::build_with_tls(url, certificates(pem)),
        }
        .map_err(|e| StoreError::Unavailable(format!("redis url: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(timeout));
        let conn = tokio::time::timeout(connect_timeout, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| StoreError::Unavailable(format!("redis: no connection within {connect_timeout:?}")))?
            .map_err(unavailable)?;
        Ok(Self::over(SharedConnection::Single(conn), timeout))
    }

    /// Connects to a Redis Cluster through any of its `nodes` (it learns the others),
    /// trusting `ca_pem` for TLS when given.
    pub async fn connect_cluster(
        nodes: &[String],
        ca_pem: Option<&[u8]>,
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Self, StoreError> {
        install_tls_provider();
        let mut builder = redis::cluster::ClusterClient::builder(nodes.iter().map(String::as_str))
            .connection_timeout(connect_timeout)
            .response_timeout(timeout);
        if let Some(pem) = ca_pem {
            builder = builder.certs(certificates(pem));
        }
        let client = builder
            .build()
            .map_err(|e| StoreError::Unavailable(format!("redis cluster nodes: {e}")))?;
        let conn = tokio::time::timeout(connect_timeout, client.get_async_connection())
            .await
            .map_err(|_| StoreError::Unavailable(format!("redis cluster: no connection within {connect_timeout:?}")))?
            .map_err(unavailable)?;
        Ok(Self::over(SharedConnection::Cluster(conn), timeout))
    }

    fn over(conn: SharedConnection, timeout: Duration) -> Self {
        Self {
            conn,
            timeout,
            paused_until_ms: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Runs one Redis call within the timeout, or fails at once while paused.
    pub async fn run<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(SharedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        let paused_until = self.paused_until_ms.load(Ordering::Relaxed);
        if paused_until != 0 {
            if now_ms < paused_until {
                return Err(StoreError::Unavailable(
                    "redis is unavailable (retrying shortly)".into(),
                ));
            }
            // One call probes; the others keep skipping until it reports.
            if self
                .paused_until_ms
                .compare_exchange(
                    paused_until,
                    now_ms + PAUSE_AFTER_FAILURE.as_millis() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
            {
                return Err(StoreError::Unavailable(
                    "redis is unavailable (retrying shortly)".into(),
                ));
            }
        }
        let result = match tokio::time::timeout(self.timeout, call(self.conn.clone())).await {
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis did not answer within {} ms",
                self.timeout.as_millis()
            ))),
        };
        match &result {
            Ok(_) => self.paused_until_ms.store(0, Ordering::Relaxed),
            Err(_) => {
                let until = self.epoch.elapsed().as_millis() as u64 + PAUSE_AFTER_FAILURE.as_millis() as u64;
                self.paused_until_ms.store(until.max(1), Ordering::Relaxed);
            }
        }
        result
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The install's secret for hashing IPs and e-mail addresses, shared by every replica
    /// (hashes must agree for shared limits and author history): the first replica to
    /// start stores a random one, the others read it.
    pub async fn shared_salt(&self) -> Result<Vec<u8>, StoreError> {
        let candidate = format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>());
        let salt: String = self
            .run(|mut conn| async move {
                redis::pipe()
                    .cmd("SET")
                    .arg(SALT_KEY)
                    .arg(candidate)
                    .arg("NX")
                    .ignore()
                    .cmd("GET")
                    .arg(SALT_KEY)
                    .query_async::<(String,)>(&mut conn)
                    .await
                    .map(|(salt,)| salt)
            })
            .await?;
        Ok(salt.into_bytes())
    }
}

/// Where the shared hashing secret lives; no TTL (hashes made with it live on).
const SALT_KEY: &str = "modgate:install-secret";

pub struct RedisStore {
    link: std::sync::Arc<RedisLink>,
    /// Per site; `default_retention` for sites not listed.
    retention: HashMap<String, Duration>,
    default_retention: Duration,
    record_script: redis::Script,
    replace_script: redis::Script,
    resolve_script: redis::Script,
    reopen_script: redis::Script,
    seen_script: redis::Script,
    admit_script: redis::Script,
    lease_script: redis::Script,
}

fn key(site: &str, rest: &str) -> String {
    format!("modgate:{{{site}}}:{rest}")
}

impl RedisStore {
    pub fn new(
        link: std::sync::Arc<RedisLink>,
        retention: HashMap<String, Duration>,
        default_retention: Duration,
    ) -> Self {
        Self {
            link,
            retention,
            default_retention,
            record_script: redis::Script::new(RECORD_SCRIPT),
            replace_script: redis::Script::new(REPLACE_SCRIPT),
            resolve_script: redis::Script::new(RESOLVE_SCRIPT),
            reopen_script: redis::Script::new(REOPEN_SCRIPT),
            seen_script: redis::Script::new(&format!("{SIGHTINGS_LIB}\n{SEEN_BODY}")),
            admit_script: redis::Script::new(&format!("{GCRA}\n{SIGHTINGS_LIB}\n{ADMIT_BODY}")),
            lease_script: redis::Script::new(outbox::LEASE_SCRIPT),
        }
    }

    fn retention_of(&self, site: &str) -> Duration {
        self.retention.get(site).copied().unwrap_or(self.default_retention)
    }
}

/// rustls needs one process-wide choice of cryptography (ring, built here); a second
/// call finds it chosen and changes nothing.
fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn certificates(ca_pem: &[u8]) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(ca_pem.to_vec()),
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

fn parse(json: &str) -> Result<DecisionRecord, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Unavailable(format!("redis holds an unreadable decision: {e}")))
}

fn sightings_keys(site_id: &str, content_fingerprint: u64, author_key: Option<&str>) -> (String, String) {
    let texts = key(site_id, &format!("seen:{content_fingerprint:016x}"));
    let by_author = author_key.map_or_else(|| texts.clone(), |a| format!("{texts}:{a}"));
    (texts, by_author)
}

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn admit(&self, request: AdmissionRequest<'_>) -> Result<Admission, StoreError> {
        let site = request.site_id;
        let decision_key = key(site, &format!("decision:{}", request.comment_id));
        let (texts, by_author) = match request.sighting {
            Some(s) => sightings_keys(site, s.content_fingerprint, s.author_key),
            None => (decision_key.clone(), decision_key.clone()),
        };
        let approvals = request
            .approvals_of
            .map_or_else(|| decision_key.clone(), |a| key(site, &format!("approved:{a}")));
        let mut invocation = self.admit_script.prepare_invoke();
        invocation.key(&decision_key).key(texts).key(by_author).key(approvals);
        for bucket in request.rate_buckets {
            invocation.key(&bucket.key);
        }
        let sighting = request.sighting;
        invocation
            .arg(u8::from(sighting.is_some()))
            .arg(u8::from(sighting.is_some_and(|s| s.author_key.is_some())))
            .arg(u8::from(request.approvals_of.is_some()))
            .arg(sighting.map_or(0, |s| s.now_ms))
            .arg(sighting.map_or(1, |s| s.window.as_millis().max(1) as u64))
            .arg(format!(
                "{}:{:016x}",
                sighting.map_or(0, |s| s.now_ms),
                rand::random::<u64>()
            ))
            .arg(MAX_SIGHTINGS)
            .arg("");
        for bucket in request.rate_buckets {
            invocation.arg(bucket.interval_us).arg(bucket.burst);
        }
        type Answer = (u8, String, usize, u64, i64, i64, i64);
        let (decided, json, refused_by, wait_us, site_wide, by_author, approved): Answer = self
            .link
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        if decided == 1 {
            return Ok(Admission::Existing(Box::new(parse(&json)?)));
        }
        let buckets: &[RateBucket] = request.rate_buckets;
        Ok(Admission::New {
            seen: (site_wide >= 0).then(|| SeenBefore {
                site_wide: site_wide as u32,
                by_author: by_author.max(0) as u32,
            }),
            approved: (approved >= 0).then_some(approved as u64),
            limited: RateBucket::verdict(buckets, refused_by, wait_us).err(),
        })
    }

    async fn get(&self, site_id: &str, comment_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        let decision = key(site_id, &format!("decision:{comment_id}"));
        let json: Option<String> = self
            .link
            .run(|mut conn| async move { redis::cmd("GET").arg(decision).query_async(&mut conn).await })
            .await?;
        json.as_deref().map(parse).transpose()
    }

    async fn resolve(&self, site_id: &str, comment_id: &str, resolution: Resolution) -> Result<Resolved, StoreError> {
        let decision_key = key(site_id, &format!("decision:{comment_id}"));
        let read_key = decision_key.clone();
        let json: Option<String> = self
            .link
            .run(|mut conn| async move { redis::cmd("GET").arg(read_key).query_async(&mut conn).await })
            .await?;
        let Some(json) = json else {
            return Ok(Resolved::NotFound);
        };
        let current = parse(&json)?;
        if !current.is_held() {
            return Ok(Resolved::NotHeld(Box::new(current)));
        }
        let resolved = current.resolved(resolution);
        let approved_author = resolved
            .author_key
            .as_deref()
            .filter(|_| resolved.effective_action() == Action::Approve);
        let event = DecisionEvent {
            // The stream id the script's XADD gives it is the cursor; this one is not stored.
            cursor: EventCursor::default(),
            event_id: new_event_id(),
            site_id: site_id.to_string(),
            comment_id: comment_id.to_string(),
            moderation_id: resolved.moderation_id.clone(),
            action: resolved.effective_action(),
            moderator: resolved
                .resolution
                .as_ref()
                .map(|r| r.moderator.clone())
                .unwrap_or_default(),
            note: resolved.resolution.as_ref().map(|r| r.note.clone()).unwrap_or_default(),
            decided_at_ms: resolved.resolution.as_ref().map_or(0, |r| r.at_ms),
        };
        let mut invocation = self.resolve_script.prepare_invoke();
        invocation
            .key(&decision_key)
            .key(key(site_id, "held"))
            .key(approved_author.map_or_else(|| decision_key.clone(), |a| key(site_id, &format!("approved:{a}"))))
            .key(key(site_id, "decision-events"))
            .arg(json)
            .arg(serde_json::to_string(&resolved).expect("records serialize"))
            .arg(comment_id)
            .arg(u8::from(approved_author.is_some()))
            .arg(self.retention_of(site_id).as_millis().max(1) as u64)
            .arg(AUTHOR_HISTORY.as_millis() as u64)
            .arg(serde_json::to_string(&event).expect("events serialize"))
            .arg(DECISION_EVENTS_KEPT);
        let (written, answer): (u8, String) = self
            .link
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        match (written, answer.as_str()) {
            (1, _) => Ok(Resolved::Done(Box::new(resolved))),
            (_, "") => Ok(Resolved::NotFound),
            (_, now) => Ok(Resolved::NotHeld(Box::new(parse(now)?))),
        }
    }

    async fn reopen(&self, expected: &DecisionRecord, reopened: DecisionRecord) -> Result<Reopened, StoreError> {
        let site_id = expected.site_id.as_str();
        let decision_key = key(site_id, &format!("decision:{}", expected.comment_id));
        // The compare runs on the bytes Redis holds (read here, compared again inside the
        // script), not on a re-serialization of `expected`, which need not match them
        // byte for byte (a record written by an older version, say).
        let read_key = decision_key.clone();
        let json: Option<String> = self
            .link
            .run(|mut conn| async move { redis::cmd("GET").arg(read_key).query_async(&mut conn).await })
            .await?;
        let Some(json) = json else {
            return Ok(Reopened::NotFound);
        };
        let current = parse(&json)?;
        if &current != expected {
            return Ok(Reopened::Changed(Box::new(current)));
        }
        // Not made by `DecisionRecord::reopened`: nothing to write.
        let Some(reopening) = reopened.reopenings.last() else {
            return Ok(Reopened::Changed(Box::new(current)));
        };
        let taken_back = expected
            .author_key
            .as_deref()
            .filter(|_| expected.effective_action() == Action::Approve);
        let event = DecisionEvent {
            // The stream id the script's XADD gives it is the cursor; this one is not stored.
            cursor: EventCursor::default(),
            event_id: new_event_id(),
            site_id: site_id.to_string(),
            comment_id: expected.comment_id.clone(),
            moderation_id: expected.moderation_id.clone(),
            action: Action::Hold,
            moderator: reopening.moderator.clone(),
            note: reopening.note.clone(),
            decided_at_ms: reopening.at_ms,
        };
        let mut invocation = self.reopen_script.prepare_invoke();
        invocation
            .key(&decision_key)
            .key(key(site_id, "held"))
            .key(taken_back.map_or_else(|| decision_key.clone(), |a| key(site_id, &format!("approved:{a}"))))
            .key(key(site_id, "decision-events"))
            .arg(json)
            .arg(serde_json::to_string(&reopened).expect("records serialize"))
            .arg(&expected.comment_id)
            .arg(expected.decided_at_ms)
            .arg(u8::from(taken_back.is_some()))
            .arg(serde_json::to_string(&event).expect("events serialize"))
            .arg(DECISION_EVENTS_KEPT);
        let (written, answer): (u8, String) = self
            .link
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        match (written, answer.as_str()) {
            (1, _) => Ok(Reopened::Done(Box::new(reopened))),
            (_, "") => Ok(Reopened::NotFound),
            (_, now) => Ok(Reopened::Changed(Box::new(parse(now)?))),
        }
    }

    async fn recent_decision_events(
        &self,
        site_id: &str,
        since_ms: u64,
        limit: usize,
    ) -> Result<Vec<DecisionEvent>, StoreError> {
        self.events_since_newest_first(site_id, since_ms, limit).await
    }

    async fn decision_events(
        &self,
        site_id: &str,
        after: Option<EventCursor>,
        limit: usize,
    ) -> Result<Vec<DecisionEvent>, StoreError> {
        self.events_after(site_id, after, limit).await
    }

    async fn webhook_position(&self, site_id: &str) -> Result<Option<EventCursor>, StoreError> {
        self.delivered_position(site_id).await
    }

    async fn set_webhook_position(&self, site_id: &str, cursor: EventCursor) -> Result<(), StoreError> {
        self.store_delivered_position(site_id, cursor).await
    }

    async fn put_dead_letter(&self, letter: DeadLetter) -> Result<(), StoreError> {
        self.store_dead_letter(letter).await
    }

    async fn dead_letters(&self, site_id: &str) -> Result<Vec<DeadLetter>, StoreError> {
        self.site_dead_letters(site_id).await
    }

    async fn remove_dead_letter(&self, site_id: &str, event_id: &str) -> Result<bool, StoreError> {
        self.drop_dead_letter(site_id, event_id).await
    }

    async fn webhook_lease(&self, site_id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.lease(site_id, holder, ttl).await
    }

    async fn audit_append(&self, entry: AuditEntry) -> Result<(), StoreError> {
        let stream = key(&entry.site_id, "audit");
        let json = serde_json::to_string(&entry).expect("audit entries serialize");
        let _: String = self
            .link
            .run(|mut conn| async move {
                redis::cmd("XADD")
                    .arg(stream)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(AUDIT_KEPT)
                    .arg("*")
                    .arg("entry")
                    .arg(json)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(())
    }

    async fn audit_log(&self, site_id: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let stream = key(site_id, "audit");
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .link
            .run(|mut conn| async move {
                redis::cmd("XREVRANGE")
                    .arg(stream)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(limit)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        entries
            .into_iter()
            .flat_map(|(_, fields)| fields.into_iter().map(|(_, json)| json))
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| StoreError::Unavailable(format!("redis holds an unreadable audit entry: {e}")))
            })
            .collect()
    }

    async fn replace(&self, record: DecisionRecord) -> Result<(), StoreError> {
        let invocation = self.write_invocation(&self.replace_script, &record);
        let _: i64 = self
            .link
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(())
    }

    async fn record(&self, record: DecisionRecord) -> Result<Recorded, StoreError> {
        let invocation = self.write_invocation(&self.record_script, &record);
        let existing: Option<String> = self
            .link
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        match existing {
            None => Ok(Recorded::New),
            Some(json) => Ok(Recorded::Existing(Box::new(parse(&json)?))),
        }
    }

    async fn seen_before(
        &self,
        site_id: &str,
        content_fingerprint: u64,
        author_key: Option<&str>,
        window: Duration,
        now_ms: u64,
    ) -> Result<SeenBefore, StoreError> {
        let (texts, by_author) = sightings_keys(site_id, content_fingerprint, author_key);
        let member = format!("{now_ms}:{:016x}", rand::random::<u64>());
        let mut invocation = self.seen_script.prepare_invoke();
        invocation
            .key(&texts)
            .key(by_author)
            .arg(now_ms)
            .arg(window.as_millis().max(1) as u64)
            .arg(u8::from(author_key.is_some()))
            .arg(member)
            .arg(MAX_SIGHTINGS);
        let (site_wide, by_author): (u32, u32) = self
            .link
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(SeenBefore { by_author, site_wide })
    }

    async fn approved_count(&self, site_id: &str, author_key: &str) -> Result<u64, StoreError> {
        let counter = key(site_id, &format!("approved:{author_key}"));
        let count: Option<u64> = self
            .link
            .run(|mut conn| async move { redis::cmd("GET").arg(counter).query_async(&mut conn).await })
            .await?;
        Ok(count.unwrap_or(0))
    }

    async fn first_use(&self, site_id: &str, token: &str, expires_at_ms: u64, now_ms: u64) -> Result<bool, StoreError> {
        let used = key(site_id, &format!("captcha:{token}"));
        let ttl_ms = expires_at_ms.saturating_sub(now_ms).max(1);
        let first: Option<String> = self
            .link
            .run(|mut conn| async move {
                redis::cmd("SET")
                    .arg(used)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(first.is_some())
    }

    async fn held(&self, site_id: &str) -> Result<Vec<DecisionRecord>, StoreError> {
        let queue = key(site_id, "held");
        let ids: Vec<String> = self
            .link
            .run(|mut conn| async move {
                redis::cmd("ZRANGE")
                    .arg(queue)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| key(site_id, &format!("decision:{id}"))).collect();
        let records: Vec<Option<String>> = self
            .link
            .run(|mut conn| async move { redis::cmd("MGET").arg(keys).query_async(&mut conn).await })
            .await?;
        let mut held = Vec::with_capacity(records.len());
        for json in records.into_iter().flatten() {
            let record = parse(&json)?;
            if record.is_held() {
                held.push(record);
            }
        }
        held.sort_by_key(|r| r.decided_at_ms);
        Ok(held)
    }
}

impl RedisStore {
    /// The keys and arguments the record and replace scripts share.
    fn write_invocation<'s>(&self, script: &'s redis::Script, record: &DecisionRecord) -> redis::ScriptInvocation<'s> {
        let site = &record.site_id;
        let decision_key = key(site, &format!("decision:{}", record.comment_id));
        let approved_author = record
            .author_key
            .as_deref()
            .filter(|_| record.effective_action() == Action::Approve);
        let json = serde_json::to_string(&record).expect("records serialize");
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&decision_key)
            .key(key(site, "held"))
            .key(approved_author.map_or_else(|| decision_key.clone(), |a| key(site, &format!("approved:{a}"))))
            .arg(json)
            .arg(&record.comment_id)
            .arg(record.decided_at_ms)
            .arg(u8::from(record.is_held()))
            .arg(u8::from(approved_author.is_some()))
            .arg(self.retention_of(site).as_millis().max(1) as u64)
            .arg(AUTHOR_HISTORY.as_millis() as u64);
        invocation
    }
}
