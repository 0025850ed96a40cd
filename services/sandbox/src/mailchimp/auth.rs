//! API key and OAuth authentication, data centers, and the limit of simultaneous connections
//! per API key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use super::error::ApiError;

/// The data center of an API key: the suffix after the last `-` (`abc-us19` -> `us19`).
pub fn datacenter(key: &str) -> Option<&str> {
    key.rsplit_once('-')
        .map(|(_, dc)| dc)
        .filter(|dc| !dc.is_empty())
}

/// Who made a request: the key (or OAuth token) the connection limit is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal(pub String);

/// The configured credentials.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub api_keys: Vec<String>,
    pub oauth_tokens: Vec<String>,
    /// The data center this sandbox plays: the first key's.
    pub datacenter: String,
}

impl Credentials {
    pub fn new(api_keys: Vec<String>, oauth_tokens: Vec<String>) -> Self {
        let datacenter = api_keys
            .first()
            .and_then(|k| datacenter(k))
            .unwrap_or("us1")
            .to_owned();
        Credentials {
            api_keys,
            oauth_tokens,
            datacenter,
        }
    }

    /// Checks an `Authorization` header value like MailChimp: Basic (any user, key as
    /// password; a key of another data center gives 403 Wrong Datacenter) or Bearer.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal, ApiError> {
        let header = header.map(str::trim).filter(|h| !h.is_empty());
        let Some(header) = header else {
            return Err(ApiError::api_key_missing());
        };
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth") {
            return if self.oauth_tokens.iter().any(|t| t == rest) {
                Ok(Principal(format!("oauth:{rest}")))
            } else {
                Err(ApiError::api_key_invalid())
            };
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(ApiError::api_key_missing());
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(ApiError::api_key_invalid)?;
        let key = decoded
            .split_once(':')
            .map(|(_, k)| k)
            .unwrap_or(decoded.as_str());
        if key.is_empty() {
            return Err(ApiError::api_key_missing());
        }
        match datacenter(key) {
            Some(dc) if dc != self.datacenter => Err(ApiError::wrong_datacenter(dc)),
            Some(_) if self.api_keys.iter().any(|k| k == key) => Ok(Principal(key.to_owned())),
            _ => Err(ApiError::api_key_invalid()),
        }
    }
}

/// Counts requests in flight per principal; the one over the limit is refused. Records, per
/// principal, the most requests ever in flight at once (`peak`, never above the limit) and
/// how many were refused, so tests can assert that clients stay within the limit.
#[derive(Clone)]
pub struct ConnectionLimiter {
    limit: usize,
    usage: Arc<Mutex<HashMap<Principal, Usage>>>,
}

/// One principal's use of its connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Requests being served now.
    pub in_flight: usize,
    /// The most served at once since the start (or the last [`ConnectionLimiter::reset`]).
    pub peak: usize,
    /// Requests refused with 429 for being over the limit.
    pub refused: u64,
    /// Requests admitted.
    pub admitted: u64,
}

/// Releases the slot when dropped.
pub struct Slot {
    limiter: ConnectionLimiter,
    principal: Principal,
}

