//! The expression language of user mappings: CEL (the Common Expression Language, via the
//! `cel` crate) with Ferry's transform functions.
//!
//! Variables an expression can use:
//!
//! | variable | what |
//! | --- | --- |
//! | `source` | the observed payload: `source.customer`, `source.product`, ..., and `source.raw`, the API record as the connector received it |
//! | `target` | the target document as mapped so far (defaults, then earlier rules) |
//! | `settings` | the integration's settings |
//! | `maps` | the value maps: the user's (`maps.<name>`) and the settings' (`maps.payment_methods`, `maps.payment_terms`, `maps.vat_codes`, `maps.revenue_accounts`), each a plain `{key: value}` map |
//! | `item`, `index` | in a rule for `list[*].field`: the current element of the target list and its position |
//! | `sku` | in the SKU rule: the SKU to make numeric |
//!
//! Functions (besides CEL's standard ones such as `size`, `contains`, `startsWith`, `int`,
//! `string`, `has()`, `map`/`filter`, the `?:` conditional and `[?key].orValue(x)`):
//!
//! | function | result |
//! | --- | --- |
//! | `trim(s)`, `upper(s)`, `lower(s)`, `title(s)` | whitespace trimmed; upper/lower case; each word capitalised |
//! | `concat(list)`, `join(list, sep)` | the non-empty strings (numbers as text) joined |
//! | `street(line)`, `house_number(line)`, `house_number_suffix(line)` | the parts of `"Dorpsstraat 12a"` (`null` when absent) |
//! | `is_digits(s)`, `digits(s)` | whether `s` is digits only; only the digits of `s` |
//! | `decimal(x)`, `format_number(x, places)` | a decimal string; rounded to `places` (half away from zero) |
//! | `format_date(s, fmt)` | an RFC 3339 timestamp (or `YYYY-MM-DD`) formatted with strftime `fmt` |
//! | `default_if_empty(x, d)` | `d` when `x` is null, `""` or empty |
//! | `price_excl(amount, rate)`, `price_incl(amount, rate)` | a price incl. tax to excl. and back (rate in percent), 2 decimals |
//! | `lookup(map, key)`, `lookup_or(map, key, d)` | the map's value for `key`; an error, or `d`, when it has none |
//! | `get(value, "a.b.0.c")` | a nested value by path, `null` when any part is missing |
//!
//! Amounts, quantities and tax rates are decimal strings in the documents (`"19.95"`), as on
//! the wire; the functions above accept strings, integers and doubles and return strings.
//! Reading a field that does not exist is an error, never a silent empty value: guard optional
//! fields with `has(source.raw.x)` or read them with `get(source, 'raw.x')`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cel::objects::{Key, Map};
use cel::{Context, ExecutionError, Program, Value};
use ferry_proto::model::split_street_line;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::validation::FieldError;

/// Variables an expression may refer to.
pub const VARIABLES: [&str; 7] = [
    "source", "target", "settings", "maps", "item", "index", "sku",
];

/// Longest expression accepted (characters).
pub const MAX_EXPRESSION_CHARS: usize = 4096;

/// A compiled expression.
#[derive(Clone)]
pub struct Expr {
    source: Arc<str>,
    program: Arc<Program>,
    variables: Arc<[String]>,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expr").field(&self.source).finish()
    }
}

impl Expr {
    /// The expression's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether it reads `target` (so the current document must be handed in).
    pub fn uses_target(&self) -> bool {
        self.uses("target")
    }

    /// Whether it reads the variable `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.variables.iter().any(|v| v == name)
    }

    /// Runs the expression in `ctx` and returns its value as JSON.
    pub fn eval(&self, ctx: &Context<'_, '_>) -> Result<serde_json::Value, String> {
        // The interpreter is third-party code: a panic in it is reported as this expression's
        // failure instead of taking the consumer or the admin worker down.
        let run = std::panic::AssertUnwindSafe(|| self.program.execute(ctx));
        let value = match std::panic::catch_unwind(run) {
            Ok(result) => result.map_err(|e| e.to_string())?,
            Err(_) => return Err("the expression failed unexpectedly".to_owned()),
        };
        to_json(&value)
    }
}

