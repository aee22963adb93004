//! The Redis side of decisions going back to the CMS: reading the decision-event stream
//! (appended by the resolve script in the parent module), the webhook's position and
//! dead letters, and the per-site delivery lease.

use std::time::Duration;

use super::{RedisStore, key};
use crate::store::{DeadLetter, DecisionEvent, EventCursor, StoreError};

/// The webhook lease: taken if free, renewed if already ours, refused if another
/// replica holds it. A script because "renew only if still mine" is a read then a write.
/// KEYS: the lease. ARGV: holder, TTL (ms). Returns 1 when held by `holder`.
pub(super) const LEASE_SCRIPT: &str = r"
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if owner then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Stream entries (id, [("event", JSON)]) as events, the id as their cursor.
fn entries_to_events(entries: Vec<(String, Vec<(String, String)>)>) -> Result<Vec<DecisionEvent>, StoreError> {
    let mut events = Vec::with_capacity(entries.len());
    for (id, fields) in entries {
        let cursor: EventCursor = id
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("redis stream id: {e}")))?;
        for (_, json) in fields {
            let mut event: DecisionEvent = serde_json::from_str(&json)
                .map_err(|e| StoreError::Unavailable(format!("redis holds an unreadable decision event: {e}")))?;
            event.cursor = cursor;
            events.push(event);
        }
    }
    Ok(events)
}

impl RedisStore {
    pub(super) async fn events_after(
        &self,
        site_id: &str,
        after: Option<EventCursor>,
        limit: usize,
    ) -> Result<Vec<DecisionEvent>, StoreError> {
        let stream = key(site_id, "decision-events");
        // '(' makes the start exclusive (Redis 6.2+): everything after the cursor.
        let start = after.map_or_else(|| "-".to_string(), |c| format!("({c}"));
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .link
            .run(|mut conn| async move {
                redis::cmd("XRANGE")
                    .arg(stream)
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(limit)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        entries_to_events(entries)
    }

    /// The stream read backwards down to the first id at `since_ms` (stream ids are the
    /// milliseconds Redis appended at).
    pub(super) async fn events_since_newest_first(
        &self,
        site_id: &str,
        since_ms: u64,
        limit: usize,
    ) -> Result<Vec<DecisionEvent>, StoreError> {
        let stream = key(site_id, "decision-events");
        let entries: Vec<(String, Vec<(String, String)>)> = self
            .link
            .run(|mut conn| async move {
                redis::cmd("XREVRANGE")
                    .arg(stream)
                    .arg("+")
                    .arg(format!("{since_ms}-0"))
                    .arg("COUNT")
                    .arg(limit)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        entries_to_events(entries)
    }

    pub(super) async fn delivered_position(&self, site_id: &str) -> Result<Option<EventCursor>, StoreError> {
        let position = key(site_id, "webhook:position");
        let text: Option<String> = self
            .link
            .run(|mut conn| async move { redis::cmd("GET").arg(position).query_async(&mut conn).await })
            .await?;
        text.map(|t| {
            t.parse()
                .map_err(|e| StoreError::Unavailable(format!("redis webhook position: {e}")))
        })
        .transpose()
    }

    pub(super) async fn store_delivered_position(&self, site_id: &str, cursor: EventCursor) -> Result<(), StoreError> {
        let position = key(site_id, "webhook:position");
        let _: () = self
            .link
            .run(|mut conn| async move {
                redis::cmd("SET")
                    .arg(position)
                    .arg(cursor.to_string())
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(())
    }

    pub(super) async fn store_dead_letter(&self, letter: DeadLetter) -> Result<(), StoreError> {
        let dead = key(&letter.event.site_id, "webhook:dead");
        let json = serde_json::to_string(&letter).expect("dead letters serialize");
        let event_id = letter.event.event_id;
        let _: i64 = self
            .link
            .run(|mut conn| async move {
                redis::cmd("HSET")
                    .arg(dead)
                    .arg(event_id)
                    .arg(json)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(())
    }

    pub(super) async fn site_dead_letters(&self, site_id: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let dead = key(site_id, "webhook:dead");
        let values: Vec<String> = self
            .link
            .run(|mut conn| async move { redis::cmd("HVALS").arg(dead).query_async(&mut conn).await })
            .await?;
        let mut letters = values
            .iter()
            .map(|json| {
                serde_json::from_str::<DeadLetter>(json)
                    .map_err(|e| StoreError::Unavailable(format!("redis holds an unreadable dead letter: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        letters.sort_by_key(|l| (l.failed_at_ms, l.event.cursor));
        Ok(letters)
    }

    pub(super) async fn drop_dead_letter(&self, site_id: &str, event_id: &str) -> Result<bool, StoreError> {
        let dead = key(site_id, "webhook:dead");
        let event_id = event_id.to_string();
        let removed: i64 = self
            .link
            .run(|mut conn| async move { redis::cmd("HDEL").arg(dead).arg(event_id).query_async(&mut conn).await })
            .await?;
        Ok(removed > 0)
    }

    pub(super) async fn lease(&self, site_id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut invocation = self.lease_script.prepare_invoke();
        invocation
            .key(key(site_id, "webhook:lease"))
            .arg(holder)
            .arg(ttl.as_millis().max(1) as u64);
        let held: i64 = self
            .link
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(held == 1)
    }
}
