//! User mappings: per integration, per flow, an ordered list of rules that set a field of the
//! target document to the value of a CEL expression (see [`crate::expr`] for the variables and
//! functions), optionally only when a condition holds; plus named value maps.
//!
//! ```json
//! {
//!   "value_maps": {"skus": {"entries": {"SHIRT-XL": "100200"}}},
//!   "rules": {
//!     "customers": [
//!       {"target": "phone", "expr": "default_if_empty(source.raw.merge_fields.PHONE, null)"},
//!       {"target": "billing_address.house_number", "expr": "house_number(source.raw.address.addr1)",
//!        "when": "has(source.raw.address)"}
//!     ],
//!     "products": [
//!       {"target": "title", "expr": "upper(source.product.title)"},
//!       {"target": "kind.variants[*].title", "expr": "item.sku + ' ' + lookup_or(maps.colours, get(item, 'attributes.0.value'), '')"},
//!       {"target": "properties.origin", "expr": "source.raw.country_of_origin"}
//!     ]
//!   }
//! }
//! ```
//!
//! A rule's `target` is a path into the flow's target document: the canonical customer,
//! product, category, the stock document `{sku, quantity, manage_stock}`, or the mapped order
//! (`order.notes`, `employee_number`, `line_codes[*].vat_code`, `customer_plan.customer.phone`).
//! `name[*]` applies the rule to every element of a list (with `item` and `index`), `name[2]`
//! to one. Paths are checked against the document's schema when the mappings are saved, and
//! every expression is compiled then, so errors are reported with their position before a
//! record ever meets them. A `null` result clears an optional field.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use cel::Context;
use ferry_proto::messages::Flow;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use utoipa::ToSchema;

use crate::error::{MappingError, MappingErrorKind, flow_name};
use crate::expr::{self, Expr};
use crate::settings::ValueMap;
use crate::validation::FieldError;

/// Most rules per flow.
pub const MAX_RULES_PER_FLOW: usize = 200;

/// The user mappings of one integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Mappings {
    /// Named lookup tables, available to expressions as `maps.<name>`.
    pub value_maps: BTreeMap<String, ValueMap>,
    /// The rules of each flow, applied in order after the default mapping.
    pub rules: FlowRules,
}

/// Rules per flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(default, deny_unknown_fields)]
pub struct FlowRules {
    /// Customer rules (document: the customer).
    pub customers: Vec<Rule>,
    /// Product rules (document: the product).
    pub products: Vec<Rule>,
    /// Category rules (document: the category).
    pub categories: Vec<Rule>,
    /// Stock rules (document: `{sku, quantity, manage_stock}`).
    pub stock: Vec<Rule>,
    /// Order rules (document: the mapped order).
    pub orders: Vec<Rule>,
}

impl FlowRules {
    /// The rules of `flow`.
    pub fn get(&self, flow: Flow) -> &[Rule] {
        match flow {
            Flow::Customers => &self.customers,
            Flow::Products => &self.products,
            Flow::Categories => &self.categories,
            Flow::Stock => &self.stock,
            Flow::Orders => &self.orders,
        }
    }
}

/// One user mapping rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The field of the target document to set, e.g. `title` or `kind.variants[*].title`.
    pub target: String,
    /// CEL expression giving the value.
    pub expr: String,
    /// CEL condition; the rule applies only when it is `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// A note for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Rule {
    /// A rule setting `target` to `expr`.
    pub fn new(target: &str, expr: &str) -> Self {
        Self {
            target: target.to_owned(),
            expr: expr.to_owned(),
            when: None,
            description: None,
        }
    }

    /// With a condition.
    pub fn when(mut self, condition: &str) -> Self {
        self.when = Some(condition.to_owned());
        self
    }
}

/// One step of a target path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object field.
    Field(String),
    /// One element of a list.
    Index(usize),
    /// Every element of a list.
    Each,
}

/// A parsed target path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPath(pub Vec<Segment>);

