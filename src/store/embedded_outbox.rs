//! The embedded backend's side of decisions going back to the CMS.
//!
//! - The decision-event log needs no file of its own: every resolution carries its
//!   [`EventStamp`] in the decision file, written in the same line, so an event exists
//!   exactly when its resolution does. [`EventLog`] is the in-memory index, rebuilt from
//!   the decisions on start.
//! - The webhook's delivery state is small and changes once per delivered event:
//!   positions live in `webhook-positions.json`, rewritten whole through a temporary
//!   file and a rename (a crash leaves the old or the new file, never half of one);
//!   dead letters in `dead-letters.jsonl`, an append-only list of puts and removals,
//!   replayed and rewritten compactly on start.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::events::DECISION_EVENTS_KEPT;
use super::{DeadLetter, DecisionEvent, DecisionRecord, EventCursor, EventStamp, Resolution, StoreError};
use crate::policy::Action;

const POSITIONS_FILE: &str = "webhook-positions.json";
const DEAD_LETTERS_FILE: &str = "dead-letters.jsonl";

/// The newest [`DECISION_EVENTS_KEPT`] events per site, in cursor order, and the last
/// cursor handed out (cursors are unique across sites, which costs nothing).
#[derive(Default)]
pub(super) struct EventLog {
    by_site: HashMap<String, VecDeque<DecisionEvent>>,
    last: EventCursor,
}

impl EventLog {
    /// The index of the events stamped on `records` (any order).
    pub(super) fn rebuild<'a>(records: impl IntoIterator<Item = &'a DecisionRecord>) -> Self {
        let mut events: Vec<DecisionEvent> = records.into_iter().flat_map(events_of).collect();
        events.sort_by_key(|e| e.cursor);
        let mut log = Self::default();
        for event in events {
            log.push(event);
        }
        log
    }

    /// The cursor the next event gets, for a resolution made at `now_ms`.
    pub(super) fn next_cursor(&self, now_ms: u64) -> EventCursor {
        self.last.next(now_ms)
    }

    /// Appends an event whose cursor came from [`Self::next_cursor`].
    pub(super) fn push(&mut self, event: DecisionEvent) {
        debug_assert!(event.cursor > self.last || self.last == EventCursor::default());
        self.last = self.last.max(event.cursor);
        let site = self.by_site.entry(event.site_id.clone()).or_default();
        site.push_back(event);
        if site.len() > DECISION_EVENTS_KEPT {
            site.pop_front();
        }
    }

    pub(super) fn after(&self, site_id: &str, after: Option<EventCursor>, limit: usize) -> Vec<DecisionEvent> {
        let Some(events) = self.by_site.get(site_id) else {
            return Vec::new();
        };
        let start = after.map_or(0, |a| events.partition_point(|e| e.cursor <= a));
        events.iter().skip(start).take(limit).cloned().collect()
    }

    /// The site's events appended at or after `since_ms`, newest first, at most `limit`.
    pub(super) fn recent(&self, site_id: &str, since_ms: u64, limit: usize) -> Vec<DecisionEvent> {
        let Some(events) = self.by_site.get(site_id) else {
            return Vec::new();
        };
        events
            .iter()
            .rev()
            .take_while(|e| e.cursor.ms >= since_ms)
            .take(limit)
            .cloned()
            .collect()
    }
}

/// The event a resolved record's current resolution announces, if it was stamped.
pub(super) fn event_of(record: &DecisionRecord) -> Option<DecisionEvent> {
    let resolution = record.resolution.as_ref()?;
    resolution_event(record, resolution)
}

/// The HOLD event of a record's newest reopening, if it was stamped.
pub(super) fn reopening_event_of(record: &DecisionRecord) -> Option<DecisionEvent> {
    let reopening = record.reopenings.last()?;
    let stamp = reopening.event.as_ref()?;
    Some(stamped(
        record,
        stamp,
        Action::Hold,
        &reopening.moderator,
        &reopening.note,
        reopening.at_ms,
    ))
}

/// Every event a record's history announced, in the order they happened: each undone
/// resolution and the HOLD that took it back, then the resolution in force.
fn events_of(record: &DecisionRecord) -> Vec<DecisionEvent> {
    let mut events = Vec::new();
    for reopening in &record.reopenings {
        events.extend(resolution_event(record, &reopening.undone));
        if let Some(stamp) = &reopening.event {
            events.push(stamped(
                record,
                stamp,
                Action::Hold,
                &reopening.moderator,
                &reopening.note,
                reopening.at_ms,
            ));
        }
    }
    events.extend(event_of(record));
    events
}

fn resolution_event(record: &DecisionRecord, resolution: &Resolution) -> Option<DecisionEvent> {
    let stamp = resolution.event.as_ref()?;
    Some(stamped(
        record,
        stamp,
        resolution.action,
        &resolution.moderator,
        &resolution.note,
        resolution.at_ms,
    ))
}