/// A compile error with its position in the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// 1-based column, when known.
    pub column: Option<u32>,
    /// What is wrong.
    pub message: String,
}

impl ExprError {
    /// This error as a problem of the document field at `path`.
    pub fn located(&self, path: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            line: self.line,
            column: self.column,
            message: self.message.clone(),
        }
    }
}

fn env() -> &'static Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(cel::Env::stdlib()))
}

/// Compiles `source`, reporting every syntax error with its position, and every variable
/// that does not exist.
pub fn compile(source: &str) -> Result<Expr, Vec<ExprError>> {
    if source.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(vec![ExprError {
            line: None,
            column: None,
            message: format!("longer than {MAX_EXPRESSION_CHARS} characters"),
        }]);
    }
    if source.trim().is_empty() {
        return Err(vec![ExprError {
            line: None,
            column: None,
            message: "the expression is empty".to_owned(),
        }]);
    }
    // The parser recurses; guard it against pathological nesting.
    let depth = source
        .chars()
        .try_fold((0usize, 0usize), |(cur, max), c| match c {
            '(' | '[' | '{' => Some((cur + 1, max.max(cur + 1))),
            ')' | ']' | '}' => Some((cur.saturating_sub(1), max)),
            _ => Some((cur, max)),
        });
    if depth.is_some_and(|(_, max)| max > 32) {
        return Err(vec![ExprError {
            line: None,
            column: None,
            message: "nested more than 32 levels deep".to_owned(),
        }]);
    }
    let program = match std::panic::catch_unwind(|| env().compile(source)) {
        Ok(Ok(program)) => program,
        Ok(Err(errors)) => {
            return Err(errors
                .errors
                .iter()
                .map(|e| ExprError {
                    line: u32::try_from(e.pos.0).ok().filter(|l| *l > 0),
                    column: u32::try_from(e.pos.1).ok().map(|c| c.max(1)),
                    message: e.msg.clone(),
                })
                .collect());
        }
        Err(_) => {
            return Err(vec![ExprError {
                line: None,
                column: None,
                message: "the expression cannot be parsed".to_owned(),
            }]);
        }
    };
    let references = program.references();
    let mut unknown: Vec<&str> = references
        .variables()
        .into_iter()
        .filter(|v| !VARIABLES.contains(v))
        .collect();
    unknown.sort_unstable();
    if !unknown.is_empty() {
        return Err(unknown
            .into_iter()
            .map(|v| ExprError {
                line: position_of(source, v).map(|p| p.0),
                column: position_of(source, v).map(|p| p.1),
                message: format!(
                    "unknown variable `{v}` (use one of: {})",
                    VARIABLES.join(", ")
                ),
            })
            .collect());
    }
    let variables: Arc<[String]> = references
        .variables()
        .into_iter()
        .map(str::to_owned)
        .collect();
    drop(references);
    Ok(Expr {
        source: source.into(),
        program: Arc::new(program),
        variables,
    })
}

/// Line and column (1-based) of the first occurrence of identifier `ident` in `source`.
fn position_of(source: &str, ident: &str) -> Option<(u32, u32)> {
    for (l, line) in source.lines().enumerate() {
        let mut from = 0;
        while let Some(i) = line[from..].find(ident) {
            let at = from + i;
            let before = line[..at].chars().next_back();
            let after = line[at + ident.len()..].chars().next();
            let is_ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            if !is_ident(before) && !is_ident(after) && before != Some('.') {
                let col = line[..at].chars().count() + 1;
                return Some((u32::try_from(l + 1).ok()?, u32::try_from(col).ok()?));
            }
            from = at + ident.len();
        }
    }
    None
}

/// A context with Ferry's functions and no variables.
pub fn context() -> Context<'static, 'static> {
    let mut ctx = Context::with_env(env().clone());
    register(&mut ctx);
    ctx
}