impl fmt::Display for TargetPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_path(f, &self.0)
    }
}

fn write_path(f: &mut impl fmt::Write, segments: &[Segment]) -> fmt::Result {
    for (i, s) in segments.iter().enumerate() {
        match s {
            Segment::Field(name) if i == 0 => f.write_str(name)?,
            Segment::Field(name) => write!(f, ".{name}")?,
            Segment::Index(n) => write!(f, "[{n}]")?,
            Segment::Each => f.write_str("[*]")?,
        }
    }
    Ok(())
}

fn path_string(segments: &[Segment]) -> String {
    let mut s = String::new();
    let _ = write_path(&mut s, segments);
    s
}

impl TargetPath {
    /// Parses `a.b[*].c[2]`; the error gives the 1-based column.
    pub fn parse(raw: &str) -> Result<Self, (u32, String)> {
        let col = |i: usize| u32::try_from(raw[..i].chars().count() + 1).unwrap_or(u32::MAX);
        let mut segments = Vec::new();
        let bytes = raw.as_bytes();
        let mut i = 0;
        let mut expect_field = true;
        if raw.is_empty() {
            return Err((1, "the target path is empty".to_owned()));
        }
        while i < bytes.len() {
            let c = bytes[i];
            if expect_field {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'-')
                {
                    i += 1;
                }
                if i == start {
                    return Err((col(start), "expected a field name".to_owned()));
                }
                segments.push(Segment::Field(raw[start..i].to_owned()));
                expect_field = false;
            } else if c == b'.' {
                i += 1;
                expect_field = true;
                if i == bytes.len() {
                    return Err((col(i), "expected a field name after `.`".to_owned()));
                }
            } else if c == b'[' {
                let Some(close) = raw[i..].find(']').map(|j| i + j) else {
                    return Err((col(i), "`[` without `]`".to_owned()));
                };
                let inner = &raw[i + 1..close];
                if inner == "*" {
                    segments.push(Segment::Each);
                } else if !inner.is_empty()
                    && inner.bytes().all(|b| b.is_ascii_digit())
                    && inner.len() <= 6
                {
                    segments.push(Segment::Index(inner.parse().unwrap_or(0)));
                } else {
                    return Err((col(i + 1), "expected `[*]` or `[<index>]`".to_owned()));
                }
                i = close + 1;
            } else {
                return Err((
                    col(i),
                    format!(
                        "unexpected character {:?}",
                        raw[i..].chars().next().unwrap_or(' ')
                    ),
                ));
            }
        }
        Ok(Self(segments))
    }

    /// The path with indexes generalised to `[*]` (for comparing a concrete field with a rule).
    fn generic(&self) -> Vec<Segment> {
        self.0
            .iter()
            .map(|s| match s {
                Segment::Index(_) => Segment::Each,
                other => other.clone(),
            })
            .collect()
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// Position in the flow's list.
    pub index: usize,
    /// Where it writes.
    pub target: TargetPath,
    expr: Expr,
    when: Option<Expr>,
}

impl CompiledRule {
    /// Whether the expression or the condition reads the variable `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.expr.uses(name) || self.when.as_ref().is_some_and(|w| w.uses(name))
    }
}

/// The compiled mappings of one integration.
#[derive(Debug, Clone, Default)]
pub struct CompiledMappings {
    customers: Vec<CompiledRule>,
    products: Vec<CompiledRule>,
    categories: Vec<CompiledRule>,
    stock: Vec<CompiledRule>,
    orders: Vec<CompiledRule>,
    /// The user's value maps.
    pub value_maps: BTreeMap<String, ValueMap>,
}

impl CompiledMappings {
    /// The compiled rules of `flow`.
    pub fn rules(&self, flow: Flow) -> &[CompiledRule] {
        match flow {
            Flow::Customers => &self.customers,
            Flow::Products => &self.products,
            Flow::Categories => &self.categories,
            Flow::Stock => &self.stock,
            Flow::Orders => &self.orders,
        }
    }
}

