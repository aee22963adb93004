//! Decisions answered while shared state (Redis) was unavailable, kept on local disk until
//! Redis takes them.
//!
//! Under `fail_open` a site keeps answering during an outage. Without this spool those
//! decisions would exist only in the CMS: a comment answered HOLD would never reach the
//! moderators' queue, and GetDecision would never find it. So each one is appended (and
//! synced) to `data_dir/decision-spool.jsonl` before the answer goes out, and replayed into
//! the store once it is back. Replays use the store's ordinary writes: `record` stores only
//! when the comment has no decision yet, so a resubmission the CMS made after the outage
//! wins over the spooled copy, and a replay that is interrupted is simply repeated.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::{DecisionRecord, Store, StoreError};

/// At most this many decisions wait on disk (about 1 KB each): a long outage under load
/// must not fill the disk. Beyond it decisions are answered but not kept, as before.
pub const MAX_SPOOLED: usize = 100_000;

/// One spooled write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpooledDecision {
    /// A captcha retry replaces the comment's earlier decision instead of adding one.
    pub replace: bool,
    pub record: DecisionRecord,
}

/// The spool file and its contents in memory, in arrival order.
pub struct DecisionSpool {
    path: PathBuf,
    pending: Mutex<VecDeque<SpooledDecision>>,
}

