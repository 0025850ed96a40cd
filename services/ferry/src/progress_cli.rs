//! `ferry integration progress <id> [--watch] [--json]`: how far an integration's syncs are,
//! one bar per resource of each connector (records done of the total, percent, rate over the
//! last 20 s, time left), from `GET /api/v1/{mailchimp,mpluskassa}/integrations/{id}/progress`.
//!
//! ```text
//! MailChimp (polled)
//!   members        [##############################] 100.0 %        100 / 100       done 2 min ago, 850/s on average
//!   orders         [###########...................]  36.0 %     36,000 / 100,000   backfill: 1,000/s, about 1 min 04 s left
//! MplusKASSA (polled)
//!   relations      [#######.......................]  25.0 %        120 records     backfill: 40/s, about 12 s left
//! ```
//!
//! `--watch` redraws every `--interval` seconds until nothing is left to wait for: no backfill
//! or reconciliation running and, for a live integration, every resource synced once (polls
//! never end, so a poll in progress does not count). `--json` prints the connectors' answers
//! (one line per refresh with `--watch`).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::bail;
use chrono::{DateTime, Utc};
use ferry_platform::connector::progress::{IntegrationProgress, ResourceProgress, SyncState};
use serde::Serialize;

use crate::integration_cli::Api;

/// The connectors asked, in this order, with their names for people.
const CONNECTORS: [(&str, &str); 2] = [("mailchimp", "MailChimp"), ("mpluskassa", "MplusKASSA")];

/// Width of a bar, in characters between the brackets.
const BAR: usize = 30;

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Report {
    integration_id: String,
    /// Nothing left to wait for in any connector.
    settled: bool,
    /// Each connector serving the integration.
    connectors: Vec<IntegrationProgress>,
}

