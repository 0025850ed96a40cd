//! What the benches measure with (`benches/report.rs`, `benches/scale.rs`): the sandbox's
//! request logs and connection record, percentiles, process memory, knobs
//! from the environment, and a shop placing orders as MailChimp's clients do.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{SandboxApi, System, WebshopOrder, json_of};

/// A knob from the environment: `default` when unset or blank, an error when not a number.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| anyhow!("{name}={v} is not a number")),
        _ => Ok(default),
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `VmRSS` of `/proc/<pid>/status`, KiB.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// When the sandbox received a logged request (its `received_at`).
pub fn received_at(record: &Value) -> anyhow::Result<DateTime<Utc>> {
    let text = record["received_at"]
        .as_str()
        .ok_or_else(|| anyhow!("request without received_at: {}", record["seq"]))?;
    Ok(DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("received_at {text}"))?
        .with_timezone(&Utc))
}

/// The text of the first `extOrderId` element of a SOAP body (any namespace prefix).
pub fn ext_order_id(body: &str) -> Option<&str> {
    let start = body.find("extOrderId>")? + "extOrderId>".len();
    let rest = &body[start..];
    let id = &rest[..rest.find('<')?];
    (!id.is_empty()).then_some(id)
}

/// When each order was placed and created, from the sandbox's request logs (one clock): placed
/// when the MailChimp sandbox answered its `POST …/orders` with 200; created when the
/// MplusKASSA sandbox received the first successful `createOrderV3` carrying its id, plus the
/// injected latency (the sandbox sleeps before it creates).
#[derive(Debug, Default)]
pub struct OrderTimes {
    /// Placement per order id.
    pub placed: BTreeMap<String, DateTime<Utc>>,
    /// Creation in MplusKASSA per external order id.
    pub created: BTreeMap<String, DateTime<Utc>>,
    /// The first read in full of each placed order by Ferry after its placement (a
    /// `GET …/orders/{id}`: the connector's fast path found it changed), per order id; an
    /// order read with its whole page has none.
    pub read: BTreeMap<String, DateTime<Utc>>,
    /// Every `POST …/orders` in the MailChimp log (the shop's requests, refused ones too).
    pub shop_requests: usize,
}

impl OrderTimes {
    /// Reads the MailChimp (`mc`) and MplusKASSA (`mk`) request logs of a run.
    pub fn from_logs(mc: &[Value], mk: &[Value], latency_ms: u64) -> anyhow::Result<Self> {
        let mut times = Self::default();
        for r in mc {
            if r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/orders")) {
                times.shop_requests += 1;
                if r["status"] == 200
                    && let Some(id) =
                        serde_json::from_str::<Value>(r["body"].as_str().unwrap_or(""))
                            .ok()
                            .and_then(|b| b["id"].as_str().map(str::to_owned))
                {
                    times.placed.entry(id).or_insert(received_at(r)?);
                }
            }
        }
        for r in mc {
            let Some((_, id)) = r["path"].as_str().and_then(|p| p.rsplit_once("/orders/")) else {
                continue;
            };
            if r["method"] != "GET" || r["status"] != 200 || id.contains('/') {
                continue;
            }
            let Some(placed) = times.placed.get(id) else {
                continue;
            };
            let at = received_at(r)?;
            if at >= *placed {
                let slot = times.read.entry(id.to_owned()).or_insert(at);
                *slot = (*slot).min(at);
            }
        }
        let injected = chrono::Duration::milliseconds(i64::try_from(latency_ms)?);
        for r in mk {
            let body = r["body"].as_str().unwrap_or("");
            if r["status"] == 200
                && body.contains("createOrderV3")
                && let Some(id) = ext_order_id(body)
            {
                times
                    .created
                    .entry(id.to_owned())
                    .or_insert(received_at(r)? + injected);
            }
        }
        Ok(times)
    }

    /// Placed-to-created milliseconds of each of `ids`, sorted; an error names an order
    /// missing from either log.
    pub fn latencies<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a String>,
    ) -> anyhow::Result<Vec<u64>> {
        let mut latencies = Vec::new();
        for id in ids {
            let from = self
                .placed
                .get(id)
                .ok_or_else(|| anyhow!("no placement of {id} in the MailChimp request log"))?;
            let to = self
                .created
                .get(id)
                .ok_or_else(|| anyhow!("no createOrderV3 of {id} in the MplusKASSA request log"))?;
            latencies.push(u64::try_from((*to - *from).num_milliseconds()).unwrap_or(0));
        }
        latencies.sort_unstable();
        Ok(latencies)
    }

    /// The two stages of the orders of `ids` read by themselves, in milliseconds, each
    /// sorted: placed to read in full (the poll wait and the scan) and read to created (the
    /// pipeline, from the MailChimp connector's read to MplusKASSA's creation).
    pub fn stages<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> (Vec<u64>, Vec<u64>) {
        let ms = |from: &DateTime<Utc>, to: &DateTime<Utc>| {
            u64::try_from((*to - *from).num_milliseconds()).unwrap_or(0)
        };
        let (mut waited, mut piped): (Vec<u64>, Vec<u64>) = ids
            .into_iter()
            .filter_map(|id| {
                let (placed, read) = (self.placed.get(id)?, self.read.get(id)?);
                Some((ms(placed, read), ms(read, self.created.get(id)?)))
            })
            .unzip();
        waited.sort_unstable();
        piped.sort_unstable();
        (waited, piped)
    }
}

