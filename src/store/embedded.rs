//! The embedded single-node backend: state in memory, decisions in an append-only JSON
//! Lines file under the data directory.
//!
//! Each decision is written (one `write` of one line) before the CMS gets its answer, so a
//! killed process loses nothing it answered: the bytes are in the kernel's page cache.
//! The file is replayed on start, later lines replacing earlier ones for the same comment,
//! and rewritten compactly (through a temporary file and a rename) on start and by
//! [`EmbeddedStore::compact`], which also drops comment text past its retention period.
//! Duplicate counters are rebuilt from the replayed decisions.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::{DecisionRecord, Recorded, SeenBefore, Store, StoreError};
use crate::policy::Action;

const LOG_FILE: &str = "decisions.jsonl";

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

/// When a text was seen, and by which author (hashed), if known.
type Sighting = (u64, Option<String>);

struct Inner {
    records: HashMap<(String, String), DecisionRecord>,
    /// (site, content fingerprint) -> sightings.
    seen: HashMap<(String, u64), VecDeque<Sighting>>,
    /// (site, author key) -> approved comments.
    approved: HashMap<(String, String), u64>,
    file: File,
    /// Lines in the file; compaction is worth it when well above the record count.
    lines: usize,
}

pub struct EmbeddedStore {
    path: PathBuf,
    retention: Retention,
    inner: Mutex<Inner>,
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
        let mut records: HashMap<(String, String), DecisionRecord> = HashMap::new();
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
        let store = Self::from_records(path, retention, records, now_ms)?;
        Ok(store)
    }

    fn from_records(
        path: PathBuf,
        retention: Retention,
        mut records: HashMap<(String, String), DecisionRecord>,
        now_ms: u64,
    ) -> Result<Self, StoreError> {
        apply_retention(&mut records, &retention, now_ms);
        let lines = write_compacted(&path, &records)?;
        let file = OpenOptions::new().append(true).open(&path).map_err(io(&path))?;
        let mut inner = Inner {
            records: HashMap::new(),
            seen: HashMap::new(),
            approved: HashMap::new(),
            file,
            lines,
        };
        let mut ordered: Vec<DecisionRecord> = records.into_values().collect();
        ordered.sort_by_key(|r| r.decided_at_ms);
        for record in ordered {
            inner.index(&record);
            inner
                .records
                .insert((record.site_id.clone(), record.comment_id.clone()), record);
        }
        Ok(Self {
            path,
            retention,
            inner: Mutex::new(inner),
        })
    }

    /// Rewrites the file with one line per comment and drops text past retention.
    pub fn compact(&self, now_ms: u64) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().expect("store lock");
        apply_retention(&mut inner.records, &self.retention, now_ms);
        let lines = write_compacted(&self.path, &inner.records)?;
        inner.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io(&self.path))?;
        inner.lines = lines;
        Ok(())
    }

    /// Flushes the file to disk (`fsync`), for a clean shutdown.
    pub fn sync(&self) -> Result<(), StoreError> {
        let inner = self.inner.lock().expect("store lock");
        inner.file.sync_data().map_err(io(&self.path))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores a moderator's resolution of a held comment (used by the review service).
    pub fn resolve(
        &self,
        site_id: &str,
        comment_id: &str,
        action: Action,
    ) -> Result<Option<DecisionRecord>, StoreError> {
        let mut inner = self.inner.lock().expect("store lock");
        let key = (site_id.to_string(), comment_id.to_string());
        let Some(mut record) = inner.records.get(&key).cloned() else {
            return Ok(None);
        };
        record.final_action = Some(action);
        inner.append(&self.path, &record)?;
        if action == Action::Approve
            && let Some(author) = &record.author_key
        {
            *inner
                .approved
                .entry((record.site_id.clone(), author.clone()))
                .or_default() += 1;
        }
        inner.records.insert(key, record.clone());
        Ok(Some(record))
    }
}

fn apply_retention(records: &mut HashMap<(String, String), DecisionRecord>, retention: &Retention, now_ms: u64) {
    for record in records.values_mut() {
        let keep = retention.of(&record.site_id).as_millis() as u64;
        if !record.is_held() && now_ms.saturating_sub(record.decided_at_ms) > keep {
            record.text = None;
        }
    }
}

