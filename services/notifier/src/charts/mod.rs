//! Charts the notifier draws itself, as SVG: records per flow and status, failures, latency
//! (p50 / p95 from the change in the source until the target confirmed it), and a sparkline
//! per integration; over 24 hours (hourly) or the last hour (per minute).
//!
//! | module | what |
//! | --- | --- |
//! | [`series`] | the window and its buckets, and the series read from the activity log |
//! | [`svg`] | drawing: stacked bars, lines, sparklines |

pub mod series;
pub mod svg;

use series::{TimeSeries, Window};
use svg::{Frame, Series};

/// The charts `GET /api/v1/charts/{chart}` serves.
pub const CHARTS: [&str; 4] = [
    "records.svg",
    "failures.svg",
    "latency.svg",
    "sparkline.svg",
];

/// Status colours, in stacking order (the dashboard's legend uses the same).
pub const STATUSES: [(&str, &str); 5] = [
    ("succeeded", "#2e7d32"),
    ("failed", "#c62828"),
    ("parked", "#ef6c00"),
    ("sent", "#1565c0"),
    ("observed", "#9e9e9e"),
];

/// One colour per flow.
fn flow_color(flow: &str) -> &'static str {
    match flow {
        "customers" => "#6a1b9a",
        "products" => "#00838f",
        "categories" => "#558b2f",
        "stock" => "#f9a825",
        "orders" => "#c62828",
        _ => "#546e7a",
    }
}

fn counts(values: &[i64]) -> Vec<Option<f64>> {
    #[allow(clippy::cast_precision_loss)]
    values.iter().map(|v| Some(*v as f64)).collect()
}

fn frame(window: &Window, title: String, unit: &'static str, offset: i64) -> (Frame, Vec<String>) {
    let (x_labels, names) = window.labels(offset);
    (
        Frame {
            width: 460,
            height: 190,
            title,
            x_labels,
            buckets: window.buckets,
            unit,
        },
        names,
    )
}

fn per(window: &Window) -> &'static str {
    if window.width >= 60 {
        "per hour"
    } else {
        "per minute"
    }
}

/// Records of one flow (or every flow when `flow` is none) per status, stacked.
pub fn records(data: &TimeSeries, window: &Window, flow: Option<&str>, offset: i64) -> String {
    let title = format!("{} {}", flow.unwrap_or("All records"), per(window));
    let (frame, names) = frame(window, title, "", offset);
    let series: Vec<Series> = STATUSES
        .iter()
        .filter_map(|(status, color)| {
            let mut sum = vec![0; window.buckets];
            let mut any = false;
            for f in data
                .records
                .iter()
                .filter(|f| flow.is_none_or(|w| w == f.flow))
            {
                if let Some(values) = f.statuses.get(*status) {
                    any = true;
                    for (s, v) in sum.iter_mut().zip(values) {
                        *s += v;
                    }
                }
            }
            any.then(|| Series {
                label: (*status).to_owned(),
                color,
                values: counts(&sum),
            })
        })
        .collect();
    svg::stacked_bars(&frame, &series, &names)
}

/// Failed and parked records per flow, stacked.
pub fn failures(data: &TimeSeries, window: &Window, offset: i64) -> String {
    let title = format!("Failures {}", per(window));
    let (frame, names) = frame(window, title, "", offset);
    let series: Vec<Series> = data
        .records
        .iter()
        .filter_map(|f| {
            let mut sum = vec![0; window.buckets];
            for status in ["failed", "parked"] {
                for (s, v) in sum
                    .iter_mut()
                    .zip(f.statuses.get(status).into_iter().flatten())
                {
                    *s += v;
                }
            }
            sum.iter().any(|v| *v > 0).then(|| Series {
                label: f.flow.clone(),
                color: flow_color(&f.flow),
                values: counts(&sum),
            })
        })
        .collect();
    svg::stacked_bars(&frame, &series, &names)
}

/// Latency p50 and p95, in milliseconds.
pub fn latency(data: &TimeSeries, window: &Window, offset: i64) -> String {
    let title = "Source change to target, p50 / p95".to_owned();
    let (frame, names) = frame(window, title, " ms", offset);
    #[allow(clippy::cast_precision_loss)]
    let to_f = |v: &[Option<i64>]| v.iter().map(|x| x.map(|x| x as f64)).collect();
    let series = [
        Series {
            label: "p50".to_owned(),
            color: "#1565c0",
            values: to_f(&data.latency_p50_ms),
        },
        Series {
            label: "p95".to_owned(),
            color: "#ef6c00",
            values: to_f(&data.latency_p95_ms),
        },
    ];
    svg::lines(&frame, &series, &names)
}

/// An integration's trend: records (area) and failures (red line) per bucket. A record counts
/// once: as the change seen in its source, or (for integrations whose sources the notifier
/// does not see) as the commands sent for it.
pub fn sparkline(data: &TimeSeries, window: &Window, label: &str) -> String {
    let sum = |keep: &dyn Fn(&str) -> bool| {
        let mut total = vec![0; window.buckets];
        for f in &data.records {
            for (_, values) in f.statuses.iter().filter(|(s, _)| keep(s)) {
                for (t, v) in total.iter_mut().zip(values) {
                    *t += v;
                }
            }
        }
        total
    };
    let observed = sum(&|s| s == "observed");
    let records = if observed.iter().any(|v| *v > 0) {
        observed
    } else {
        sum(&|s| s != "observed")
    };
    let mut series = vec![Series {
        label: "records".to_owned(),
        color: "#1565c0",
        values: counts(&records),
    }];
    if data.failures.iter().any(|f| *f > 0) {
        series.push(Series {
            label: "failures".to_owned(),
            color: "#c62828",
            values: counts(&data.failures),
        });
    }
    svg::sparkline(160, 34, &series, label)
}