/// Places one order as a shop would, retrying while MailChimp refuses it (its connection
/// limit answers 429 when the shop's key has all 10 in use).
pub async fn place(api: &SandboxApi, store: &str, order: &WebshopOrder<'_>) -> anyhow::Result<()> {
    let mut attempt = 0u32;
    loop {
        match api.place_order(store, order).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt >= 50 => {
                return Err(e.context(format!("placing {} (gave up)", order.id)));
            }
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

impl SandboxApi {
    /// The logged requests of `system` after request number `since`, oldest first.
    pub async fn request_list(&self, system: System, since: u64) -> anyhow::Result<Vec<Value>> {
        let answer = self.requests_since(system, since).await?;
        match answer["requests"].as_array() {
            Some(list) => Ok(list.clone()),
            None => bail!("unexpected request log answer of {}", system.as_str()),
        }
    }

    /// The highest request number `system`'s log holds (0 when empty).
    pub async fn last_seq(&self, system: System) -> anyhow::Result<u64> {
        let list = self.request_list(system, 0).await?;
        Ok(list
            .iter()
            .filter_map(|r| r["seq"].as_u64())
            .max()
            .unwrap_or(0))
    }

    /// Forgets `system`'s logged requests (`DELETE /_sandbox/requests`; numbering goes on).
    pub async fn clear_requests(&self, system: System) -> anyhow::Result<()> {
        let url = format!("{}/_sandbox/requests", self.base(system));
        let r = self.http.delete(&url).send().await?;
        if !r.status().is_success() {
            bail!("DELETE {url}: {}", r.status());
        }
        Ok(())
    }

    /// MailChimp's connection record (`GET /_sandbox/connections`): `{limit, peak, keys:
    /// [{key (masked), in_flight, peak, admitted, refused}]}`.
    pub async fn connections(&self) -> anyhow::Result<Value> {
        let url = format!("{}/_sandbox/connections", self.mailchimp_base);
        json_of(self.http.get(&url).send().await, &url).await
    }
}

/// Every series of counter `name` as (labels, value).
pub fn metric_series(text: &str, name: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix('{')?;
            let (labels, value) = rest.split_once("} ")?;
            let labels = labels
                .split(',')
                .filter_map(|kv| kv.split_once('=').map(|(_, v)| v.trim_matches('"')))
                .collect::<Vec<_>>()
                .join(" ");
            Some((labels, value.parse().ok()?))
        })
        .collect()
}

/// The sum of every sample of `name` in a Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The Prometheus text exposition a service serves at `<admin_url>/metrics`.
pub async fn metrics_text(http: &reqwest::Client, admin_url: &str) -> anyhow::Result<String> {
    Ok(http
        .get(format!("{admin_url}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// The processes whose command name is `comm`.
pub fn processes_named(comm: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

/// `utime + stime` of `/proc/<pid>/stat`, clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state (field 3).
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Clock ticks per second (`getconf CLK_TCK`; Linux's 100 when unknown).
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(100.0)
}