/// Every flow, in a fixed order.
pub const FLOWS: [Flow; 5] = [
    Flow::Customers,
    Flow::Products,
    Flow::Categories,
    Flow::Stock,
    Flow::Orders,
];

impl Mappings {
    /// Compiles and checks everything; on failure returns every problem with its place
    /// (`rules.products[2].expr`, line and column).
    pub fn compile(&self) -> Result<CompiledMappings, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut compiled = CompiledMappings {
            value_maps: self.value_maps.clone(),
            ..CompiledMappings::default()
        };
        for name in self.value_maps.keys() {
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                errors.push(FieldError::at(
                    format!("value_maps.{name}"),
                    "a value map name is letters, digits and `_`, not starting with a digit",
                ));
            }
        }
        for flow in FLOWS {
            let rules = self.rules.get(flow);
            let base = format!("rules.{}", flow_name(flow));
            if rules.len() > MAX_RULES_PER_FLOW {
                errors.push(FieldError::at(
                    &base,
                    format!("at most {MAX_RULES_PER_FLOW} rules per flow"),
                ));
                continue;
            }
            let out = match flow {
                Flow::Customers => &mut compiled.customers,
                Flow::Products => &mut compiled.products,
                Flow::Categories => &mut compiled.categories,
                Flow::Stock => &mut compiled.stock,
                Flow::Orders => &mut compiled.orders,
            };
            for (index, rule) in rules.iter().enumerate() {
                let at = format!("{base}[{index}]");
                let target = match TargetPath::parse(&rule.target) {
                    Ok(path) => match check_path(flow, &path) {
                        Ok(()) => Some(path),
                        Err(message) => {
                            errors.push(FieldError::at(format!("{at}.target"), message));
                            None
                        }
                    },
                    Err((column, message)) => {
                        errors.push(FieldError {
                            path: format!("{at}.target"),
                            line: Some(1),
                            column: Some(column),
                            message,
                        });
                        None
                    }
                };
                let expr = expr::compile(&rule.expr).map_err(|es| {
                    errors.extend(es.iter().map(|e| e.located(format!("{at}.expr"))));
                });
                let when = rule
                    .when
                    .as_deref()
                    .map(|w| {
                        expr::compile(w).map_err(|es| {
                            errors.extend(es.iter().map(|e| e.located(format!("{at}.when"))));
                        })
                    })
                    .transpose();
                let uses_item = |e: &Expr| e.uses("item") || e.uses("index");
                if let (Some(target), Ok(expr), Ok(when)) = (target, expr, when) {
                    let has_each = target.0.contains(&Segment::Each);
                    if !has_each && (uses_item(&expr) || when.as_ref().is_some_and(uses_item)) {
                        errors.push(FieldError::at(
                            format!("{at}.expr"),
                            "`item` and `index` exist only in rules whose target has `[*]`",
                        ));
                        continue;
                    }
                    out.push(CompiledRule {
                        index,
                        target,
                        expr,
                        when,
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(compiled)
        } else {
            Err(errors)
        }
    }
}

fn schema_of(flow: Flow) -> &'static Json {
    static SCHEMAS: OnceLock<[Json; 5]> = OnceLock::new();
    let all = SCHEMAS.get_or_init(|| {
        [
            schemars::schema_for!(ferry_proto::model::Customer).to_value(),
            schemars::schema_for!(ferry_proto::model::Product).to_value(),
            schemars::schema_for!(ferry_proto::model::Category).to_value(),
            schemars::schema_for!(crate::defaults::StockDoc).to_value(),
            schemars::schema_for!(ferry_proto::model::TargetOrder).to_value(),
        ]
    });
    let i = FLOWS.iter().position(|f| *f == flow).unwrap_or(0);
    &all[i]
}

/// Checks that `path` names a field of the flow's target document.
pub fn check_path(flow: Flow, path: &TargetPath) -> Result<(), String> {
    let root = schema_of(flow);
    let mut nodes = vec![root];
    for (i, seg) in path.0.iter().enumerate() {
        let mut next = Vec::new();
        let mut known: Vec<String> = Vec::new();
        for node in nodes.iter().flat_map(|n| expand(root, n)) {
            match seg {
                Segment::Field(name) => {
                    if let Some(p) = node.get("properties").and_then(|p| p.get(name)) {
                        next.push(p);
                    } else if let Some(extra) =
                        node.get("additionalProperties").filter(|a| a.is_object())
                    {
                        next.push(extra);
                    }
                    if let Some(props) = node.get("properties").and_then(Json::as_object) {
                        known.extend(props.keys().cloned());
                    }
                }
                Segment::Each | Segment::Index(_) => {
                    if let Some(items) = node.get("items") {
                        next.push(items);
                    }
                }
            }
        }
        if next.is_empty() {
            let at = path_string(&path.0[..i]);
            let at = if at.is_empty() {
                "the document".to_owned()
            } else {
                format!("`{at}`")
            };
            return Err(match seg {
                Segment::Field(name) => {
                    known.sort();
                    known.dedup();
                    format!("{at} has no field `{name}` (fields: {})", known.join(", "))
                }
                _ => format!("{at} is not a list"),
            });
        }
        nodes = next;
    }
    Ok(())
}

/// A schema node with `$ref`s resolved and `oneOf`/`anyOf`/`allOf` branches flattened.
fn expand<'a>(root: &'a Json, node: &'a Json) -> Vec<&'a Json> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    let mut guard = 0;
    while let Some(n) = stack.pop() {
        guard += 1;
        if guard > 256 {
            break;
        }
        if let Some(r) = n.get("$ref").and_then(Json::as_str)
            && let Some(name) = r.strip_prefix("#/$defs/")
            && let Some(def) = root.get("$defs").and_then(|d| d.get(name))
        {
            stack.push(def);
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            if let Some(branches) = n.get(key).and_then(Json::as_array) {
                stack.extend(branches.iter());
            }
        }
        out.push(n);
    }
    out
}