/// Converts JSON into a CEL value (integers become `int` where they fit).
pub fn from_json(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::UInt(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(items) => {
            Value::List(Arc::new(items.iter().map(from_json).collect()))
        }
        serde_json::Value::Object(fields) => {
            let map: HashMap<Key, Value> = fields
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), from_json(v)))
                .collect();
            Value::Map(Map::from(map))
        }
    }
}

/// Converts a CEL result into JSON. Bytes, functions, types and non-finite doubles have no
/// JSON form and are errors.
pub fn to_json(value: &Value) -> Result<serde_json::Value, String> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::UInt(u) => serde_json::Value::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .ok_or_else(|| format!("the result {f} is not a finite number"))?,
        Value::String(s) => serde_json::Value::String(s.as_str().to_owned()),
        Value::List(items) => {
            serde_json::Value::Array(items.iter().map(to_json).collect::<Result<Vec<_>, _>>()?)
        }
        Value::Map(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map.map.iter() {
                let key = match k {
                    Key::String(s) => s.as_str().to_owned(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                out.insert(key, to_json(v)?);
            }
            serde_json::Value::Object(out)
        }
        other => {
            return Err(format!(
                "a {} result cannot be stored in a field",
                type_name(other)
            ));
        }
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "list",
        Value::Map(_) => "map",
        Value::Function(..) => "function",
        Value::Int(_) => "int",
        Value::UInt(_) => "uint",
        Value::Float(_) => "double",
        Value::String(_) => "string",
        Value::Bytes(_) => "bytes",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        _ => "opaque",
    }
}

type FnResult = Result<Value, ExecutionError>;

fn string(s: impl Into<String>) -> Value {
    Value::String(Arc::new(s.into()))
}

fn fail(function: &str, message: impl ToString) -> ExecutionError {
    ExecutionError::function_error(function, message)
}

/// Text of a scalar: strings as they are, numbers and booleans printed, null as "".
fn text_of(function: &str, v: &Value) -> Result<String, ExecutionError> {
    Ok(match v {
        Value::String(s) => s.as_str().to_owned(),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => {
            return Err(fail(
                function,
                format!("expected text, got a {}", type_name(other)),
            ));
        }
    })
}

fn decimal_of(function: &str, v: &Value) -> Result<Decimal, ExecutionError> {
    let parsed = match v {
        Value::String(s) => s.trim().parse::<Decimal>().ok(),
        Value::Int(i) => Some(Decimal::from(*i)),
        Value::UInt(u) => Some(Decimal::from(*u)),
        Value::Float(f) => Decimal::from_f64(*f),
        _ => None,
    };
    parsed.ok_or_else(|| fail(function, format!("expected a number, got {}", describe(v))))
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the text {:?}", truncate(s, 40)),
        other => format!("a {}", type_name(other)),
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

fn places_of(function: &str, v: &Value) -> Result<u32, ExecutionError> {
    match v {
        Value::Int(i) if (0..=12).contains(i) => Ok(u32::try_from(*i).unwrap_or(0)),
        Value::UInt(u) if *u <= 12 => Ok(u32::try_from(*u).unwrap_or(0)),
        other => Err(fail(
            function,
            format!("decimal places must be 0 to 12, got {}", describe(other)),
        )),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::List(l) => l.is_empty(),
        Value::Map(m) => m.map.is_empty(),
        _ => false,
    }
}

fn map_get(function: &str, map: &Value, key: &Value) -> Result<Option<Value>, ExecutionError> {
    let Value::Map(map) = map else {
        return Err(fail(
            function,
            format!("expected a map, got {}", describe(map)),
        ));
    };
    let key = Key::String(Arc::new(text_of(function, key)?));
    Ok(map.map.get(&key).cloned())
}

fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if c.is_whitespace() || c == '-' {
            start = true;
            out.push(c);
        } else if start {
            out.extend(c.to_uppercase());
            start = false;
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

fn join_values(function: &str, list: &Value, sep: &str) -> FnResult {
    let Value::List(items) = list else {
        return Err(fail(
            function,
            format!("expected a list, got {}", describe(list)),
        ));
    };
    let mut parts = Vec::with_capacity(items.len());
    for item in items.iter() {
        let t = text_of(function, item)?;
        if !t.trim().is_empty() {
            parts.push(t);
        }
    }
    Ok(string(parts.join(sep)))
}

fn format_date(s: &str, fmt: &str) -> FnResult {
    use chrono::format::{Item, StrftimeItems};
    let items: Vec<Item<'_>> = StrftimeItems::new(fmt).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(fail(
            "format_date",
            format!("invalid date format {:?}", truncate(fmt, 40)),
        ));
    }
    let naive = if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s.trim()) {
        dt.naive_local()
    } else if let Ok(d) = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).unwrap_or_default()
    } else {
        return Err(fail(
            "format_date",
            format!(
                "{} is no RFC 3339 timestamp or YYYY-MM-DD date",
                describe(&string(s))
            ),
        ));
    };
    let mut out = String::new();
    // Formatting reports an error (instead of panicking) for specifiers that need an offset.
    if std::fmt::Write::write_fmt(
        &mut out,
        format_args!("{}", naive.format_with_items(items.into_iter())),
    )
    .is_err()
    {
        return Err(fail(
            "format_date",
            format!(
                "the format {:?} does not apply to a local date",
                truncate(fmt, 40)
            ),
        ));
    }
    Ok(string(out))
}