impl ConnectionLimiter {
    pub fn new(limit: usize) -> Self {
        ConnectionLimiter {
            limit,
            usage: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Principal, Usage>> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The limit per principal.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Each principal's use, keyed by the md5 of its key (never the key): `connections` in
    /// the state dump.
    pub fn counts(&self) -> HashMap<String, Usage> {
        self.lock()
            .iter()
            .map(|(p, u)| (super::state::subscriber_hash(&p.0), *u))
            .collect()
    }

    /// Takes a slot, or `None` when the principal already has `limit` requests in flight.
    pub fn acquire(&self, principal: &Principal) -> Option<Slot> {
        let mut map = self.lock();
        let u = map.entry(principal.clone()).or_default();
        if u.in_flight >= self.limit {
            u.refused += 1;
            return None;
        }
        u.in_flight += 1;
        u.admitted += 1;
        u.peak = u.peak.max(u.in_flight);
        Some(Slot {
            limiter: self.clone(),
            principal: principal.clone(),
        })
    }

    /// Requests in flight for a principal.
    pub fn in_flight(&self, principal: &Principal) -> usize {
        self.lock().get(principal).map_or(0, |u| u.in_flight)
    }

    /// Every principal seen and its usage.
    pub fn usage(&self) -> Vec<(Principal, Usage)> {
        let mut all: Vec<(Principal, Usage)> =
            self.lock().iter().map(|(p, u)| (p.clone(), *u)).collect();
        all.sort_by(|a, b| a.0.0.cmp(&b.0.0));
        all
    }

    /// Forgets peaks and counts (requests in flight stay counted).
    pub fn reset(&self) {
        let mut map = self.lock();
        map.retain(|_, u| u.in_flight > 0);
        for u in map.values_mut() {
            *u = Usage {
                in_flight: u.in_flight,
                peak: u.in_flight,
                ..Usage::default()
            };
        }
    }
}

impl Principal {
    /// The principal as shown on the control API: an API key keeps its first 4 characters
    /// and its data center (`0123…-us1`), a token its first 4.
    pub fn masked(&self) -> String {
        let (kind, secret) = self
            .0
            .split_once("oauth:")
            .map_or(("", self.0.as_str()), |(_, t)| ("oauth:", t));
        let head: String = secret.chars().take(4).collect();
        match datacenter(secret).filter(|_| kind.is_empty()) {
            Some(dc) => format!("{head}…-{dc}"),
            None => format!("{kind}{head}…"),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.limiter.lock();
        if let Some(u) = map.get_mut(&self.principal) {
            u.in_flight = u.in_flight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn basic(key: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("anystring:{key}"))
        )
    }

    #[test]
    fn the_limiter_remembers_the_peak_and_the_refusals() {
        let limiter = ConnectionLimiter::new(2);
        let p = Principal("abc-us19".into());
        let a = limiter.acquire(&p);
        let b = limiter.acquire(&p);
        assert!(a.is_some() && b.is_some());
        assert!(limiter.acquire(&p).is_none(), "the third is refused");
        drop((a, b));
        let counts = limiter.counts();
        let c = counts.values().next().copied().unwrap();
        assert_eq!((c.peak, c.refused), (2, 1));
        assert!(
            !counts.contains_key("abc-us19"),
            "keyed by digest, never the key"
        );
        limiter.reset();
        assert!(limiter.counts().is_empty());
    }

    #[test]
    fn keys() {
        let c = Credentials::new(vec!["abc-us19".into()], vec!["tok".into()]);
        assert!(c.authenticate(Some(&basic("abc-us19"))).is_ok());
        assert_eq!(c.authenticate(None).unwrap_err().title, "API Key Missing");
        assert_eq!(
            c.authenticate(Some(&basic("zzz-us19"))).unwrap_err().title,
            "API Key Invalid"
        );
        assert_eq!(
            c.authenticate(Some(&basic("abc-us6"))).unwrap_err().title,
            "Wrong Datacenter"
        );
        assert_eq!(
            c.authenticate(Some(&basic("nodash"))).unwrap_err().title,
            "API Key Invalid"
        );
        assert!(c.authenticate(Some("Bearer tok")).is_ok());
        assert!(c.authenticate(Some("Bearer nope")).is_err());
    }

    #[test]
    fn limiter() {
        let l = ConnectionLimiter::new(2);
        let p = Principal("k".into());
        let a = l.acquire(&p);
        let b = l.acquire(&p);
        assert!(a.is_some() && b.is_some());
        assert!(l.acquire(&p).is_none());
        drop(a);
        let c = l.acquire(&p);
        assert!(c.is_some());
        let u = l.usage()[0].1;
        assert_eq!((u.in_flight, u.peak, u.refused, u.admitted), (2, 2, 1, 3));
        drop((b, c));
        l.reset();
        assert!(l.usage().is_empty());
        assert_eq!(Principal("abcdefgh-us1".into()).masked(), "abcd…-us1");
        assert_eq!(Principal("oauth:tokentoken".into()).masked(), "oauth:toke…");
    }
}