fn write_compacted(path: &Path, records: &HashMap<(String, String), DecisionRecord>) -> Result<usize, StoreError> {
    let tmp = path.with_extension("jsonl.tmp");
    let mut ordered: Vec<&DecisionRecord> = records.values().collect();
    ordered.sort_by(|a, b| {
        a.decided_at_ms
            .cmp(&b.decided_at_ms)
            .then_with(|| a.moderation_id.cmp(&b.moderation_id))
    });
    let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(io(&tmp))?);
    for record in &ordered {
        serde_json::to_writer(&mut out, record).expect("records serialize");
        out.write_all(b"\n").map_err(io(&tmp))?;
    }
    let file = out.into_inner().map_err(|e| StoreError::Io {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(ordered.len())
}

impl Inner {
    fn append(&mut self, path: &Path, record: &DecisionRecord) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(record).expect("records serialize");
        line.push(b'\n');
        // One write of the whole line: a reader after a crash sees it whole or torn at
        // the end, never interleaved with another record.
        self.file.write_all(&line).map_err(io(path))?;
        self.lines += 1;
        Ok(())
    }

    /// Counters derived from a record: sightings for duplicate detection, approvals.
    fn index(&mut self, record: &DecisionRecord) {
        let author = record.author_key.clone().or_else(|| record.ip_hash.clone());
        self.seen
            .entry((record.site_id.clone(), record.content_fingerprint))
            .or_default()
            .push_back((record.decided_at_ms, author));
        if record.effective_action() == Action::Approve
            && let Some(author) = &record.author_key
        {
            *self
                .approved
                .entry((record.site_id.clone(), author.clone()))
                .or_default() += 1;
        }
    }
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn get(&self, site_id: &str, comment_id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        let inner = self.inner.lock().expect("store lock");
        Ok(inner
            .records
            .get(&(site_id.to_string(), comment_id.to_string()))
            .cloned())
    }

    async fn record(&self, record: DecisionRecord) -> Result<Recorded, StoreError> {
        let mut inner = self.inner.lock().expect("store lock");
        let key = (record.site_id.clone(), record.comment_id.clone());
        if let Some(existing) = inner.records.get(&key) {
            return Ok(Recorded::Existing(Box::new(existing.clone())));
        }
        inner.append(&self.path, &record)?;
        if record.effective_action() == Action::Approve
            && let Some(author) = &record.author_key
        {
            *inner
                .approved
                .entry((record.site_id.clone(), author.clone()))
                .or_default() += 1;
        }
        inner.records.insert(key, record);
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
        let mut inner = self.inner.lock().expect("store lock");
        let sightings = inner
            .seen
            .entry((site_id.to_string(), content_fingerprint))
            .or_default();
        let oldest = now_ms.saturating_sub(window.as_millis() as u64);
        while sightings.front().is_some_and(|(t, _)| *t < oldest) {
            sightings.pop_front();
        }
        let result = SeenBefore {
            site_wide: sightings.len() as u32,
            by_author: author_key.map_or(0, |a| {
                sightings.iter().filter(|(_, s)| s.as_deref() == Some(a)).count() as u32
            }),
        };
        sightings.push_back((now_ms, author_key.map(str::to_string)));
        Ok(result)
    }

    async fn approved_count(&self, site_id: &str, author_key: &str) -> Result<u64, StoreError> {
        let inner = self.inner.lock().expect("store lock");
        Ok(inner
            .approved
            .get(&(site_id.to_string(), author_key.to_string()))
            .copied()
            .unwrap_or(0))
    }

    async fn held(&self, site_id: &str) -> Result<Vec<DecisionRecord>, StoreError> {
        let inner = self.inner.lock().expect("store lock");
        let mut held: Vec<DecisionRecord> = inner
            .records
            .values()
            .filter(|r| r.site_id == site_id && r.is_held())
            .cloned()
            .collect();
        held.sort_by_key(|r| r.decided_at_ms);
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Decision, ReasonCode, Signal};
    use crate::store::ScoresRecord;

    fn retention() -> Retention {
        Retention {
            by_site: HashMap::new(),
            default: Duration::from_secs(3600),
        }
    }

    fn record(comment: &str, action: Action, at: u64) -> DecisionRecord {
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
        store.compact(7_200_000).unwrap();
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

    #[tokio::test]
    async fn duplicate_sightings_count_by_author_and_site_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), retention(), 0).unwrap();
        let window = Duration::from_secs(60);
        let first = store.seen_before("s", 7, Some("x"), window, 1_000).await.unwrap();
        assert_eq!(
            first,
            SeenBefore {
                by_author: 0,
                site_wide: 0
            }
        );
        store.seen_before("s", 7, Some("y"), window, 2_000).await.unwrap();
        let third = store.seen_before("s", 7, Some("x"), window, 3_000).await.unwrap();
        assert_eq!(
            third,
            SeenBefore {
                by_author: 1,
                site_wide: 2
            }
        );
        let later = store.seen_before("s", 7, Some("x"), window, 100_000).await.unwrap();
        assert_eq!(
            later,
            SeenBefore {
                by_author: 0,
                site_wide: 0
            },
            "old sightings expire"
        );
        let other_site = store.seen_before("t", 7, Some("x"), window, 100_000).await.unwrap();
        assert_eq!(other_site.site_wide, 0);
    }
}