fn price_convert(function: &str, amount: &Value, rate: &Value, to_incl: bool) -> FnResult {
    let amount = decimal_of(function, amount)?;
    let rate = decimal_of(function, rate)?;
    if rate < Decimal::ZERO || rate > Decimal::ONE_HUNDRED {
        return Err(fail(
            function,
            format!("the tax rate {rate} is not 0 to 100 percent"),
        ));
    }
    let factor = Decimal::ONE + rate / Decimal::ONE_HUNDRED;
    let result = if to_incl {
        amount.checked_mul(factor)
    } else {
        amount.checked_div(factor)
    }
    .ok_or_else(|| fail(function, "the amount is out of range"))?;
    let mut rounded = result.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    Ok(string(rounded.to_string()))
}

fn get_path(value: &Value, path: &str) -> Value {
    let mut current = value.clone();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        current = match &current {
            Value::Map(m) => m
                .map
                .get(&Key::String(Arc::new(part.to_owned())))
                .cloned()
                .unwrap_or(Value::Null),
            Value::List(l) => part
                .parse::<usize>()
                .ok()
                .and_then(|i| l.get(i).cloned())
                .unwrap_or(Value::Null),
            _ => Value::Null,
        };
        if matches!(current, Value::Null) {
            break;
        }
    }
    current
}

fn street_part(
    line: &Value,
    part: fn(ferry_proto::model::StreetParts) -> Option<String>,
) -> FnResult {
    let text = text_of("street", line)?;
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    match split_street_line(&text) {
        Ok(parts) => Ok(part(parts).map(string).unwrap_or(Value::Null)),
        Err(e) => Err(fail("street", e)),
    }
}

