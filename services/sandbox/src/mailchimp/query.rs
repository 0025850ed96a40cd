//! Query parameters common to MailChimp's collections: pagination (`count`, `offset`),
//! `fields` / `exclude_fields` (dot notation) and date filters.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use super::error::ApiError;

pub const DEFAULT_COUNT: usize = 10;
pub const MAX_COUNT: usize = 1000;

/// Decoded query parameters (last value wins).
#[derive(Debug, Clone, Default)]
pub struct Params(pub HashMap<String, String>);

impl Params {
    pub fn parse(query: &str) -> Params {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        Params(pairs.into_iter().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Only the parameters named (an operation honours the parameters its reference defines and
    /// ignores any other, like MailChimp).
    pub fn only(&self, names: &[&str]) -> Params {
        Params(
            self.0
                .iter()
                .filter(|(k, _)| names.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// Whether the `fields` projection keeps `path` (dot notation) or part of it; always
    /// without `fields`.
    pub fn keeps(&self, path: &str) -> bool {
        let Some(fields) = self.get("fields") else {
            return true;
        };
        fields.split(',').map(str::trim).any(|f| {
            f == path
                || f.strip_prefix(path).is_some_and(|r| r.starts_with('.'))
                || path.strip_prefix(f).is_some_and(|r| r.starts_with('.'))
        })
    }

    /// `count` (at most [`MAX_COUNT`]: a larger one is served as 1,000) and `offset`.
    pub fn page(&self) -> Result<(usize, usize), ApiError> {
        let num = |name: &str, default: usize| -> Result<usize, ApiError> {
            match self.get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse::<usize>().map_err(|_| {
                    ApiError::invalid_field(
                        name,
                        format!("Schema describes integer, {v:?} found instead"),
                    )
                }),
            }
        };
        let count = num("count", DEFAULT_COUNT)?.min(MAX_COUNT);
        let offset = num("offset", 0)?;
        Ok((count, offset))
    }

    /// A date-time filter (`since_last_changed`, `since_updated_at`, ...).
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| {
                ApiError::invalid_field(name, "This value is not a valid date-time")
            }),
        }
    }
}

/// Accepts ISO 8601 with offset or `Z`, and (like MailChimp) a naive `YYYY-MM-DD HH:MM:SS` or
/// `YYYY-MM-DDTHH:MM:SS` as UTC.
pub fn parse_time(v: &str) -> Option<DateTime<Utc>> {
    let v = v.trim();
    if let Ok(t) = DateTime::<FixedOffset>::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

/// MailChimp's timestamp format: `2015-07-15T19:28:00+00:00`.
pub fn fmt_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// A page of a collection.
pub fn paginate<T>(items: Vec<T>, count: usize, offset: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(count).collect()
}

/// Applies `fields` / `exclude_fields` (comma separated, dot notation through objects and
/// arrays) to a response body.
pub fn filter_fields(body: &mut Value, params: &Params) {
    if let Some(fields) = params.get("fields") {
        let paths: Vec<Vec<&str>> = fields
            .split(',')
            .map(|f| f.trim().split('.').collect())
            .collect();
        *body = keep(body, &paths);
    }
    if let Some(fields) = params.get("exclude_fields") {
        for f in fields.split(',') {
            let path: Vec<&str> = f.trim().split('.').collect();
            drop_path(body, &path);
        }
    }
}

fn keep(value: &Value, paths: &[Vec<&str>]) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| keep(v, paths)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let matching: Vec<Vec<&str>> = paths
                    .iter()
                    .filter(|p| p.first() == Some(&k.as_str()))
                    .map(|p| p[1..].to_vec())
                    .collect();
                if matching.is_empty() {
                    continue;
                }
                if matching.iter().any(|p| p.is_empty()) {
                    out.insert(k.clone(), v.clone());
                } else {
                    out.insert(k.clone(), keep(v, &matching));
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn drop_path(value: &mut Value, path: &[&str]) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| drop_path(v, path)),
        Value::Object(map) => match path {
            [] => {}
            [last] => {
                map.remove(*last);
            }
            [first, rest @ ..] => {
                if let Some(v) = map.get_mut(*first) {
                    drop_path(v, rest);
                }
            }
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields() {
        let mut v = json!({"members": [{"id": "a", "email_address": "x", "merge_fields": {"FNAME": "A", "LNAME": "B"}}], "total_items": 1, "_links": []});
        let p =
            Params::parse("fields=members.email_address,members.merge_fields.FNAME,total_items");
        filter_fields(&mut v, &p);
        assert_eq!(
            v,
            json!({"members": [{"email_address": "x", "merge_fields": {"FNAME": "A"}}], "total_items": 1})
        );
        let mut v = json!({"members": [{"id": "a", "email_address": "x"}], "_links": []});
        filter_fields(&mut v, &Params::parse("exclude_fields=_links,members.id"));
        assert_eq!(v, json!({"members": [{"email_address": "x"}]}));
    }

    #[test]
    fn times() {
        assert!(parse_time("2015-07-15T19:28:00+00:00").is_some());
        assert!(parse_time("2015-07-15T19:28:00Z").is_some());
        assert!(parse_time("2015-07-15 19:28:00").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