fn stamped(
    record: &DecisionRecord,
    stamp: &EventStamp,
    action: Action,
    moderator: &str,
    note: &str,
    at_ms: u64,
) -> DecisionEvent {
    DecisionEvent {
        cursor: stamp.cursor,
        event_id: stamp.event_id.clone(),
        site_id: record.site_id.clone(),
        comment_id: record.comment_id.clone(),
        moderation_id: record.moderation_id.clone(),
        action,
        moderator: moderator.to_string(),
        note: note.to_string(),
        decided_at_ms: at_ms,
    }
}

/// One line of the dead-letter file.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum DeadLetterChange {
    Put(Box<DeadLetter>),
    Remove { site_id: String, event_id: String },
}

/// Webhook positions and dead letters, in memory and in their files.
pub(super) struct WebhookState {
    positions: BTreeMap<String, EventCursor>,
    positions_path: PathBuf,
    /// (site, event id) -> letter.
    dead: BTreeMap<(String, String), DeadLetter>,
    dead_file: File,
    dead_path: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl WebhookState {
    pub(super) fn open(dir: &Path) -> Result<Self, StoreError> {
        let positions_path = dir.join(POSITIONS_FILE);
        let positions = match std::fs::read_to_string(&positions_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                path: positions_path.clone(),
                line: 1,
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(&positions_path)(e)),
        };
        let dead_path = dir.join(DEAD_LETTERS_FILE);
        let mut dead = BTreeMap::new();
        match std::fs::read_to_string(&dead_path) {
            Ok(text) => {
                let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                for (n, line) in lines.iter().enumerate() {
                    match serde_json::from_str::<DeadLetterChange>(line) {
                        Ok(DeadLetterChange::Put(letter)) => {
                            let key = (letter.event.site_id.clone(), letter.event.event_id.clone());
                            dead.insert(key, *letter);
                        }
                        Ok(DeadLetterChange::Remove { site_id, event_id }) => {
                            dead.remove(&(site_id, event_id));
                        }
                        // A torn last line (power lost mid-write) is dropped, like the
                        // decision file's; damage before it is refused.
                        Err(_) if n + 1 == lines.len() => {}
                        Err(e) => {
                            return Err(StoreError::Corrupt {
                                path: dead_path,
                                line: n + 1,
                                message: e.to_string(),
                            });
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&dead_path)(e)),
        }
        let mut compact = String::new();
        for letter in dead.values() {
            compact.push_str(&line(&DeadLetterChange::Put(Box::new(letter.clone()))));
        }
        let tmp = dead_path.with_extension("jsonl.tmp");
        std::fs::write(&tmp, compact).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &dead_path).map_err(io(&dead_path))?;
        let dead_file = OpenOptions::new()
            .append(true)
            .open(&dead_path)
            .map_err(io(&dead_path))?;
        Ok(Self {
            positions,
            positions_path,
            dead,
            dead_file,
            dead_path,
        })
    }

    pub(super) fn position(&self, site_id: &str) -> Option<EventCursor> {
        self.positions.get(site_id).copied()
    }

    pub(super) fn set_position(&mut self, site_id: &str, cursor: EventCursor) -> Result<(), StoreError> {
        let mut positions = self.positions.clone();
        positions.insert(site_id.to_string(), cursor);
        let tmp = self.positions_path.with_extension("json.tmp");
        let mut file = File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(&serde_json::to_vec(&positions).expect("positions serialize"))
            .map_err(io(&tmp))?;
        // The position is what makes delivery at-least-once across a restart: it must not
        // run ahead of the disk, or a crash could skip an event.
        file.sync_data().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.positions_path).map_err(io(&self.positions_path))?;
        self.positions = positions;
        Ok(())
    }

    pub(super) fn put(&mut self, letter: DeadLetter) -> Result<(), StoreError> {
        self.dead_file
            .write_all(line(&DeadLetterChange::Put(Box::new(letter.clone()))).as_bytes())
            .map_err(io(&self.dead_path))?;
        let key = (letter.event.site_id.clone(), letter.event.event_id.clone());
        self.dead.insert(key, letter);
        Ok(())
    }

    pub(super) fn letters(&self, site_id: &str) -> Vec<DeadLetter> {
        let mut letters: Vec<DeadLetter> = self
            .dead
            .iter()
            .filter(|((site, _), _)| site == site_id)
            .map(|(_, letter)| letter.clone())
            .collect();
        letters.sort_by_key(|l| (l.failed_at_ms, l.event.cursor));
        letters
    }

    pub(super) fn remove(&mut self, site_id: &str, event_id: &str) -> Result<bool, StoreError> {
        let key = (site_id.to_string(), event_id.to_string());
        if !self.dead.contains_key(&key) {
            return Ok(false);
        }
        let change = DeadLetterChange::Remove {
            site_id: key.0.clone(),
            event_id: key.1.clone(),
        };
        self.dead_file
            .write_all(line(&change).as_bytes())
            .map_err(io(&self.dead_path))?;
        self.dead.remove(&key);
        Ok(true)
    }
}

fn line(change: &DeadLetterChange) -> String {
    let mut text = serde_json::to_string(change).expect("dead letters serialize");
    text.push('\n');
    text
}
