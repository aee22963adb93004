//! API keys: `authorization: Bearer <key>` identifies the calling site.
//!
//! Keys are compared as SHA-256 digests in constant time, against every configured key
//! with no early exit, so response time says nothing about how much of a key was right.
//! Keys never appear in logs or errors.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use crate::config::SitePolicy;

pub struct ApiKeys {
    /// (digest of key, site id)
    keys: Vec<([u8; 32], String)>,
    /// Sites that accept calls without a key (only possible on loopback).
    open_sites: Vec<String>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    pub fn new<'a>(sites: impl IntoIterator<Item = &'a SitePolicy>) -> Self {
        let mut keys = Vec::new();
        let mut open_sites = Vec::new();
        for site in sites {
            if site.api_keys.is_empty() {
                open_sites.push(site.id.clone());
            }
            keys.extend(site.api_keys.iter().map(|k| (digest(k), site.id.clone())));
        }
        Self { keys, open_sites }
    }

    /// Checks that the caller may act for `site_id`. The site must already be known.
    pub fn authorize(&self, metadata: &MetadataMap, site_id: &str) -> Result<(), Status> {
        let presented = match metadata.get("authorization") {
            None => None,
            Some(value) => {
                let value = value
                    .to_str()
                    .map_err(|_| unauthenticated("the authorization header is not readable text"))?;
                let token = value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
                    .ok_or_else(|| unauthenticated("authorization must be \"Bearer <API key>\""))?;
                Some(token.trim())
            }
        };
        let Some(token) = presented else {
            if self.open_sites.iter().any(|s| s == site_id) {
                return Ok(());
            }
            return Err(unauthenticated(
                "missing authorization: send \"authorization: Bearer <API key>\" metadata",
            ));
        };
        let presented = digest(token);
        let mut owner: Option<&str> = None;
        for (key, site) in &self.keys {
            if bool::from(key.ct_eq(&presented)) {
                owner = Some(site);
            }
        }
        match owner {
            None => Err(unauthenticated("invalid API key")),
            Some(site) if site == site_id => Ok(()),
            Some(_) => Err(Status::new(
                Code::PermissionDenied,
                format!("this API key is not valid for site {site_id:?}"),
            )),
        }
    }
}

fn unauthenticated(message: &str) -> Status {
    Status::new(Code::Unauthenticated, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    fn keys() -> ApiKeys {
        let file = toml::from_str(
            "[sites.news]\napi_keys = [\"news-key-0123456789\"]\n[sites.blog]\napi_keys = [\"blog-key-0123456789\"]\n[sites.dev]\n",
        )
        .unwrap();
        let config = Config::from_file(file, &Overrides::default()).unwrap();
        ApiKeys::new(config.sites.values())
    }

    fn with(value: &str) -> MetadataMap {
        let mut m = MetadataMap::new();
        m.insert("authorization", value.parse().unwrap());
        m
    }

    #[test]
    fn keys_identify_their_site() {
        let k = keys();
        assert!(k.authorize(&with("Bearer news-key-0123456789"), "news").is_ok());
        assert_eq!(
            k.authorize(&with("Bearer blog-key-0123456789"), "news")
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );
        assert_eq!(
            k.authorize(&with("Bearer wrong-key-0123456789"), "news")
                .unwrap_err()
                .code(),
            Code::Unauthenticated
        );
        assert_eq!(
            k.authorize(&MetadataMap::new(), "news").unwrap_err().code(),
            Code::Unauthenticated
        );
        assert_eq!(
            k.authorize(&with("Basic abc"), "news").unwrap_err().code(),
            Code::Unauthenticated
        );
    }

    #[test]
    fn a_site_without_keys_is_open_but_a_wrong_key_is_still_refused() {
        let k = keys();
        assert!(k.authorize(&MetadataMap::new(), "dev").is_ok());
        assert_eq!(
            k.authorize(&with("Bearer nonsense-key-000000"), "dev")
                .unwrap_err()
                .code(),
            Code::Unauthenticated
        );
        let e = k.authorize(&with("Bearer wrong-key-0123456789"), "news").unwrap_err();
        assert!(!e.message().contains("wrong-key"), "keys never echo back");
    }
}
