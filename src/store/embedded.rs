//! The embedded single-node backend: state in memory, decisions in an append-only JSON
//! Lines file under the data directory.
//!
//! Each decision is written (one `write` of one line) before the CMS gets its answer, so a
//! killed process loses nothing it answered: the bytes are in the kernel's page cache.
//! The file is replayed on start, later lines replacing earlier ones for the same comment,
//! and rewritten compactly (through a temporary file and a rename) on start and by
//! [`EmbeddedStore::compact`], which also drops comment text past its retention period.
//! Duplicate counters are rebuilt from the replayed decisions.
//!
//! The in-memory maps are split into shards, each behind its own lock, so that no call
//! waits for a whole-map operation: growing one large map rehashes every entry, which
//! measured 150 ms at 300,000 decisions with a single map. Writers take the file lock
//! first and a shard lock inside it; readers take only a shard lock.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hash, RandomState};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::embedded_outbox::{EventLog, WebhookState, event_of, reopening_event_of};
use super::events::new_event_id;
use super::{
    AuditEntry, DeadLetter, DecisionEvent, DecisionRecord, EventCursor, EventStamp, Recorded, Reopened, Resolution,
    Resolved, SeenBefore, Store, StoreError,
};
use crate::policy::Action;

const LOG_FILE: &str = "decisions.jsonl";
/// Used captcha tokens, one "<expires ms> <site> <token>" line each, so that a restart
/// does not reopen them to replay while they are still valid.
const TOKENS_FILE: &str = "used-captcha-tokens";
/// Moderator actions, one JSON line each, never compacted (the audit trail).
const AUDIT_FILE: &str = "audit.jsonl";
const SHARDS: usize = 32;

/// How long each site keeps the text of decided comments.
#[derive(Clone, Debug)]
pub struct Retention {
    pub by_site: HashMap<String, Duration>,
    pub default: Duration,
}

impl Retention {
    fn of(&self, site: &str) -> Duration {
        self.by_site.get(site).copied().unwrap_or(self.default)
    }
}

/// When one text (by content fingerprint) was seen within the duplicate window, and by
/// whom. Counts per author are kept beside the times so a flood of one text costs O(1)
/// per comment, not a scan of every earlier sighting.
#[derive(Default)]
struct Sightings {
    /// (seen at, author key), oldest first.
    times: VecDeque<(u64, Option<String>)>,
    by_author: HashMap<String, u32>,
}

impl Sightings {
    fn push(&mut self, at_ms: u64, author: Option<String>) {
        if let Some(author) = &author {
            *self.by_author.entry(author.clone()).or_default() += 1;
        }
        self.times.push_back((at_ms, author));
    }

    fn forget_before(&mut self, oldest_ms: u64) {
        while self.times.front().is_some_and(|(t, _)| *t < oldest_ms) {
            let (_, author) = self.times.pop_front().expect("front exists");
            if let Some(author) = author
                && let Some(count) = self.by_author.get_mut(&author)
            {
                *count -= 1;
                if *count == 0 {
                    self.by_author.remove(&author);
                }
            }
        }
    }
}

/// A map split into independently locked shards by key hash.
struct Sharded<K, V> {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<K, V>>>,
}

impl<K: Hash + Eq, V> Sharded<K, V> {
    fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// The shard holding `key`; `key` may be a borrowed form that hashes like `K`
    /// (a `(&str, &str)` for a `(String, String)`).
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> MutexGuard<'_, HashMap<K, V>> {
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        self.shards[index].lock().expect("store shard lock")
    }

    fn insert(&self, key: K, value: V) {
        self.shard(&key).insert(key, value);
    }
}

type CommentKey = (String, String);

/// The append-only file.
struct Log {
    file: File,
}

