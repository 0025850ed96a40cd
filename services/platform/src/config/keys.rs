//! Unknown configuration keys: every key given in the file or the environment must be one the
//! service reads, else loading fails naming the key and the nearest known one.
//!
//! The known keys are those of the configuration type's JSON Schema (`schemars` follows the
//! serde attributes: `flatten`, `default`, `rename`, `alias`, `skip`, internally tagged enums),
//! so the check cannot drift from what deserialization reads.

use std::collections::BTreeSet;
use std::fmt;

use figment::Figment;
use figment::value::Value;
use serde_json::Value as Json;

use super::{ENV_PREFIX, ENV_SEPARATOR, join};

/// Environment variables starting with `FERRY_` that are no configuration key: they are read
/// directly by a program, a test harness or the deployment, never by the configuration loader.
/// Keep this list in step with every `FERRY_` variable read in the repository (the crate
/// README documents each).
pub const NON_CONFIG_ENV: &[&str] = &[
    // Names the configuration file.
    "FERRY_CONFIG",
    // Where a binary reports the addresses its listeners bound (`--ready-file`).
    "FERRY_READY_FILE",
    // Keyring sealing integration credentials (crate::secrets).
    "FERRY_CREDENTIALS_KEY",
    // `ferry integration …` CLI: the admin token and the credentials of a new integration.
    "FERRY_ADMIN_TOKEN",
    "FERRY_MAILCHIMP_API_KEY",
    "FERRY_MPLUSKASSA_SECRET",
    // Orchestrator crash-point tests.
    "FERRY_ORCHESTRATOR_CRASH_AT",
    // Regenerate checked-in files (proto schemas, sandbox seed).
    "FERRY_UPDATE_SCHEMAS",
    "FERRY_UPDATE_SEED",
    // Deployment: docker compose's secrets file and image, the Dockerfile's binary list.
    "FERRY_SECRETS_ENV",
    "FERRY_IMAGE",
    "FERRY_BINARIES",
];

/// Prefixes of `FERRY_` variables that are no configuration key: test harnesses
/// (`FERRY_TEST_AMQP_URL`, `FERRY_TEST_POSTGRES_URL`), benchmarks (`FERRY_BENCH_*`) and the
/// end-to-end harness (`FERRY_E2E_LOG`).
pub const NON_CONFIG_ENV_PREFIXES: &[&str] = &["FERRY_TEST_", "FERRY_BENCH_", "FERRY_E2E_"];

/// Whether the environment variable `name` is no configuration key (see [`NON_CONFIG_ENV`]).
pub fn is_non_config_env(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    NON_CONFIG_ENV.contains(&upper.as_str())
        || NON_CONFIG_ENV_PREFIXES
            .iter()
            .any(|prefix| upper.starts_with(prefix))
}

/// Where an unknown key was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable, e.g. `FERRY_BUS__PREFECH`.
    Environment,
    /// The configuration file (its path).
    File(String),
    /// Another layer (a caller's own provider).
    Other(String),
}

/// A key given in the configuration that the service does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKey {
    /// Key path, e.g. `mailchimp.poll_interval_secs`.
    pub path: String,
    /// Where it was given.
    pub source: KeySource,
    /// The nearest known key path, if the service has any key.
    pub suggestion: Option<String>,
}

/// `FERRY_` + the path's segments upper-cased and joined by `__`.
fn env_name(path: &str) -> String {
    let segments: Vec<String> = path
        .split('.')
        .map(|segment| segment.replace(['[', ']'], "").to_ascii_uppercase())
        .collect();
    format!("{ENV_PREFIX}{}", segments.join(ENV_SEPARATOR))
}

impl fmt::Display for UnknownKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env = self.source == KeySource::Environment;
        let show = |path: &str| if env { env_name(path) } else { path.to_owned() };
        match &self.source {
            KeySource::Environment => write!(f, "unknown variable {}", show(&self.path))?,
            KeySource::File(file) => write!(f, "unknown key `{}` in {file}", self.path)?,
            KeySource::Other(name) => write!(f, "unknown key `{}` ({name})", self.path)?,
        }
        if let Some(suggestion) = &self.suggestion {
            if env {
                write!(f, ": did you mean {}?", show(suggestion))?;
            } else {
                write!(f, ": did you mean `{suggestion}`?")?;
            }
        }
        Ok(())
    }
}