/// What the rules see besides the document.
pub struct RuleInputs<'a> {
    /// The observed payload (`source`).
    pub source: &'a Json,
    /// The settings as a CEL value.
    pub settings: &'a cel::Value,
    /// All value maps as a CEL value (`maps`).
    pub maps: &'a cel::Value,
}

/// Applies `rules` to `doc` in order. Every failing rule is reported; the others still apply.
pub fn apply(rules: &[CompiledRule], doc: &mut Json, inputs: &RuleInputs<'_>) -> Vec<MappingError> {
    let mut errors = Vec::new();
    if rules.is_empty() {
        return errors;
    }
    let mut ctx = expr::context();
    // Converting values for the interpreter costs time in proportion to their size: hand in
    // only the parts of `source` the rules select, and `settings`/`maps` only when used.
    let source = match source_paths(rules) {
        Some(paths) => expr::from_json(&prune(inputs.source, &paths)),
        None => expr::from_json(inputs.source),
    };
    ctx.add_variable_from_value("source", source);
    let uses = |name: &str| rules.iter().any(|r| r.uses(name));
    if uses("settings") {
        ctx.add_variable_from_value("settings", inputs.settings.clone());
    }
    if uses("maps") {
        ctx.add_variable_from_value("maps", inputs.maps.clone());
    }
    for rule in rules {
        if rule.expr.uses_target() || rule.when.as_ref().is_some_and(Expr::uses_target) {
            ctx.add_variable_from_value("target", expr::from_json(doc));
        }
        for concrete in concrete_paths(doc, &rule.target.0) {
            let field = path_string(&concrete.path);
            let scope_value = |ctx: &Context<'_, '_>| -> Result<Option<Json>, String> {
                if let Some(when) = &rule.when {
                    match when.eval(ctx)? {
                        Json::Bool(true) => {}
                        Json::Bool(false) => return Ok(None),
                        other => {
                            return Err(format!(
                                "the condition gave {}, not true or false",
                                kind_of(&other)
                            ));
                        }
                    }
                }
                rule.expr.eval(ctx).map(Some)
            };
            let outcome = match &concrete.item {
                Some((item, index)) => {
                    let mut inner = ctx.new_inner_scope();
                    inner.add_variable_from_value("item", expr::from_json(item));
                    inner.add_variable_from_value(
                        "index",
                        cel::Value::Int(i64::try_from(*index).unwrap_or(i64::MAX)),
                    );
                    scope_value(&inner)
                }
                None => scope_value(&ctx),
            };
            match outcome {
                Ok(None) => {}
                Ok(Some(value)) => {
                    if let Err(message) = set(doc, &concrete.path, value) {
                        errors.push(MappingError::new(
                            MappingErrorKind::InvalidResult,
                            field,
                            format!("rule {}: {message}", rule.index),
                        ));
                    }
                }
                Err(message) => errors.push(MappingError::new(
                    MappingErrorKind::ExpressionFailed,
                    field,
                    format!(
                        "rule {} (`{}`): {message}",
                        rule.index,
                        snippet(rule.expr.source())
                    ),
                )),
            }
        }
    }
    errors
}

