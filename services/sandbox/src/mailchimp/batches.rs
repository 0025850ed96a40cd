//! `/batches`: operations are accepted, then run one by one against the same state (through
//! [`super::api::dispatch`]) by a background task, which moves the batch through
//! pending -> preprocessing -> started -> finalizing -> finished and stores the results as a
//! gzipped tar archive served at `response_body_url`.

use std::io::Write as _;

use serde_json::{Map, Value, json};

use super::api::{ApiResult, Ctx, Reply, T, check, collection};
use super::error::ApiError;
use super::query::Params;
use super::state::{Batch, BatchOp, BatchResult, McState, batch_json};

const MAX_PENDING: usize = 500;
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

pub fn get_batches(st: &McState, ctx: &Ctx, p: &Params) -> ApiResult {
    let items = st
        .batches
        .values()
        .map(|b| batch_json(b, &ctx.base_url))
        .collect();
    collection("batches", items, p, json!({}))
}

pub fn get_batch(st: &McState, ctx: &Ctx, id: &str) -> ApiResult {
    let b = st.batches.get(id).ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(batch_json(b, &ctx.base_url)))
}

pub fn delete_batch(st: &mut McState, id: &str) -> ApiResult {
    st.batches
        .shift_remove(id)
        .ok_or_else(ApiError::not_found)?;
    Ok(Reply::no_content())
}

pub fn post_batch(st: &mut McState, ctx: &Ctx, body: Map<String, Value>) -> ApiResult {
    if ctx.in_batch {
        return Err(ApiError::bad_request("Batches cannot be nested."));
    }
    let data = check(&body, &[("operations", T::Arr)], &["operations"])?;
    let mut ops = Vec::new();
    for (i, op) in data["operations"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = format!("operations.item:{i}");
        let Value::Object(m) = op else {
            return Err(ApiError::invalid_field(&field, "Schema describes object"));
        };
        let o = check(
            m,
            &[
                ("method", T::Enum(METHODS)),
                ("path", T::Str),
                ("params", T::Obj),
                ("body", T::Str),
                ("operation_id", T::Str),
            ],
            &["method", "path"],
        )
        .map_err(|mut e| {
            for fe in &mut e.errors {
                fe.field = format!("{field}.{}", fe.field);
            }
            e
        })?;
        ops.push(BatchOp {
            method: o["method"].as_str().unwrap_or("GET").to_owned(),
            path: o["path"].as_str().unwrap_or_default().to_owned(),
            params: o
                .get("params")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            body: o.get("body").and_then(Value::as_str).map(str::to_owned),
            operation_id: o
                .get("operation_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    let pending = st
        .batches
        .values()
        .filter(|b| b.status != "finished")
        .count();
    if pending >= MAX_PENDING {
        return Err(ApiError::too_many_requests());
    }
    st.next_batch += 1;
    let id = format!("{:010x}", 0x00ba_7c00_0000_u64 + st.next_batch);
    let b = Batch {
        id: id.clone(),
        status: "pending".into(),
        operations: ops,
        finished_operations: 0,
        errored_operations: 0,
        submitted_at: ctx.now,
        completed_at: None,
        results: Vec::new(),
        archive: None,
    };
    let v = batch_json(&b, &ctx.base_url);
    st.batches.insert(id.clone(), b);
    st.batch_queue.push(id);
    Ok(Reply::ok(v))
}

/// The query string of an operation's `params`.
pub fn params_query(params: &Map<String, Value>) -> String {
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string()),
            )
        })
        .collect();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// A result for the archive.
pub fn result(op: &BatchOp, status: u16, body: &Value) -> BatchResult {
    BatchResult {
        status_code: status,
        operation_id: op.operation_id.clone(),
        response: body.to_string(),
    }
}

/// `<batch id>.tar.gz` holding `<batch id>/0.json`: a JSON array of
/// `{status_code, operation_id, response}` like MailChimp's archives.
pub fn archive(id: &str, results: &[BatchResult]) -> std::io::Result<Vec<u8>> {
    let json = serde_json::to_vec(results).map_err(std::io::Error::other)?;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, format!("{id}/0.json"), json.as_slice())?;
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}