/// Every key in `figment` that `schema` (the configuration type's JSON Schema) does not know.
pub(crate) fn unknown_keys(figment: &Figment, schema: &Json) -> Vec<UnknownKey> {
    // A figment that cannot even be read is reported by the extraction.
    let Ok(root) = figment.extract::<figment::value::Dict>() else {
        return Vec::new();
    };
    let walker = Walker {
        root: schema,
        known: known_paths(schema),
    };
    let mut found = Vec::new();
    walker.check(&Value::from(root), &[schema], "", &mut found);
    found
        .into_iter()
        .map(|path| {
            let source = source_of(figment, &path);
            let suggestion = walker.nearest(&path);
            UnknownKey {
                path,
                source,
                suggestion,
            }
        })
        .collect()
}

/// The layer that set `path` (or its nearest ancestor figment can find).
fn source_of(figment: &Figment, path: &str) -> KeySource {
    let mut at = path;
    loop {
        if let Some(metadata) = figment.find_metadata(at) {
            return match &metadata.source {
                Some(figment::Source::File(file)) => KeySource::File(file.display().to_string()),
                _ if metadata.name.contains("environment") => KeySource::Environment,
                _ => KeySource::Other(metadata.name.to_string()),
            };
        }
        match at.rfind('.') {
            Some(dot) => at = &at[..dot],
            None => return KeySource::Other("unknown layer".to_owned()),
        }
    }
}

struct Walker<'a> {
    root: &'a Json,
    /// Every known key path (array elements as `0`), for suggestions.
    known: BTreeSet<String>,
}