/// The `source.a.b` paths the rules read, or `None` when some rule uses `source` other than
/// through a plain field chain (then all of it is handed in).
fn source_paths(rules: &[CompiledRule]) -> Option<Vec<Vec<String>>> {
    let mut paths = Vec::new();
    for rule in rules {
        for e in std::iter::once(&rule.expr).chain(rule.when.as_ref()) {
            if e.uses("source") {
                paths.extend(select_chains(e.source(), "source")?);
            }
        }
    }
    Some(paths)
}

/// Every `var.a.b` chain after the identifier `var` in `src`; `None` if `var` appears bare.
fn select_chains(src: &str, var: &str) -> Option<Vec<Vec<String>>> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chains = Vec::new();
    let mut from = 0;
    while let Some(i) = src[from..].find(var) {
        let at = from + i;
        from = at + var.len();
        let before = src[..at].chars().next_back();
        let after = src[from..].chars().next();
        if before.is_some_and(|c| is_ident(c) || c == '.') || after.is_some_and(is_ident) {
            continue;
        }
        let mut chain = Vec::new();
        let mut rest = &src[from..];
        while let Some(tail) = rest.strip_prefix('.') {
            let len = tail.find(|c: char| !is_ident(c)).unwrap_or(tail.len());
            if len == 0 {
                break;
            }
            chain.push(tail[..len].to_owned());
            rest = &tail[len..];
        }
        if chain.is_empty() {
            return None;
        }
        chains.push(chain);
    }
    Some(chains)
}