pub struct EmbeddedStore {
    path: PathBuf,
    retention: Retention,
    /// Taken by every writer, before any shard lock.
    log: Mutex<Log>,
    /// (site, comment id) -> decision. Shared so compaction can snapshot cheaply.
    records: Sharded<CommentKey, Arc<DecisionRecord>>,
    /// (site, content fingerprint) -> sightings within the duplicate window.
    seen: Sharded<(String, u64), Sightings>,
    /// (site, author key) -> approved comments.
    approved: Sharded<CommentKey, u64>,
    /// (site, captcha token) -> when it expires (ms): used tokens.
    used_tokens: Sharded<CommentKey, u64>,
    /// Where used tokens are appended (see [`TOKENS_FILE`]).
    tokens_file: Mutex<File>,
    tokens_path: PathBuf,
    /// The audit log in memory (oldest first) and its file.
    audit: Mutex<(Vec<AuditEntry>, File)>,
    audit_path: PathBuf,
    /// The decision events, indexed from the resolutions in the decision file. Taken
    /// after the file lock by `resolve`, alone by readers.
    events: Mutex<EventLog>,
    /// Webhook positions and dead letters (see `embedded_outbox`).
    webhooks: Mutex<WebhookState>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `dir`, replays and compacts its file.
    pub fn open(dir: &Path, retention: Retention, now_ms: u64) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(LOG_FILE);
        let mut records: HashMap<CommentKey, DecisionRecord> = HashMap::new();
        if path.exists() {
            let file = File::open(&path).map_err(io(&path))?;
            let reader = BufReader::new(file);
            let mut last_line_broken = false;
            for (n, line) in reader.lines().enumerate() {
                let line = line.map_err(io(&path))?;
                if line.trim().is_empty() {
                    continue;
                }
                if last_line_broken {
                    return Err(StoreError::Corrupt {
                        path,
                        line: n,
                        message: "unreadable line".into(),
                    });
                }
                match serde_json::from_str::<DecisionRecord>(&line) {
                    Ok(record) => {
                        records.insert((record.site_id.clone(), record.comment_id.clone()), record);
                    }
                    // A torn last line (the machine lost power mid-write) is dropped; one in
                    // the middle means the file was damaged, which we refuse to paper over.
                    Err(_) => last_line_broken = true,
                }
            }
        }
        for record in records.values_mut() {
            apply_retention(record, &retention, now_ms);
        }
        let mut ordered: Vec<Arc<DecisionRecord>> = records.into_values().map(Arc::new).collect();
        sort_for_log(&mut ordered);
        let tmp = write_snapshot(&path, &ordered)?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        let file = OpenOptions::new().append(true).open(&path).map_err(io(&path))?;
        let tokens_path = dir.join(TOKENS_FILE);
        let used_tokens = Sharded::new();
        if tokens_path.exists() {
            let text = std::fs::read_to_string(&tokens_path).map_err(io(&tokens_path))?;
            for line in text.lines() {
                let mut parts = line.splitn(3, ' ');
                if let (Some(Ok(expires)), Some(site), Some(token)) =
                    (parts.next().map(str::parse::<u64>), parts.next(), parts.next())
                    && expires >= now_ms
                {
                    used_tokens.insert((site.to_string(), token.to_string()), expires);
                }
            }
        }
        let tokens_file = rewrite_tokens(&tokens_path, &used_tokens)?;
        let audit_path = dir.join(AUDIT_FILE);
        let mut audit = Vec::new();
        if audit_path.exists() {
            let text = std::fs::read_to_string(&audit_path).map_err(io(&audit_path))?;
            // Like the decision log: a torn last line is dropped.
            audit.extend(
                text.lines()
                    .filter_map(|line| serde_json::from_str::<AuditEntry>(line).ok()),
            );
        }
        let audit_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&audit_path)
            .map_err(io(&audit_path))?;
        let events = EventLog::rebuild(ordered.iter().map(|r| r.as_ref()));
        let webhooks = WebhookState::open(dir)?;
        let store = Self {
            path,
            retention,
            log: Mutex::new(Log { file }),
            records: Sharded::new(),
            seen: Sharded::new(),
            approved: Sharded::new(),
            used_tokens,
            tokens_file: Mutex::new(tokens_file),
            tokens_path,
            audit: Mutex::new((audit, audit_file)),
            audit_path,
            events: Mutex::new(events),
            webhooks: Mutex::new(webhooks),
        };
        for record in ordered {
            store.index(&record);
            store
                .records
                .insert((record.site_id.clone(), record.comment_id.clone()), record);
        }
        Ok(store)
    }

    /// Rewrites the file with one line per comment, drops text past retention, and
    /// forgets duplicate sightings older than `duplicate_window`.
    ///
    /// Writers wait only while the decisions are snapshotted (reference counts, not
    /// copies) and while the lines appended since are carried over; the rewrite itself
    /// runs beside them.
    pub fn compact(&self, now_ms: u64, duplicate_window: Duration) -> Result<(), StoreError> {
        let oldest = now_ms.saturating_sub(duplicate_window.as_millis() as u64);
        {
            let mut tokens_file = self.tokens_file.lock().expect("tokens file lock");
            for shard in &self.used_tokens.shards {
                shard
                    .lock()
                    .expect("store shard lock")
                    .retain(|_, expires_at| *expires_at >= now_ms);
            }
            *tokens_file = rewrite_tokens(&self.tokens_path, &self.used_tokens)?;
        }
        for shard in &self.seen.shards {
            shard.lock().expect("store shard lock").retain(|_, sightings| {
                sightings.forget_before(oldest);
                !sightings.times.is_empty()
            });
        }
        for shard in &self.records.shards {
            for record in shard.lock().expect("store shard lock").values_mut() {
                if text_expired(record, &self.retention, now_ms) {
                    Arc::make_mut(record).text = None;
                }
            }
        }

        let (mut snapshot, offset) = {
            let mut log = self.log.lock().expect("store log lock");
            let mut snapshot = Vec::new();
            for shard in &self.records.shards {
                snapshot.extend(shard.lock().expect("store shard lock").values().cloned());
            }
            let offset = log.file.seek(SeekFrom::End(0)).map_err(io(&self.path))?;
            (snapshot, offset)
        };
        sort_for_log(&mut snapshot);
        let tmp = write_snapshot(&self.path, &snapshot)?;

        let mut log = self.log.lock().expect("store log lock");
        // Lines appended while the snapshot was written go after it, in order.
        let mut appended = Vec::new();
        let mut old = File::open(&self.path).map_err(io(&self.path))?;
        old.seek(SeekFrom::Start(offset)).map_err(io(&self.path))?;
        old.read_to_end(&mut appended).map_err(io(&self.path))?;
        let mut file = OpenOptions::new().append(true).open(&tmp).map_err(io(&tmp))?;
        file.write_all(&appended).map_err(io(&tmp))?;
        file.sync_data().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        log.file = file;
        Ok(())
    }

    /// Flushes the file to disk (`fsync`), for a clean shutdown.
    pub fn sync(&self) -> Result<(), StoreError> {
        let log = self.log.lock().expect("store log lock");
        log.file.sync_data().map_err(io(&self.path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Counters derived from a replayed record: sightings for duplicate detection, approvals.
    fn index(&self, record: &DecisionRecord) {
        let author = record.author_key.clone().or_else(|| record.ip_hash.clone());
        let key = (record.site_id.clone(), record.content_fingerprint);
        self.seen
            .shard(&key)
            .entry(key)
            .or_default()
            .push(record.decided_at_ms, author);
        if record.effective_action() == Action::Approve
            && let Some(author) = &record.author_key
        {
            self.count_approval(&record.site_id, author);
        }
    }

    /// Appends a decision and puts it in memory, holding the file lock and the record's
    /// shard lock the caller took (in that order), then counts an approval.
    fn write(
        &self,
        mut log: MutexGuard<'_, Log>,
        mut records: MutexGuard<'_, HashMap<CommentKey, Arc<DecisionRecord>>>,
        key: CommentKey,
        record: DecisionRecord,
    ) -> Result<(), StoreError> {
        append(&mut log, &self.path, &record)?;
        drop(log);
        let approved_author = (record.effective_action() == Action::Approve)
            .then(|| record.author_key.clone())
            .flatten();
        let site_id = record.site_id.clone();
        records.insert(key, Arc::new(record));
        drop(records);
        if let Some(author) = approved_author {
            self.count_approval(&site_id, &author);
        }
        Ok(())
    }

    /// An approval taken back (undone): the author's trust drops by one, never below zero.
    fn uncount_approval(&self, site_id: &str, author_key: &str) {
        let key = (site_id.to_string(), author_key.to_string());
        let mut approved = self.approved.shard(&key);
        if let Some(count) = approved.get_mut(&key) {
            *count = count.saturating_sub(1);
        }
    }

    fn count_approval(&self, site_id: &str, author_key: &str) {
        let key = (site_id.to_string(), author_key.to_string());
        *self.approved.shard(&key).entry(key).or_default() += 1;
    }
}

fn text_expired(record: &DecisionRecord, retention: &Retention, now_ms: u64) -> bool {
    let keep = retention.of(&record.site_id).as_millis() as u64;
    record.text.is_some() && !record.is_held() && now_ms.saturating_sub(record.decided_at_ms) > keep
}

fn apply_retention(record: &mut DecisionRecord, retention: &Retention, now_ms: u64) {
    if text_expired(record, retention, now_ms) {
        record.text = None;
    }
}

/// Oldest first, so a replay rebuilds the duplicate windows in order.
fn sort_for_log(records: &mut [Arc<DecisionRecord>]) {
    records.sort_by(|a, b| {
        a.decided_at_ms
            .cmp(&b.decided_at_ms)
            .then_with(|| a.moderation_id.cmp(&b.moderation_id))
    });
}

/// Writes one line per record to a temporary file beside `path` and returns its path.
fn write_snapshot(path: &Path, records: &[Arc<DecisionRecord>]) -> Result<PathBuf, StoreError> {
    let tmp = path.with_extension("jsonl.tmp");
    let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(io(&tmp))?);
    for record in records {
        serde_json::to_writer(&mut out, record.as_ref()).expect("records serialize");
        out.write_all(b"\n").map_err(io(&tmp))?;
    }
    let file = out.into_inner().map_err(|e| StoreError::Io {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(&tmp))?;
    Ok(tmp)
}

/// Writes the used tokens still in memory to a fresh file, replacing the old one, and
/// returns the new file open for appending.
fn rewrite_tokens(path: &Path, tokens: &Sharded<CommentKey, u64>) -> Result<File, StoreError> {
    let tmp = path.with_extension("tmp");
    let mut text = String::new();
    for shard in &tokens.shards {
        for ((site, token), expires) in shard.lock().expect("store shard lock").iter() {
            text.push_str(&format!("{expires} {site} {token}\n"));
        }
    }
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    OpenOptions::new().append(true).open(path).map_err(io(path))
}

fn append(log: &mut Log, path: &Path, record: &DecisionRecord) -> Result<(), StoreError> {
    let mut line = serde_json::to_vec(record).expect("records serialize");
    line.push(b'\n');
    // One write of the whole line: a reader after a crash sees it whole or torn at the
    // end, never interleaved with another record.
    log.file.write_all(&line).map_err(io(path))
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, site_id: &str, comment_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        let key = (site_id, comment_id);
        let records = self.records.shard(&key);
        Ok(records
            .get(&(site_id.to_string(), comment_id.to_string()))
            .map(|r| DecisionRecord::clone(r)))
    }

    async fn record(&self, record: DecisionRecord) -> Result<Recorded, StoreError> {
        let key = (record.site_id.clone(), record.comment_id.clone());
        let log = self.log.lock().expect("store log lock");
        let records = self.records.shard(&key);
        if let Some(existing) = records.get(&key) {
            return Ok(Recorded::Existing(Box::new(DecisionRecord::clone(existing))));
        }
        self.write(log, records, key, record)?;
        Ok(Recorded::New)
    }

    async fn seen_before(
        &self,
        site_id: &str,
        content_fingerprint: u64,
        author_key: Option<&str>,
        window: Duration,
        now_ms: u64,
    ) -> Result<SeenBefore, StoreError> {
        let key = (site_id.to_string(), content_fingerprint);
        let mut seen = self.seen.shard(&key);
        let sightings = seen.entry(key).or_default();
        sightings.forget_before(now_ms.saturating_sub(window.as_millis() as u64));
        let result = SeenBefore {
            site_wide: sightings.times.len() as u32,
            by_author: author_key.map_or(0, |a| sightings.by_author.get(a).copied().unwrap_or(0)),
        };
        sightings.push(now_ms, author_key.map(str::to_string));
        Ok(result)
    }

    async fn approved_count(&self, site_id: &str, author_key: &str) -> Result<u64, StoreError> {
        let key = (site_id, author_key);
        let approved = self.approved.shard(&key);
        Ok(approved
            .get(&(site_id.to_string(), author_key.to_string()))
            .copied()
            .unwrap_or(0))
    }

    async fn resolve(&self, site_id: &str, comment_id: &str, resolution: Resolution) -> Result<Resolved, StoreError> {
        let key = (site_id.to_string(), comment_id.to_string());
        let log = self.log.lock().expect("store log lock");
        let records = self.records.shard(&key);
        let Some(current) = records.get(&key).cloned() else {
            return Ok(Resolved::NotFound);
        };
        if !current.is_held() {
            return Ok(Resolved::NotHeld(Box::new(DecisionRecord::clone(&current))));
        }
        // The event is stamped on the resolution, so the one line written below stores
        // both. The event index stays locked from choosing the cursor to adding the
        // event, so events enter it in cursor order and a reader never skips one.
        let mut events = self.events.lock().expect("event log lock");
        let stamp = EventStamp {
            cursor: events.next_cursor(resolution.at_ms),
            event_id: new_event_id(),
        };
        let resolved = current.resolved(Resolution {
            event: Some(stamp),
            ..resolution
        });
        self.write(log, records, key, resolved.clone())?;
        events.push(event_of(&resolved).expect("stamped above"));
        Ok(Resolved::Done(Box::new(resolved)))
    }

    async fn reopen(&self, expected: &DecisionRecord, reopened: DecisionRecord) -> Result<Reopened, StoreError> {
        let key = (expected.site_id.clone(), expected.comment_id.clone());
        let mut log = self.log.lock().expect("store log lock");
        let mut records = self.records.shard(&key);
        let Some(current) = records.get(&key).cloned() else {
            return Ok(Reopened::NotFound);
        };
        // The compare of the compare-and-set: both locks are held, so nothing changes
        // the record between this check and the write below.
        if current.as_ref() != expected {
            return Ok(Reopened::Changed(Box::new(DecisionRecord::clone(&current))));
        }
        if reopened.reopenings.is_empty() {
            // Not made by `DecisionRecord::reopened`: nothing to write.
            return Ok(Reopened::Changed(Box::new(DecisionRecord::clone(&current))));
        }
        let mut events = self.events.lock().expect("event log lock");
        let mut reopened = reopened;
        let at_ms = reopened.reopenings.last().map_or(0, |r| r.at_ms);
        if let Some(reopening) = reopened.reopenings.last_mut() {
            reopening.event = Some(EventStamp {
                cursor: events.next_cursor(at_ms),
                event_id: new_event_id(),
            });
        }
        let event = reopening_event_of(&reopened).expect("stamped above");
        append(&mut log, &self.path, &reopened)?;
        drop(log);
        let taken_back = (expected.effective_action() == Action::Approve)
            .then(|| expected.author_key.clone())
            .flatten();
        records.insert(key, Arc::new(reopened.clone()));
        drop(records);
        events.push(event);
        drop(events);
        if let Some(author) = taken_back {
            self.uncount_approval(&expected.site_id, &author);
        }
        Ok(Reopened::Done(Box::new(reopened)))
    }

    async fn recent_decision_events(
        &self,
        site_id: &str,
        since_ms: u64,
        limit: usize,
    ) -> Result<Vec<DecisionEvent>, StoreError> {
        Ok(self
            .events
            .lock()
            .expect("event log lock")
            .recent(site_id, since_ms, limit))
    }

    async fn decision_events(
        &self,
        site_id: &str,
        after: Option<EventCursor>,
        limit: usize,
    ) -> Result<Vec<DecisionEvent>, StoreError> {
        Ok(self.events.lock().expect("event log lock").after(site_id, after, limit))
    }

    async fn webhook_position(&self, site_id: &str) -> Result<Option<EventCursor>, StoreError> {
        Ok(self.webhooks.lock().expect("webhook state lock").position(site_id))
    }

    async fn set_webhook_position(&self, site_id: &str, cursor: EventCursor) -> Result<(), StoreError> {
        self.webhooks
            .lock()
            .expect("webhook state lock")
            .set_position(site_id, cursor)
    }

    async fn put_dead_letter(&self, letter: DeadLetter) -> Result<(), StoreError> {
        self.webhooks.lock().expect("webhook state lock").put(letter)
    }

    async fn dead_letters(&self, site_id: &str) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self.webhooks.lock().expect("webhook state lock").letters(site_id))
    }

    async fn remove_dead_letter(&self, site_id: &str, event_id: &str) -> Result<bool, StoreError> {
        self.webhooks
            .lock()
            .expect("webhook state lock")
            .remove(site_id, event_id)
    }

    /// One process delivers everything on this backend: the lease is always granted.
    async fn webhook_lease(&self, _site_id: &str, _holder: &str, _ttl: Duration) -> Result<bool, StoreError> {
        Ok(true)
    }

    async fn audit_append(&self, entry: AuditEntry) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(&entry).expect("audit entries serialize");
        line.push(b'\n');
        let mut audit = self.audit.lock().expect("audit lock");
        audit.1.write_all(&line).map_err(io(&self.audit_path))?;
        audit.0.push(entry);
        Ok(())
    }

    async fn audit_log(&self, site_id: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let audit = self.audit.lock().expect("audit lock");
        Ok(audit
            .0
            .iter()
            .rev()
            .filter(|e| e.site_id == site_id)
            .take(limit)
            .cloned()
            .collect())
    }

    async fn replace(&self, record: DecisionRecord) -> Result<(), StoreError> {
        let key = (record.site_id.clone(), record.comment_id.clone());
        let log = self.log.lock().expect("store log lock");
        let records = self.records.shard(&key);
        self.write(log, records, key, record)
    }

    async fn first_use(&self, site_id: &str, token: &str, expires_at_ms: u64, now_ms: u64) -> Result<bool, StoreError> {
        let key = (site_id.to_string(), token.to_string());
        let mut tokens_file = self.tokens_file.lock().expect("tokens file lock");
        let mut used = self.used_tokens.shard(&key);
        match used.get(&key) {
            Some(&until) if until >= now_ms => Ok(false),
            _ => {
                // Written before the answer, like decisions: a killed process forgets
                // nothing it accepted.
                let line = format!("{expires_at_ms} {site_id} {}\n", token.replace(['\n', ' '], ""));
                tokens_file.write_all(line.as_bytes()).map_err(io(&self.tokens_path))?;
                used.insert(key, expires_at_ms);
                Ok(true)
            }
        }
    }

    async fn held(&self, site_id: &str) -> Result<Vec<DecisionRecord>, StoreError> {
        let mut held = Vec::new();
        for shard in &self.records.shards {
            held.extend(
                shard
                    .lock()
                    .expect("store shard lock")
                    .values()
                    .filter(|r| r.site_id == site_id && r.is_held())
                    .map(|r| DecisionRecord::clone(r)),
            );
        }
        // Ties (the same millisecond) by comment id, as on Redis.
        held.sort_by(|a, b| {
            a.decided_at_ms
                .cmp(&b.decided_at_ms)
                .then_with(|| a.comment_id.cmp(&b.comment_id))
        });
        Ok(held)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::policy::{Decision, ReasonCode, Signal};
    use crate::store::ScoresRecord;

    pub(crate) fn retention() -> Retention {
        Retention {
            by_site: HashMap::new(),
            default: Duration::from_secs(3600),
        }
    }

    pub(crate) fn record(comment: &str, action: Action, at: u64) -> DecisionRecord {
        DecisionRecord {
            moderation_id: format!("m-{comment}"),
            site_id: "s".into(),
            comment_id: comment.into(),
            text_fingerprint: 1,
            content_fingerprint: 42,
            decision: Decision {
                action,
                reasons: vec![Signal::new(ReasonCode::Spam, action, "test")],
                shadow_action: None,
                retry_after: None,
            },
            scores: ScoresRecord::default(),
            model_version: "v".into(),
            degraded: false,
            decided_at_ms: at,
            author_key: Some("author".into()),
            ip_hash: None,
            thread_id: String::new(),
            thread_url: String::new(),
            text: Some(format!("text of {comment}")),
            final_action: None,
            resolution: None,
            reopenings: Vec::new(),
        }
    }

    #[tokio::test]
    async fn decisions_survive_reopening_and_are_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), retention(), 0).unwrap();
        assert_eq!(
            store.record(record("a", Action::Hold, 10)).await.unwrap(),
            Recorded::New
        );
        assert_eq!(
            store.record(record("b", Action::Approve, 11)).await.unwrap(),
            Recorded::New
        );
        let again = store.record(record("a", Action::Approve, 12)).await.unwrap();
        assert!(matches!(again, Recorded::Existing(r) if r.decision.action == Action::Hold));
        drop(store);

        let reopened = EmbeddedStore::open(dir.path(), retention(), 20).unwrap();
        assert_eq!(
            reopened.get("s", "a").await.unwrap().unwrap().decision.action,
            Action::Hold
        );
        assert_eq!(reopened.held("s").await.unwrap().len(), 1);
        assert_eq!(reopened.approved_count("s", "author").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn text_is_dropped_after_retention_except_while_held() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), retention(), 0).unwrap();
        store.record(record("held", Action::Hold, 0)).await.unwrap();
        store.record(record("done", Action::Approve, 0)).await.unwrap();
        store.compact(7_200_000, Duration::from_secs(3600)).unwrap();
        assert!(store.get("s", "held").await.unwrap().unwrap().text.is_some());
        assert!(store.get("s", "done").await.unwrap().unwrap().text.is_none());
        let on_disk = std::fs::read_to_string(store.path()).unwrap();
        assert!(!on_disk.contains("text of done"), "{on_disk}");
    }

    #[tokio::test]
    async fn a_torn_last_line_is_dropped_but_damage_in_the_middle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), retention(), 0).unwrap();
        store.record(record("a", Action::Hold, 1)).await.unwrap();
        drop(store);
        let path = dir.path().join(LOG_FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"moderation_id\": \"half");
        std::fs::write(&path, &text).unwrap();
        let store = EmbeddedStore::open(dir.path(), retention(), 2).unwrap();
        assert!(store.get("s", "a").await.unwrap().is_some());
        drop(store);
        let good = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("garbage\n{good}")).unwrap();
        assert!(matches!(
            EmbeddedStore::open(dir.path(), retention(), 3),
            Err(StoreError::Corrupt { .. })
        ));
    }

    fn by(action: Action) -> Resolution {
        Resolution {
            action,
            moderator: "lan".into(),
            note: String::new(),
            at_ms: 1_500,
            event: None,
        }
    }

    #[tokio::test]
    async fn writes_after_compaction_land_in_the_compacted_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), retention(), 0).unwrap();
        for n in 0..100 {
            store.record(record(&format!("c{n}"), Action::Hold, n)).await.unwrap();
        }
        store.resolve("s", "c7", by(Action::Approve)).await.unwrap();
        store.compact(1_000, Duration::from_secs(3600)).unwrap();
        store.record(record("after", Action::Reject, 2_000)).await.unwrap();
        store.resolve("s", "c8", by(Action::Reject)).await.unwrap();
        let lines = std::fs::read_to_string(store.path()).unwrap().lines().count();
        assert_eq!(lines, 100 + 1 + 1, "one line per comment, plus the two writes since");
        drop(store);

        let reopened = EmbeddedStore::open(dir.path(), retention(), 3_000).unwrap();
        let get = |id: &'static str| {
            let store = &reopened;
            async move { store.get("s", id).await.unwrap().expect(id) }
        };
        assert_eq!(get("c7").await.effective_action(), Action::Approve);
        assert_eq!(get("c8").await.effective_action(), Action::Reject);
        assert_eq!(get("after").await.effective_action(), Action::Reject);
        assert_eq!(reopened.held("s").await.unwrap().len(), 98);
        assert_eq!(reopened.approved_count("s", "author").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn used_captcha_tokens_survive_a_restart_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), retention(), 0).unwrap();
        assert!(store.first_use("s", "altcha:abc", 10_000, 1_000).await.unwrap());
        assert!(store.first_use("s", "altcha:short", 3_000, 1_000).await.unwrap());
        assert!(!store.first_use("s", "altcha:abc", 10_000, 2_000).await.unwrap());
        assert!(
            store.first_use("t", "altcha:abc", 10_000, 2_000).await.unwrap(),
            "per site"
        );
        drop(store);

        let reopened = EmbeddedStore::open(dir.path(), retention(), 5_000).unwrap();
        assert!(
            !reopened.first_use("s", "altcha:abc", 10_000, 5_000).await.unwrap(),
            "still used"
        );
        assert!(
            reopened.first_use("s", "altcha:short", 3_000, 5_000).await.unwrap(),
            "expired ones are forgotten (the token itself is refused by then)"
        );
        reopened.compact(20_000, Duration::from_secs(60)).unwrap();
        let on_disk = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(on_disk.is_empty(), "compaction drops expired tokens: {on_disk:?}");
    }

    #[tokio::test]
    async fn compaction_forgets_sightings_outside_the_duplicate_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), retention(), 0).unwrap();
        let window = Duration::from_secs(60);
        store.seen_before("s", 1, Some("x"), window, 1_000).await.unwrap();
        store.seen_before("s", 2, Some("x"), window, 50_000).await.unwrap();
        store.compact(70_000, window).unwrap();
        let shards_with = |fingerprint| {
            store
                .seen
                .shards
                .iter()
                .filter(|s| s.lock().unwrap().contains_key(&("s".to_string(), fingerprint)))
                .count()
        };
        assert_eq!(shards_with(1), 0, "expired text forgotten");
        assert_eq!(shards_with(2), 1, "recent text kept");
    }
}