fn register(ctx: &mut Context<'static, 'static>) {
    // Registration only fails for names CEL declares itself; ours are distinct, so an error
    // here is a programming error caught by the tests (every function is exercised).
    let add = |result: Result<(), cel::DeclarationError>| {
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot register a mapping function");
        }
    };
    add(ctx.add_function("trim", |s: Value| -> FnResult {
        Ok(string(text_of("trim", &s)?.trim()))
    }));
    add(ctx.add_function("upper", |s: Value| -> FnResult {
        Ok(string(text_of("upper", &s)?.to_uppercase()))
    }));
    add(ctx.add_function("lower", |s: Value| -> FnResult {
        Ok(string(text_of("lower", &s)?.to_lowercase()))
    }));
    add(ctx.add_function("title", |s: Value| -> FnResult {
        Ok(string(title_case(&text_of("title", &s)?)))
    }));
    add(ctx.add_function("concat", |list: Value| join_values("concat", &list, "")));
    add(
        ctx.add_function("join", |list: Value, sep: Value| -> FnResult {
            let sep = text_of("join", &sep)?;
            join_values("join", &list, &sep)
        }),
    );
    add(ctx.add_function("street", |line: Value| {
        street_part(&line, |p| Some(p.street.to_string()))
    }));
    add(ctx.add_function("house_number", |line: Value| {
        street_part(&line, |p| p.house_number.map(|n| n.to_string()))
    }));
    add(ctx.add_function("house_number_suffix", |line: Value| {
        street_part(&line, |p| p.house_number_suffix.map(|n| n.to_string()))
    }));
    add(ctx.add_function("is_digits", |s: Value| -> FnResult {
        let t = text_of("is_digits", &s)?;
        Ok(Value::Bool(
            !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()),
        ))
    }));
    add(ctx.add_function("digits", |s: Value| -> FnResult {
        Ok(string(
            text_of("digits", &s)?
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>(),
        ))
    }));
    add(ctx.add_function("decimal", |x: Value| -> FnResult {
        Ok(string(decimal_of("decimal", &x)?.normalize().to_string()))
    }));
    add(
        ctx.add_function("format_number", |x: Value, places: Value| -> FnResult {
            let d = decimal_of("format_number", &x)?;
            let places = places_of("format_number", &places)?;
            let mut rounded =
                d.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero);
            rounded.rescale(places);
            Ok(string(rounded.to_string()))
        }),
    );
    add(
        ctx.add_function("format_date", |s: Value, fmt: Value| -> FnResult {
            format_date(&text_of("format_date", &s)?, &text_of("format_date", &fmt)?)
        }),
    );
    add(
        ctx.add_function("default_if_empty", |x: Value, d: Value| -> FnResult {
            Ok(if is_empty(&x) { d } else { x })
        }),
    );
    add(
        ctx.add_function("price_excl", |amount: Value, rate: Value| {
            price_convert("price_excl", &amount, &rate, false)
        }),
    );
    add(
        ctx.add_function("price_incl", |amount: Value, rate: Value| {
            price_convert("price_incl", &amount, &rate, true)
        }),
    );
    add(
        ctx.add_function("lookup", |map: Value, key: Value| -> FnResult {
            match map_get("lookup", &map, &key)? {
                Some(v) => Ok(v),
                None => Err(fail(
                    "lookup",
                    format!("the value map has no entry for {}", describe(&key)),
                )),
            }
        }),
    );
    add(ctx.add_function(
        "lookup_or",
        |map: Value, key: Value, d: Value| -> FnResult {
            Ok(map_get("lookup_or", &map, &key)?.unwrap_or(d))
        },
    ));
    add(
        ctx.add_function("get", |value: Value, path: Value| -> FnResult {
            Ok(get_path(&value, &text_of("get", &path)?))
        }),
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn eval(src: &str, vars: serde_json::Value) -> Result<serde_json::Value, String> {
        let e = compile(src).map_err(|e| format!("{e:?}"))?;
        let mut ctx = context();
        if let serde_json::Value::Object(m) = vars {
            for (k, v) in m {
                ctx.add_variable_from_value(k, from_json(&v));
            }
        }
        e.eval(&ctx)
    }

    #[test]
    fn functions_table() {
        let cases: &[(&str, serde_json::Value)] = &[
            (r#"trim("  a b  ")"#, json!("a b")),
            (r#"upper("abc")"#, json!("ABC")),
            (r#"lower("ÄBC")"#, json!("äbc")),
            (r#"title("jan van DAM")"#, json!("Jan Van Dam")),
            (r#"concat(["a", null, "b", 1])"#, json!("ab1")),
            (r#"join(["Jan", "", "Dam"], " ")"#, json!("Jan Dam")),
            (r#"street("Dorpsstraat 12a")"#, json!("Dorpsstraat")),
            (r#"house_number("Dorpsstraat 12a")"#, json!("12")),
            (r#"house_number_suffix("Dorpsstraat 12a")"#, json!("a")),
            (r#"house_number("Main Street")"#, json!(null)),
            (r#"is_digits("0123")"#, json!(true)),
            (r#"is_digits("12a")"#, json!(false)),
            (r#"digits("AB-12-3")"#, json!("123")),
            (r#"decimal(" 19.950 ")"#, json!("19.95")),
            (r#"format_number("2.345", 2)"#, json!("2.35")),
            (r#"format_number(3, 2)"#, json!("3.00")),
            (
                r#"format_date("2026-11-24T10:00:00+01:00", "%d-%m-%Y")"#,
                json!("24-11-2026"),
            ),
            (r#"format_date("2026-11-24", "%Y%m%d")"#, json!("20261124")),
            (r#"default_if_empty("  ", "x")"#, json!("x")),
            (r#"default_if_empty("y", "x")"#, json!("y")),
            (r#"price_excl("121.00", "21")"#, json!("100.00")),
            (r#"price_incl("100", 21)"#, json!("121.00")),
            (r#"lookup({"ideal": "IDEAL"}, "ideal")"#, json!("IDEAL")),
            (
                r#"lookup_or({"ideal": "IDEAL"}, "cash", "OTHER")"#,
                json!("OTHER"),
            ),
            (r#"get({"a": {"b": [1, {"c": 2}]}}, "a.b.1.c")"#, json!(2)),
            (r#"get({"a": 1}, "x.y")"#, json!(null)),
            (r#"size("abc") == 3 ? "yes" : "no""#, json!("yes")),
        ];
        for (src, expected) in cases {
            assert_eq!(&eval(src, json!({})).expect(src), expected, "{src}");
        }
    }

    #[test]
    fn function_errors_say_why() {
        let err = eval(r#"lookup({"a": "b"}, "zz")"#, json!({})).expect_err("no entry");
        assert!(err.contains("no entry"), "{err}");
        let err = eval(r#"price_excl("abc", 21)"#, json!({})).expect_err("nan");
        assert!(err.contains("expected a number"), "{err}");
        let err = eval(r#"format_date("2026-01-01", "%Q")"#, json!({})).expect_err("bad fmt");
        assert!(err.contains("invalid date format"), "{err}");
        assert!(
            eval("9223372036854775807 + 1", json!({})).is_err(),
            "overflow is an error"
        );
        assert!(
            eval("-9223372036854775808 / -1", json!({})).is_err(),
            "overflow is an error"
        );
        let err = eval(r#"format_date("2026-01-01", "%z")"#, json!({})).expect_err("offset");
        assert!(err.contains("does not apply"), "{err}");
    }

    #[test]
    fn variables_and_json_round_trip() {
        let v = eval(
            "source.customer.first_name + ' ' + string(source.raw.n + 1)",
            json!({"source": {"customer": {"first_name": "Els"}, "raw": {"n": 41}}}),
        )
        .expect("eval");
        assert_eq!(v, json!("Els 42"));
        let v = eval(
            "source.raw",
            json!({"source": {"raw": {"a": [1, true, null, 1.5]}}}),
        )
        .expect("eval");
        assert_eq!(v, json!({"a": [1, true, null, 1.5]}));
    }

    #[test]
    fn compile_errors_have_positions() {
        let errors = compile("source.customer +").expect_err("syntax");
        assert_eq!(errors[0].line, Some(1));
        assert!(errors[0].column.is_some());
        let errors = compile("1 +\n  sourc.x").expect_err("unknown variable");
        assert_eq!(errors[0].line, Some(2));
        assert_eq!(errors[0].column, Some(3));
        assert!(errors[0].message.contains("unknown variable `sourc`"));
        assert!(compile("   ").is_err());
        assert!(compile(&"(".repeat(100)).is_err());
    }
}
