//! Rate limits on the embedded backend: governor's GCRA, keyed, in process.
//!
//! Each rule of a site counts one thing (an IP, an IPv4 /24 or IPv6 /64, an author's
//! hashed e-mail, a user id, a thread, the whole site) with a sustained rate and a burst.
//! A comment passes when every rule that applies to it has room; when one does not, the
//! answer carries how long until it would.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::{LimitKey, RateLimit, SitePolicy};

mod shared;
pub use shared::{GCRA, RateBucket, RedisLimiter, bucket_key};

type KeyedLimiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

struct Rule {
    limit: RateLimit,
    limiter: KeyedLimiter,
}

/// The values a comment is counted under; `None` where the request did not carry one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitSubjects {
    pub ip: Option<IpAddr>,
    /// Salted hash of the normalized e-mail address.
    pub email: Option<String>,
    pub user: Option<String>,
    pub thread: Option<String>,
}

impl LimitSubjects {
    pub(crate) fn key_for(&self, key: LimitKey) -> Option<String> {
        match key {
            LimitKey::Ip => self.ip.map(|ip| ip.to_string()),
            LimitKey::IpPrefix => self.ip.map(ip_prefix),
            LimitKey::Email => self.email.clone(),
            LimitKey::User => self.user.clone(),
            LimitKey::Thread => self.thread.clone(),
            LimitKey::Site => Some(String::new()),
        }
    }
}

/// The network a reader is likely to share with their other devices and neighbours: the
/// IPv4 /24 or the IPv6 /64 (the prefix one household or one phone usually gets).
pub fn ip_prefix(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return ip_prefix(IpAddr::V4(v4));
            }
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// A denied comment: which rule, and how long until it would pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Limited {
    pub rule: String,
    pub retry_after: Duration,
}

/// How a rule is named in reasons: "ip limit 5/minute (burst 5)".
pub(crate) fn describe(limit: &RateLimit) -> String {
    format!("{} limit {} (burst {})", limit.key.as_str(), limit.rate, limit.burst)
}

/// All sites' rules.
pub struct LocalLimiter {
    sites: HashMap<String, Vec<Rule>>,
    clock: DefaultClock,
}

impl LocalLimiter {
    pub fn new<'a>(sites: impl IntoIterator<Item = &'a SitePolicy>) -> Self {
        let clock = DefaultClock::default();
        let sites = sites
            .into_iter()
            .map(|site| {
                let rules = site
                    .rate_limits
                    .iter()
                    .map(|limit| {
                        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
                        let quota = Quota::with_period(limit.period)
                            .expect("validated non-zero")
                            .allow_burst(burst);
                        Rule {
                            limit: limit.clone(),
                            limiter: RateLimiter::keyed(quota),
                        }
                    })
                    .collect();
                (site.id.clone(), rules)
            })
            .collect();
        Self { sites, clock }
    }

    /// Counts the comment under every applicable rule of its site. Rules are checked in
    /// configuration order; the first that has no room decides (rules before it have
    /// counted the comment: governor cannot check without taking).
    pub fn check(&self, site: &str, subjects: &LimitSubjects) -> Result<(), Limited> {
        let Some(rules) = self.sites.get(site) else {
            return Ok(());
        };
        for rule in rules {
            let Some(key) = subjects.key_for(rule.limit.key) else {
                continue;
            };
            if let Err(not_until) = rule.limiter.check_key(&key) {
                return Err(Limited {
                    rule: describe(&rule.limit),
                    retry_after: not_until.wait_time_from(self.clock.now()),
                });
            }
        }
        Ok(())
    }

    /// Forgets keys whose buckets are full again, so memory follows active readers only.
    pub fn forget_idle(&self) {
        for rules in self.sites.values() {
            for rule in rules {
                rule.limiter.retain_recent();
                rule.limiter.shrink_to_fit();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    fn limiter(toml: &str) -> LocalLimiter {
        let file = toml::from_str(toml).unwrap();
        let config = Config::from_file(file, &Overrides::default()).unwrap();
        LocalLimiter::new(config.sites.values())
    }

    #[test]
    fn prefixes_group_neighbours() {
        assert_eq!(ip_prefix("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(ip_prefix("2001:db8:1:2:3:4:5:6".parse().unwrap()), "2001:db8:1:2::/64");
        assert_eq!(ip_prefix("::ffff:203.0.113.9".parse().unwrap()), "203.0.113.0/24");
    }

    #[test]
    fn a_burst_passes_then_the_next_waits_about_one_period() {
        let l = limiter("[[sites.s.rate_limits]]\nkey = \"ip\"\nrate = \"6/minute\"\nburst = 3\n");
        let reader = LimitSubjects {
            ip: Some("198.51.100.1".parse().unwrap()),
            ..Default::default()
        };
        for _ in 0..3 {
            assert!(l.check("s", &reader).is_ok());
        }
        let limited = l.check("s", &reader).unwrap_err();
        assert!(
            limited.retry_after > Duration::from_secs(9) && limited.retry_after <= Duration::from_secs(10),
            "{limited:?}"
        );
        assert!(limited.rule.contains("ip limit 6/minute"));
        // Another reader is not affected.
        let other = LimitSubjects {
            ip: Some("198.51.100.2".parse().unwrap()),
            ..Default::default()
        };
        assert!(l.check("s", &other).is_ok());
    }

    #[test]
    fn prefix_rules_count_a_whole_network_and_absent_subjects_skip_rules() {
        let l = limiter(
            "[[sites.s.rate_limits]]\nkey = \"ip_prefix\"\nrate = \"1/hour\"\nburst = 2\n\
             [[sites.s.rate_limits]]\nkey = \"email\"\nrate = \"1/hour\"\nburst = 1\n",
        );
        let a = LimitSubjects {
            ip: Some("192.0.2.1".parse().unwrap()),
            ..Default::default()
        };
        let b = LimitSubjects {
            ip: Some("192.0.2.200".parse().unwrap()),
            ..Default::default()
        };
        assert!(l.check("s", &a).is_ok());
        assert!(l.check("s", &b).is_ok());
        assert!(l.check("s", &a).is_err(), "same /24");
        let no_ip_one_email = LimitSubjects {
            email: Some("h1".into()),
            ..Default::default()
        };
        assert!(l.check("s", &no_ip_one_email).is_ok());
        assert!(l.check("s", &no_ip_one_email).is_err());
        assert!(l.check("unknown-site", &a).is_ok());
    }
}