/// A copy of `source` with only the subtrees at `paths`.
fn prune(source: &Json, paths: &[Vec<String>]) -> Json {
    let mut out = Json::Object(serde_json::Map::new());
    for path in paths {
        let mut from = source;
        let mut found = true;
        for key in path {
            match from.get(key) {
                Some(v) => from = v,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if !found {
            continue;
        }
        let mut to = &mut out;
        for (i, key) in path.iter().enumerate() {
            let Json::Object(m) = to else { break };
            if i + 1 == path.len() {
                m.insert(key.clone(), from.clone());
                break;
            }
            to = m
                .entry(key.clone())
                .or_insert_with(|| Json::Object(serde_json::Map::new()));
        }
    }
    out
}

fn snippet(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(60).collect();
        t.push('…');
        t
    }
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

struct Concrete {
    path: Vec<Segment>,
    item: Option<(Json, usize)>,
}

/// Expands `[*]` against the current document: one path per existing element.
fn concrete_paths(doc: &Json, pattern: &[Segment]) -> Vec<Concrete> {
    let mut out = Vec::new();
    expand_paths(doc, pattern, Vec::new(), None, &mut out);
    out
}

fn expand_paths(
    node: &Json,
    rest: &[Segment],
    prefix: Vec<Segment>,
    item: Option<(Json, usize)>,
    out: &mut Vec<Concrete>,
) {
    let Some((first, tail)) = rest.split_first() else {
        out.push(Concrete { path: prefix, item });
        return;
    };
    match first {
        Segment::Each => {
            if let Json::Array(items) = node {
                for (i, element) in items.iter().enumerate() {
                    let mut p = prefix.clone();
                    p.push(Segment::Index(i));
                    expand_paths(element, tail, p, Some((element.clone(), i)), out);
                }
            }
        }
        seg => {
            let child = match (seg, node) {
                (Segment::Field(name), Json::Object(m)) => m.get(name).unwrap_or(&Json::Null),
                (Segment::Index(i), Json::Array(a)) => a.get(*i).unwrap_or(&Json::Null),
                _ => &Json::Null,
            };
            let mut p = prefix;
            p.push(seg.clone());
            expand_paths(child, tail, p, item, out);
        }
    }
}

/// Sets `value` at `path`, creating objects on the way.
fn set(doc: &mut Json, path: &[Segment], value: Json) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    let mut node = doc;
    for (i, seg) in parents.iter().enumerate() {
        node = match seg {
            Segment::Field(name) => {
                if node.is_null() {
                    *node = Json::Object(serde_json::Map::new());
                }
                let Json::Object(m) = node else {
                    return Err(format!("`{}` is not an object", path_string(&path[..i])));
                };
                m.entry(name.clone()).or_insert(Json::Null)
            }
            Segment::Index(n) => match node {
                Json::Array(a) => {
                    let len = a.len();
                    a.get_mut(*n).ok_or_else(|| {
                        format!(
                            "`{}` has {len} elements, no element {n}",
                            path_string(&path[..i])
                        )
                    })?
                }
                _ => return Err(format!("`{}` is not a list", path_string(&path[..i]))),
            },
            Segment::Each => return Err("unexpanded `[*]`".to_owned()),
        };
    }
    match last {
        Segment::Field(name) => {
            if node.is_null() {
                *node = Json::Object(serde_json::Map::new());
            }
            let Json::Object(m) = node else {
                return Err(format!("`{}` is not an object", path_string(parents)));
            };
            m.insert(name.clone(), value);
            Ok(())
        }
        Segment::Index(n) => match node {
            Json::Array(a) => {
                let len = a.len();
                let slot = a.get_mut(*n).ok_or_else(|| {
                    format!(
                        "`{}` has {len} elements, no element {n}",
                        path_string(parents)
                    )
                })?;
                *slot = value;
                Ok(())
            }
            _ => Err(format!("`{}` is not a list", path_string(parents))),
        },
        Segment::Each => Err("unexpanded `[*]`".to_owned()),
    }
}

/// Whether some rule writes `field` (a concrete path such as `line_codes[2].vat_code`) or a
/// field containing it: then the default mapping's complaint about it is void.
pub fn written_by_rules(rules: &[CompiledRule], field: &str) -> bool {
    let Ok(field) = TargetPath::parse(field) else {
        return false;
    };
    let field = field.generic();
    rules.iter().any(|r| {
        let pattern = r.target.generic();
        field.len() >= pattern.len() && field[..pattern.len()] == pattern[..]
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parses_paths() {
        let p = TargetPath::parse("kind.variants[*].attributes[0].value").expect("valid");
        assert_eq!(p.to_string(), "kind.variants[*].attributes[0].value");
        assert_eq!(TargetPath::parse("a..b").expect_err("double dot").0, 3);
        assert_eq!(TargetPath::parse("a[x]").expect_err("bad index").0, 3);
        assert_eq!(TargetPath::parse("a.").expect_err("trailing").0, 3);
        assert!(TargetPath::parse("").is_err());
        assert!(TargetPath::parse("a b").is_err());
    }

    #[test]
    fn checks_paths_against_the_schema() {
        let ok = |flow, p: &str| check_path(flow, &TargetPath::parse(p).expect("parse"));
        assert!(ok(Flow::Products, "title").is_ok());
        assert!(ok(Flow::Products, "kind.variants[*].title").is_ok());
        assert!(ok(Flow::Products, "properties.origin").is_ok());
        assert!(ok(Flow::Products, "price.amount").is_ok());
        assert!(ok(Flow::Customers, "kind.company_name").is_ok());
        assert!(ok(Flow::Customers, "billing_address.house_number").is_ok());
        assert!(ok(Flow::Orders, "line_codes[*].vat_code").is_ok());
        assert!(ok(Flow::Orders, "order.lines[*].title").is_ok());
        assert!(ok(Flow::Orders, "customer_plan.customer.phone").is_ok());
        assert!(ok(Flow::Stock, "quantity").is_ok());
        let err = ok(Flow::Products, "titel").expect_err("typo");
        assert!(
            err.contains("no field `titel`") && err.contains("title"),
            "{err}"
        );
        assert!(
            ok(Flow::Products, "title[*]")
                .expect_err("not a list")
                .contains("not a list")
        );
        assert!(ok(Flow::Stock, "sku.x").is_err());
    }

    #[test]
    fn hands_in_only_the_selected_source() {
        assert_eq!(
            select_chains(
                "upper(source.product.title) + source.raw.x[0] + item.source.y",
                "source"
            ),
            Some(vec![
                vec!["product".into(), "title".into()],
                vec!["raw".into(), "x".into()]
            ])
        );
        assert_eq!(select_chains("get(source, 'a')", "source"), None);
        assert_eq!(select_chains("source.?a", "source"), None);
        let src = serde_json::json!({"product": {"title": "T", "kind": {"variants": [1, 2]}}, "raw": {"x": [1], "y": 2}});
        let pruned = prune(
            &src,
            &[
                vec!["product".into(), "title".into()],
                vec!["raw".into()],
                vec!["nope".into(), "x".into()],
            ],
        );
        assert_eq!(
            pruned,
            serde_json::json!({"product": {"title": "T"}, "raw": {"x": [1], "y": 2}})
        );
        // A longer path after a shorter one keeps the whole subtree.
        for paths in [
            [vec!["raw".into()], vec!["raw".into(), "x".into()]],
            [vec!["raw".into(), "x".into()], vec!["raw".into()]],
        ] {
            assert_eq!(
                prune(&src, &paths),
                serde_json::json!({"raw": {"x": [1], "y": 2}})
            );
        }
    }

    #[test]
    fn sets_values_and_expands_lists() {
        let mut doc = serde_json::json!({"a": [{"b": 1}, {"b": 2}]});
        let paths = concrete_paths(&doc, &TargetPath::parse("a[*].c").expect("p").0);
        assert_eq!(paths.len(), 2);
        for c in paths {
            set(&mut doc, &c.path, serde_json::json!("x")).expect("set");
        }
        assert_eq!(
            doc,
            serde_json::json!({"a": [{"b": 1, "c": "x"}, {"b": 2, "c": "x"}]})
        );
        set(
            &mut doc,
            &TargetPath::parse("n.m").expect("p").0,
            serde_json::json!(1),
        )
        .expect("creates");
        assert_eq!(doc["n"]["m"], 1);
        assert!(
            set(
                &mut doc,
                &TargetPath::parse("a[5].b").expect("p").0,
                Json::Null
            )
            .is_err()
        );
        assert!(
            set(
                &mut doc,
                &TargetPath::parse("n.m.k").expect("p").0,
                Json::Null
            )
            .is_err()
        );
    }
}
