//! The Redis GCRA limiter against its own private redis-server: the same decisions and
//! waits as governor for the same quota, refusals that count nowhere, keys that expire.

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use common::redis_server::{RedisCluster, RedisServer};
use governor::clock::{Clock, FakeRelativeClock};
use governor::{Quota, RateLimiter};
use modgate::config::{Config, Overrides};
use modgate::limits::{LimitSubjects, RedisLimiter};
use redis::AsyncCommands;

fn limiter_for(rules_toml: &str) -> (RedisLimiter, Config) {
    let config = Config::from_file(toml::from_str(rules_toml).unwrap(), &Overrides::default()).unwrap();
    (RedisLimiter::new(config.sites.values()), config)
}

fn from_ip(ip: &str) -> LimitSubjects {
    LimitSubjects {
        ip: Some(ip.parse().unwrap()),
        ..Default::default()
    }
}

/// Deterministic gaps between requests: mostly shorter than the period (so bursts build
/// up and get refused), sometimes much longer (so buckets refill).
fn gaps(seed: u64, n: usize, period: Duration) -> Vec<Duration> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (state >> 33) % 1000;
            let micros = period.as_micros() as u64;
            Duration::from_micros(match r {
                0..=599 => r * micros / 2000, // well inside one period
                600..=899 => micros / 2 + r,  // around half a period
                _ => micros * (r - 897),      // several periods: refill
            })
        })
        .collect()
}

#[tokio::test]
async fn allow_deny_and_retry_after_match_governor_for_the_same_quota() {
    let redis = RedisServer::start();
    let mut conn = redis.connection().await;
    for (n, (rate, burst, period)) in [
        ("1/second", 1, Duration::from_secs(1)),
        ("4/second", 3, Duration::from_millis(250)),
        ("5/minute", 5, Duration::from_secs(12)),
    ]
    .into_iter()
    .enumerate()
    {
        let (limiter, _) = limiter_for(&format!(
            "[[sites.s.rate_limits]]\nkey = \"ip\"\nrate = \"{rate}\"\nburst = {burst}\n"
        ));
        let clock = FakeRelativeClock::default();
        let governor = RateLimiter::direct_with_clock(
            Quota::with_period(period)
                .unwrap()
                .allow_burst(NonZeroU32::new(burst).unwrap()),
            clock.clone(),
        );
        let base_us: u64 = 1_800_000_000_000_000;
        let mut elapsed = Duration::ZERO;
        // Each quota replays from the same start time, so each gets its own reader.
        let reader = from_ip(&format!("203.0.113.{n}"));
        let (mut allowed, mut refused) = (0, 0);
        for gap in gaps(burst as u64, 400, period) {
            clock.advance(gap);
            elapsed += gap;
            let expected = governor
                .check()
                .map_err(|not_until| not_until.wait_time_from(clock.now()));
            let got = limiter
                .check_at(&mut conn, "s", &reader, Some(base_us + elapsed.as_micros() as u64))
                .await
                .unwrap()
                .map_err(|limited| limited.retry_after);
            assert_eq!(got, expected, "{rate} burst {burst} at {elapsed:?}");
            if got.is_ok() {
                allowed += 1;
            } else {
                refused += 1;
            }
        }
        assert!(
            allowed > 50 && refused > 50,
            "{rate}: the sequence exercises both ({allowed}/{refused})"
        );
    }
}

#[tokio::test]
async fn a_comment_refused_by_one_rule_is_counted_by_none() {
    let redis = RedisServer::start();
    let mut conn = redis.connection().await;
    let (limiter, config) = limiter_for(
        "[[sites.s.rate_limits]]\nkey = \"ip\"\nrate = \"1/hour\"\nburst = 1\n\
         [[sites.s.rate_limits]]\nkey = \"thread\"\nrate = \"1/hour\"\nburst = 2\n",
    );
    let rules = &config.sites["s"].rate_limits;
    let now = Some(1_800_000_000_000_000);
    let on = |ip: &str, thread: &str| LimitSubjects {
        thread: Some(thread.into()),
        ..from_ip(ip)
    };
    assert!(
        limiter
            .check_at(&mut conn, "s", &on("192.0.2.1", "a"), now)
            .await
            .unwrap()
            .is_ok()
    );
    // The address is out of room: refused, and thread "b" is not charged for it.
    let refused = limiter
        .check_at(&mut conn, "s", &on("192.0.2.1", "b"), now)
        .await
        .unwrap();
    assert!(refused.unwrap_err().rule.starts_with("ip limit 1/hour"));
    let thread_b = modgate::limits::bucket_key("s", 1, &rules[1], "b");
    let stored: Option<String> = conn.get(&thread_b).await.unwrap();
    assert_eq!(stored, None, "nothing written for a refused comment");
    // So thread "b" still has its whole burst of two for other readers.
    assert!(
        limiter
            .check_at(&mut conn, "s", &on("192.0.2.2", "b"), now)
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        limiter
            .check_at(&mut conn, "s", &on("192.0.2.3", "b"), now)
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        limiter
            .check_at(&mut conn, "s", &on("192.0.2.4", "b"), now)
            .await
            .unwrap()
            .is_err()
    );
}