impl<'a> Walker<'a> {
    /// Resolves `$ref`s (`#/$defs/Name`) until a schema without one.
    fn resolve(&self, mut schema: &'a Json) -> &'a Json {
        for _ in 0..32 {
            let Some(reference) = schema.get("$ref").and_then(Json::as_str) else {
                break;
            };
            let Some(target) = reference
                .strip_prefix('#')
                .and_then(|pointer| self.root.pointer(pointer))
            else {
                break;
            };
            schema = target;
        }
        schema
    }

    /// The schema and every branch it is made of (`allOf`, `anyOf`, `oneOf`), resolved.
    fn branches(&self, schema: &'a Json, out: &mut Vec<&'a Json>) {
        let schema = self.resolve(schema);
        if out.iter().any(|seen| std::ptr::eq(*seen, schema)) {
            return;
        }
        out.push(schema);
        for combinator in ["allOf", "anyOf", "oneOf"] {
            if let Some(list) = schema.get(combinator).and_then(Json::as_array) {
                for branch in list {
                    self.branches(branch, out);
                }
            }
        }
    }

    /// Records in `found` every key under `value` (at `path`) that none of `schemas` knows.
    fn check(&self, value: &Value, schemas: &[&'a Json], path: &str, found: &mut Vec<String>) {
        let mut all = Vec::new();
        for schema in schemas {
            self.branches(schema, &mut all);
        }
        // `true` or `{}`: anything goes here.
        if all.iter().any(|s| is_open(s)) {
            return;
        }
        match value {
            Value::Dict(_, dict) => {
                let object_like: Vec<&Json> = all
                    .iter()
                    .copied()
                    .filter(|s| {
                        s.get("properties").is_some()
                            || s.get("additionalProperties").is_some()
                            || has_type(s, "object")
                    })
                    .collect();
                let item_schemas: Vec<&Json> = all.iter().filter_map(|s| s.get("items")).collect();
                if object_like.is_empty() && item_schemas.is_empty() {
                    // A scalar is expected: deserialization reports the wrong type.
                    return;
                }
                for (key, child) in dict {
                    let child_path = join(path, key);
                    let mut next: Vec<&Json> = object_like
                        .iter()
                        .filter_map(|s| s.get("properties").and_then(|p| p.get(key.as_str())))
                        .collect();
                    let additional: Vec<&Json> = object_like
                        .iter()
                        .filter_map(|s| s.get("additionalProperties"))
                        .filter(|a| *a != &Json::Bool(false))
                        .collect();
                    if next.is_empty() {
                        next = additional;
                    }
                    // An array given as `FERRY_LIST__0__KEY`: a table with index keys.
                    if next.is_empty() && key.parse::<usize>().is_ok() {
                        next = item_schemas.clone();
                    }
                    if next.is_empty() {
                        // Each variable (or file key) given is named in full.
                        leaves(child, child_path, found);
                    } else {
                        self.check(child, &next, &child_path, found);
                    }
                }
            }
            Value::Array(_, items) => {
                let item_schemas: Vec<&Json> = all.iter().filter_map(|s| s.get("items")).collect();
                if item_schemas.is_empty() {
                    return;
                }
                for (i, item) in items.iter().enumerate() {
                    self.check(item, &item_schemas, &join(path, &i.to_string()), found);
                }
            }
            _ => {}
        }
    }

    /// The known key nearest to `unknown`: a known key ending with it (the key given under
    /// the wrong section, e.g. `mailchimp.x` for `connector_mailchimp.mailchimp.x`), else the
    /// one at the smallest edit distance.
    fn nearest(&self, unknown: &str) -> Option<String> {
        let generic = generic_path(unknown);
        let suffix = format!(".{generic}");
        if let Some(found) = self
            .known
            .iter()
            .filter(|known| known.ends_with(&suffix))
            .min_by_key(|known| known.len())
        {
            return Some(found.clone());
        }
        self.known
            .iter()
            .min_by_key(|known| {
                // Typos in the last segment weigh as much as in the rest; ties go to the
                // shorter path.
                (strsim::levenshtein(known, &generic), known.len())
            })
            .cloned()
    }
}

/// The paths of the leaves under `value` (`path` itself for a scalar or an empty table).
fn leaves(value: &Value, path: String, found: &mut Vec<String>) {
    match value {
        Value::Dict(_, dict) if !dict.is_empty() => {
            for (key, child) in dict {
                leaves(child, join(&path, key), found);
            }
        }
        _ => found.push(path),
    }
}

/// Array indices written as `0` so that they match [`known_paths`].
fn generic_path(path: &str) -> String {
    path.split('.')
        .map(|segment| {
            if segment.parse::<usize>().is_ok() {
                "0"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn is_open(schema: &Json) -> bool {
    match schema {
        Json::Bool(b) => *b,
        Json::Object(map) => map.is_empty(),
        _ => false,
    }
}

fn has_type(schema: &Json, name: &str) -> bool {
    match schema.get("type") {
        Some(Json::String(t)) => t == name,
        Some(Json::Array(types)) => types.iter().any(|t| t == name),
        _ => false,
    }
}

/// Every key path `schema` knows, array elements as `0`, map entries left out.
fn known_paths(schema: &Json) -> BTreeSet<String> {
    let walker = Walker {
        root: schema,
        known: BTreeSet::new(),
    };
    let mut out = BTreeSet::new();
    collect(&walker, schema, "", 0, &mut out);
    out
}

fn collect(
    walker: &Walker<'_>,
    schema: &Json,
    prefix: &str,
    depth: usize,
    out: &mut BTreeSet<String>,
) {
    if depth > 12 {
        return;
    }
    let mut all = Vec::new();
    walker.branches(schema, &mut all);
    for branch in all {
        if let Some(properties) = branch.get("properties").and_then(Json::as_object) {
            for (key, child) in properties {
                let path = join(prefix, key);
                out.insert(path.clone());
                collect(walker, child, &path, depth + 1, out);
            }
        }
        if let Some(items) = branch.get("items") {
            collect(walker, items, &join(prefix, "0"), depth + 1, out);
        }
    }
}
