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

/// The GCRA functions, shared by every script that counts rate limits.
pub const GCRA: &str = include_str!("gcra.lua");

/// KEYS: the buckets; ARGV[1]: now in microseconds or ""; then interval and burst per bucket.
const CHECK_BODY: &str =
    "local refused_by, wait = count_in_buckets(1, #KEYS, 2, now_us(ARGV[1]))\nreturn {refused_by, wait}";

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
            script: redis::Script::new(&format!("{GCRA}\n{CHECK_BODY}")),
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
        let buckets = self.buckets(site, subjects);
        if buckets.is_empty() {
            return Ok(Ok(()));
        }
        let mut invocation = self.script.prepare_invoke();
        for bucket in &buckets {
            invocation.key(&bucket.key);
        }
        invocation.arg(now_us.map_or_else(String::new, |t| t.to_string()));
        for bucket in &buckets {
            invocation.arg(bucket.interval_us).arg(bucket.burst);
        }
        let (refused_by, wait_us): (usize, u64) = invocation.invoke_async(conn).await?;
        Ok(RateBucket::verdict(&buckets, refused_by, wait_us))
    }

    /// The buckets a comment is counted in: one per rule of its site that applies to it.
    pub fn buckets(&self, site: &str, subjects: &LimitSubjects) -> Vec<RateBucket> {
        let Some(rules) = self.sites.get(site) else {
            return Vec::new();
        };
        rules
            .iter()
            .enumerate()
            .filter_map(|(i, limit)| {
                subjects.key_for(limit.key).map(|subject| RateBucket {
                    key: bucket_key(site, i, limit, &subject),
                    interval_us: limit.period.as_micros().max(1) as u64,
                    burst: limit.burst.max(1),
                    rule: describe(limit),
                })
            })
            .collect()
    }
}

/// One rule's bucket for one comment, as the GCRA script takes it.
#[derive(Clone, Debug, PartialEq)]
pub struct RateBucket {
    pub key: String,
    pub interval_us: u64,
    pub burst: u32,
    /// How the rule is named in reasons.
    pub rule: String,
}

impl RateBucket {
    /// Reads the script's answer: `refused_by` is 0 (counted) or the 1-based bucket that
    /// needs the longest wait.
    pub fn verdict(buckets: &[RateBucket], refused_by: usize, wait_us: u64) -> Result<(), Limited> {
        match refused_by.checked_sub(1).and_then(|i| buckets.get(i)) {
            None => Ok(()),
            Some(bucket) => Err(Limited {
                rule: bucket.rule.clone(),
                retry_after: Duration::from_micros(wait_us),
            }),
        }
    }
}