#[tokio::test]
async fn the_longest_wait_is_reported_and_buckets_expire_when_full_again() {
    let redis = RedisServer::start();
    let mut conn = redis.connection().await;
    let (limiter, config) = limiter_for(
        "[[sites.s.rate_limits]]\nkey = \"ip\"\nrate = \"1/minute\"\nburst = 1\n\
         [[sites.s.rate_limits]]\nkey = \"ip_prefix\"\nrate = \"1/hour\"\nburst = 1\n",
    );
    let now = 1_800_000_000_000_000u64;
    let reader = from_ip("198.51.100.7");
    assert!(
        limiter
            .check_at(&mut conn, "s", &reader, Some(now))
            .await
            .unwrap()
            .is_ok()
    );
    let limited = limiter
        .check_at(&mut conn, "s", &reader, Some(now + 1_000_000))
        .await
        .unwrap()
        .unwrap_err();
    assert!(limited.rule.starts_with("ip_prefix limit 1/hour"), "{}", limited.rule);
    assert_eq!(limited.retry_after, Duration::from_secs(3599));

    let rules = &config.sites["s"].rate_limits;
    let ip_bucket = modgate::limits::bucket_key("s", 0, &rules[0], "198.51.100.7");
    let ttl_ms: i64 = redis::cmd("PTTL").arg(&ip_bucket).query_async(&mut conn).await.unwrap();
    assert!(
        (59_000..=60_000).contains(&ttl_ms),
        "expires when the bucket is full again: {ttl_ms} ms"
    );
}

#[tokio::test]
async fn redis_clock_burst_then_refusal_and_no_round_trip_without_rules() {
    let redis = RedisServer::start();
    let mut conn = redis.connection().await;
    let (limiter, _) = limiter_for("[[sites.s.rate_limits]]\nkey = \"ip\"\nrate = \"6/minute\"\nburst = 3\n");
    let reader = from_ip("2001:db8::1");
    for _ in 0..3 {
        assert!(limiter.check(&mut conn, "s", &reader).await.unwrap().is_ok());
    }
    let limited = limiter.check(&mut conn, "s", &reader).await.unwrap().unwrap_err();
    assert!(
        limited.retry_after > Duration::from_secs(9) && limited.retry_after <= Duration::from_secs(10),
        "{limited:?}"
    );
    // A site without rules, or a comment no rule applies to, passes without Redis.
    let (open, _) = limiter_for("[sites.s]\nrate_limits = []\n");
    drop(redis);
    assert!(open.check(&mut conn, "s", &reader).await.unwrap().is_ok());
    assert!(
        limiter
            .check(&mut conn, "s", &LimitSubjects::default())
            .await
            .unwrap()
            .is_ok()
    );
}

#[tokio::test]
async fn the_same_script_runs_on_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let link = cluster.link().await;
    // Two rules, so the script touches two keys: they must share the site's slot.
    let (limiter, _) = limiter_for(
        "[[sites.s.rate_limits]]\nkey = \"ip\"\nrate = \"1/hour\"\nburst = 2\n\
         [[sites.s.rate_limits]]\nkey = \"thread\"\nrate = \"1/hour\"\nburst = 5\n",
    );
    let reader = LimitSubjects {
        thread: Some("bai-viet-9".into()),
        ..from_ip("203.0.113.99")
    };
    let mut verdicts = Vec::new();
    for _ in 0..3 {
        let verdict = link
            .run(|mut conn| {
                let (limiter, reader) = (&limiter, &reader);
                async move { limiter.check(&mut conn, "s", reader).await }
            })
            .await
            .unwrap();
        verdicts.push(verdict.is_ok());
    }
    assert_eq!(verdicts, [true, true, false]);
}