impl DecisionSpool {
    /// Opens (or creates) the spool in `data_dir`, loading what an earlier run left. A
    /// torn last line (a crash mid-write, before the answer went out) is skipped.
    pub fn open(data_dir: &Path) -> Result<Arc<Self>, StoreError> {
        let path = data_dir.join("decision-spool.jsonl");
        let mut pending = VecDeque::new();
        match File::open(&path) {
            Ok(file) => {
                for (n, line) in BufReader::new(file).lines().enumerate() {
                    let line = line.map_err(|e| io_error(&path, e))?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str(&line) {
                        Ok(decision) => pending.push_back(decision),
                        Err(e) => {
                            tracing::warn!(file = %path.display(), line = n + 1, error = %e, "skipping an unreadable spooled decision")
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path, e)),
        }
        if !pending.is_empty() {
            tracing::info!(
                decisions = pending.len(),
                "decisions spooled by an earlier run wait for shared state"
            );
        }
        Ok(Arc::new(Self {
            path,
            pending: Mutex::new(pending),
        }))
    }

    /// Decisions waiting.
    pub fn len(&self) -> usize {
        self.pending.lock().expect("spool lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a decision and syncs it to disk. `Ok(false)` when the spool is full.
    pub async fn push(self: &Arc<Self>, decision: SpooledDecision) -> Result<bool, StoreError> {
        let spool = self.clone();
        tokio::task::spawn_blocking(move || spool.push_blocking(decision))
            .await
            .map_err(|e| io_error(&self.path, std::io::Error::other(e)))?
    }

    fn push_blocking(&self, decision: SpooledDecision) -> Result<bool, StoreError> {
        let mut pending = self.pending.lock().expect("spool lock");
        if pending.len() >= MAX_SPOOLED {
            return Ok(false);
        }
        let mut line = serde_json::to_string(&decision).map_err(|e| io_error(&self.path, std::io::Error::other(e)))?;
        line.push('\n');
        let io = |e: std::io::Error| io_error(&self.path, e);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        file.write_all(line.as_bytes()).map_err(io)?;
        file.sync_data().map_err(io)?;
        pending.push_back(decision);
        Ok(true)
    }

    /// Replays waiting decisions into `store`, oldest first, until one fails because the
    /// store is still unavailable. Returns how many left the spool.
    pub async fn replay(self: &Arc<Self>, store: &dyn Store) -> Result<usize, StoreError> {
        let waiting: Vec<SpooledDecision> = self.pending.lock().expect("spool lock").iter().cloned().collect();
        let mut done = 0;
        for decision in waiting {
            let written = if decision.replace {
                store.replace(decision.record.clone()).await.map(|_| ())
            } else {
                store.record(decision.record.clone()).await.map(|_| ())
            };
            match written {
                Ok(()) => done += 1,
                Err(StoreError::Unavailable(_)) => break,
                // A record the store refuses for good would block every later one.
                Err(e) => {
                    tracing::error!(site = %decision.record.site_id, comment = %decision.record.comment_id, error = %e, "dropping a spooled decision the store refuses");
                    done += 1;
                }
            }
        }
        if done > 0 {
            let spool = self.clone();
            tokio::task::spawn_blocking(move || spool.forget_oldest(done))
                .await
                .map_err(|e| io_error(&self.path, std::io::Error::other(e)))??;
        }
        Ok(done)
    }

    /// Drops the `count` oldest decisions and rewrites the file (a new file renamed over
    /// the old, so a crash leaves one or the other, never half of each).
    fn forget_oldest(&self, count: usize) -> Result<(), StoreError> {
        let mut pending = self.pending.lock().expect("spool lock");
        let count = count.min(pending.len());
        pending.drain(..count);
        let io = |e: std::io::Error| io_error(&self.path, e);
        let fresh = self.path.with_extension("jsonl.new");
        let mut file = File::create(&fresh).map_err(io)?;
        for decision in pending.iter() {
            let mut line =
                serde_json::to_string(decision).map_err(|e| io_error(&self.path, std::io::Error::other(e)))?;
            line.push('\n');
            file.write_all(line.as_bytes()).map_err(io)?;
        }
        file.sync_data().map_err(io)?;
        std::fs::rename(&fresh, &self.path).map_err(io)?;
        Ok(())
    }
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Action;
    use crate::store::EmbeddedStore;
    use crate::store::embedded::tests::{record, retention};

    fn spooled(comment: &str, action: Action, replace: bool) -> SpooledDecision {
        SpooledDecision {
            replace,
            record: record(comment, action, 100),
        }
    }

    #[tokio::test]
    async fn spooled_decisions_outlive_the_process_and_replay_once() {
        let dir = tempfile::tempdir().unwrap();
        let spool = DecisionSpool::open(dir.path()).unwrap();
        assert!(spool.push(spooled("a", Action::Hold, false)).await.unwrap());
        assert!(spool.push(spooled("b", Action::Approve, false)).await.unwrap());
        // A crash in the middle of a write leaves a torn line; it was never answered.
        let path = dir.path().join("decision-spool.jsonl");
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"replace\":false,\"rec").unwrap();
        drop(spool);

        let spool = DecisionSpool::open(dir.path()).unwrap();
        assert_eq!(spool.len(), 2);
        let store = EmbeddedStore::open(&dir.path().join("store"), retention(), 0).unwrap();
        // "b" already has a decision (the CMS resubmitted after the outage): it stays.
        let mut newer = record("b", Action::Reject, 200);
        newer.moderation_id = "m-newer".into();
        store.record(newer).await.unwrap();
        assert_eq!(spool.replay(&store).await.unwrap(), 2);
        assert!(spool.is_empty());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        assert!(store.get("s", "a").await.unwrap().unwrap().is_held());
        assert_eq!(store.get("s", "b").await.unwrap().unwrap().moderation_id, "m-newer");
        assert_eq!(DecisionSpool::open(dir.path()).unwrap().len(), 0);
    }

    #[tokio::test]
    async fn a_spooled_captcha_retry_replaces_the_earlier_decision() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("store"), retention(), 0).unwrap();
        store.record(record("c", Action::Hold, 100)).await.unwrap();
        let spool = DecisionSpool::open(dir.path()).unwrap();
        let mut retry = spooled("c", Action::Approve, true);
        retry.record.moderation_id = "m-retry".into();
        spool.push(retry).await.unwrap();
        spool.replay(&store).await.unwrap();
        let stored = store.get("s", "c").await.unwrap().unwrap();
        assert_eq!(stored.moderation_id, "m-retry");
        assert_eq!(stored.effective_action(), Action::Approve);
    }
}