/// Runs the command.
pub(crate) async fn run(
    api: &Api,
    id: &str,
    watch: bool,
    json: bool,
    interval: Duration,
) -> anyhow::Result<()> {
    let tty = std::io::stdout().is_terminal() && !json;
    let mut drawn = 0;
    let mut fetched_once = false;
    loop {
        let report = match fetch(api, id).await {
            Ok(report) => report,
            // Watching, a failure after a first answer (a restarting service, a busy
            // database) is said and tried again.
            Err(error) if watch && fetched_once => {
                eprintln!("{error:#}; trying again");
                tokio::time::sleep(interval).await;
                continue;
            }
            Err(error) => return Err(error),
        };
        fetched_once = true;
        let mut out = std::io::stdout().lock();
        if json {
            if watch {
                writeln!(out, "{}", serde_json::to_string(&report)?)?;
            } else {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            }
        } else {
            let text = render(&report.connectors, Utc::now());
            if tty && drawn > 0 {
                // Back over the previous frame, then clear it.
                write!(out, "\x1b[{drawn}A\x1b[J")?;
            } else if drawn > 0 {
                writeln!(out)?;
            }
            write!(out, "{text}")?;
            drawn = text.lines().count();
        }
        out.flush()?;
        drop(out);
        if !watch || report.settled {
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}

/// Both connectors' progress of `id` (a connector not serving it is left out).
async fn fetch(api: &Api, id: &str) -> anyhow::Result<Report> {
    let mut connectors = Vec::new();
    for (system, _) in CONNECTORS {
        let path = format!("/{system}/integrations/{id}/progress");
        if let Some(value) = api.get_opt(&path).await? {
            connectors.push(serde_json::from_value::<IntegrationProgress>(value)?);
        }
    }
    if connectors.is_empty() {
        bail!("no connector serves integration {id}");
    }
    Ok(Report {
        integration_id: id.to_owned(),
        settled: connectors.iter().all(|c| c.settled),
        connectors,
    })
}

/// The bars of every connector, one line per resource.
fn render(connectors: &[IntegrationProgress], now: DateTime<Utc>) -> String {
    let mut text = String::new();
    for c in connectors {
        let name = CONNECTORS
            .iter()
            .find(|(system, _)| *system == c.system)
            .map_or(c.system.as_str(), |(_, name)| name);
        let polled = if c.polled { "polled" } else { "not polled" };
        text.push_str(&format!("{name} ({polled})\n"));
        for r in &c.resources {
            text.push_str(&line(r, c.polled, now));
            text.push('\n');
        }
    }
    text
}

/// One resource: name, bar, percent, counts and what it is doing.
fn line(r: &ResourceProgress, polled: bool, now: DateTime<Utc>) -> String {
    let bar = match r.percent {
        Some(p) => {
            let filled = ((p / 100.0) * BAR as f64).round().clamp(0.0, BAR as f64) as usize;
            format!("[{}{}]", "#".repeat(filled), ".".repeat(BAR - filled))
        }
        None => format!("[{}]", " ".repeat(BAR)),
    };
    let percent = r
        .percent
        .map_or_else(|| "    - ".to_owned(), |p| format!("{p:5.1} %"));
    let counts = match r.total {
        Some(total) => format!("{} / {}", thousands(r.done), thousands(total)),
        None => format!("{} records", thousands(r.done)),
    };
    let rate = r
        .rate_per_second
        .map(|x| format!("{}/s", thousands(x.round() as u64)));
    let what = match r.state {
        SyncState::Running => {
            let left = match r.eta_seconds {
                Some(s) => format!("about {} left", duration(s)),
                None => "time left not known yet".to_owned(),
            };
            let kind = match r.mode.as_deref() {
                Some("incremental") => "polling: ",
                Some("reconcile") => "reconciling: ",
                _ => "backfill: ",
            };
            match rate {
                Some(rate) => format!("{kind}{rate}, {left}"),
                None => format!("{kind}starting"),
            }
        }
        SyncState::Done => {
            let ago = r
                .finished_at
                .map(|t| format!(" {} ago", duration((now - t).num_seconds().max(0) as u64)))
                .unwrap_or_default();
            match rate {
                Some(rate) if r.done > 0 => format!("done{ago}, {rate} on average"),
                _ => format!("done{ago}"),
            }
        }
        SyncState::Failed => format!(
            "failed: {} (tried again at the next poll)",
            r.last_error.as_deref().unwrap_or("no reason given")
        ),
        SyncState::Idle if polled => "waiting for the first sync".to_owned(),
        SyncState::Idle => "not synced".to_owned(),
    };
    format!("  {:<14} {bar} {percent} {counts:>20}   {what}", r.resource)
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds for people: `42 s`, `3 min 05 s`, `1 h 02 min`.
fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min {:02} s", s / 60, s % 60),
        s => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_platform::connector::progress::{Run, Sample, Samples};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn a_running_resource_shows_its_bar_counts_rate_and_time_left() {
        let mut samples = Samples::started(at(0));
        samples.record(Sample {
            at: at(10),
            done: 2_500,
            position: 2_500,
        });
        let run = Run {
            state: SyncState::Running,
            mode: Some("full".into()),
            done: 2_500,
            total: Some(10_000),
            position: 2_500,
            position_total: Some(10_000),
            started_at: Some(at(0)),
            samples,
            ..Run::idle()
        };
        let text = line(&run.view("orders", at(10)), true, at(10));
        assert!(
            text.contains(&format!("[{}{}]", "#".repeat(8), ".".repeat(22))),
            "{text}"
        );
        assert!(text.contains(" 25.0 %"), "{text}");
        assert!(text.contains("2,500 / 10,000"), "{text}");
        assert!(text.contains("backfill: 250/s, about 30 s left"), "{text}");
    }

    #[test]
    fn finished_failed_and_idle_resources_say_so() {
        let done = Run {
            state: SyncState::Done,
            mode: Some("full".into()),
            done: 1_000,
            total: None,
            position: 80,
            position_total: Some(80),
            started_at: Some(at(0)),
            finished_at: Some(at(4)),
            ..Run::idle()
        };
        let text = line(&done.view("relations", at(184)), true, at(184));
        assert!(text.contains(&format!("[{}]", "#".repeat(BAR))), "{text}");
        assert!(text.contains("1,000 records"), "{text}");
        assert!(
            text.contains("done 3 min 00 s ago, 250/s on average"),
            "{text}"
        );
        let failed = Run {
            state: SyncState::Failed,
            last_error: Some("MplusKASSA timed out".into()),
            ..Run::idle()
        };
        assert!(
            line(&failed.view("stock", at(0)), true, at(0))
                .contains("failed: MplusKASSA timed out")
        );
        assert!(
            line(&Run::idle().view("stock", at(0)), true, at(0))
                .contains("waiting for the first sync")
        );
        assert!(line(&Run::idle().view("stock", at(0)), false, at(0)).contains("not synced"));
    }

    #[test]
    fn numbers_and_durations_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(duration(42), "42 s");
        assert_eq!(duration(185), "3 min 05 s");
        assert_eq!(duration(3_720), "1 h 02 min");
    }
}
