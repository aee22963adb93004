//! Rate limits shared by every replica: GCRA kept in Redis, every rule that applies to a
//! comment checked by one script in one round trip (see `gcra.lua` for the algorithm).
//!
//! Same quotas and the same arithmetic as the in-process [`super::LocalLimiter`], with two
//! differences that only a shared store makes possible: the clock is Redis's, so replicas
//! with skewed clocks agree, and a comment refused by one rule is counted by none.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionLike;

use super::{LimitSubjects, Limited, describe};
use crate::config::{RateLimit, SitePolicy};

/// The rules of every site, checked against buckets in Redis.
pub struct RedisLimiter {
    script: redis::Script,
    sites: HashMap<String, Vec<RateLimit>>,
}

/// The Redis key of one rule's bucket for one subject. The site in braces is the hash
/// tag: all buckets one comment touches live in one cluster slot, as a script requires.
pub fn bucket_key(site: &str, rule_index: usize, limit: &RateLimit, subject: &str) -> String {
    format!("modgate:{{{site}}}:rate:{rule_index}:{}:{subject}", limit.key.as_str())
}

impl RedisLimiter {
    pub fn new<'a>(sites: impl IntoIterator<Item = &'a SitePolicy>) -> Self {
        Self {
            script: redis::Script::new(include_str!("gcra.lua")),
            sites: sites
                .into_iter()
                .map(|site| (site.id.clone(), site.rate_limits.clone()))
                .collect(),
        }
    }

    /// Counts the comment under every applicable rule of its site, or under none when
    /// one of them has no room. The outer error is Redis's (unreachable, timed out).
    pub async fn check<C: ConnectionLike + Send>(
        &self,
        conn: &mut C,
        site: &str,
        subjects: &LimitSubjects,
    ) -> redis::RedisResult<Result<(), Limited>> {
        self.check_at(conn, site, subjects, None).await
    }

    /// [`Self::check`] at a given time in microseconds instead of Redis's clock, so a
    /// sequence can be replayed exactly (tests, and comparing with governor).
    pub async fn check_at<C: ConnectionLike + Send>(
        &self,
        conn: &mut C,
        site: &str,
        subjects: &LimitSubjects,
        now_us: Option<u64>,
    ) -> redis::RedisResult<Result<(), Limited>> {
        let Some(rules) = self.sites.get(site) else {
            return Ok(Ok(()));
        };
        let applicable: Vec<(usize, &RateLimit, String)> = rules
            .iter()
            .enumerate()
            .filter_map(|(i, limit)| subjects.key_for(limit.key).map(|subject| (i, limit, subject)))
            .collect();
        if applicable.is_empty() {
            return Ok(Ok(()));
        }
        let mut invocation = self.script.prepare_invoke();
        for (i, limit, subject) in &applicable {
            invocation.key(bucket_key(site, *i, limit, subject));
        }
        invocation.arg(now_us.map_or_else(String::new, |t| t.to_string()));
        for (_, limit, _) in &applicable {
            invocation
                .arg(limit.period.as_micros().max(1) as u64)
                .arg(limit.burst.max(1));
        }
        let (refused_by, wait_us): (usize, u64) = invocation.invoke_async(conn).await?;
        if refused_by == 0 {
            return Ok(Ok(()));
        }
        let (_, limit, _) = applicable.get(refused_by - 1).ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Client, "rate-limit script answered an unknown rule"))
        })?;
        Ok(Err(Limited {
            rule: describe(limit),
            retry_after: Duration::from_micros(wait_us),
        }))
    }
}
