//! Small SVG drawing of our own: stacked bars, lines and sparklines with a value axis, time
//! labels and a legend. Every text is escaped; the output is a standalone document (served as
//! `image/svg+xml` and shown by the dashboard in an `<img>`, where no script runs).

use std::fmt::Write as _;

/// One named series of values, one per bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Shown in the legend.
    pub label: String,
    /// A CSS colour.
    pub color: &'static str,
    /// One value per bucket (`None`: no value, a gap in a line).
    pub values: Vec<Option<f64>>,
}

/// The frame of a chart: size, title, the time labels under buckets, the unit of values.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Shown at the top left.
    pub title: String,
    /// `(bucket index, label)` under the x axis.
    pub x_labels: Vec<(usize, String)>,
    /// Number of buckets.
    pub buckets: usize,
    /// Appended to the y-axis maximum (`ms`, or empty).
    pub unit: &'static str,
}

const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 22.0;

/// Escapes text for SVG content and attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The smallest "round" number (1, 2 or 5 times a power of ten) at or above `value`; 1 for
/// nothing.
pub fn nice_max(value: f64) -> f64 {
    if !value.is_finite() || value <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(value.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if value <= step * power + f64::EPSILON * power {
            return step * power;
        }
    }
    10.0 * power
}

/// A value as an axis label: `1.5k`, `12`, `0.5`.
pub fn short_number(value: f64) -> String {
    if value >= 1_000_000.0 {
        format!("{}M", trim(value / 1_000_000.0))
    } else if value >= 1_000.0 {
        format!("{}k", trim(value / 1_000.0))
    } else {
        trim(value)
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").unwrap_or(&text).to_owned()
}

struct Plot {
    x0: f64,
    y0: f64,
    w: f64,
    h: f64,
    step: f64,
    max: f64,
}

impl Plot {
    fn new(frame: &Frame, max: f64) -> Self {
        let w = (f64::from(frame.width) - LEFT - RIGHT).max(1.0);
        let h = (f64::from(frame.height) - TOP - BOTTOM).max(1.0);
        #[allow(clippy::cast_precision_loss)]
        let step = w / frame.buckets.max(1) as f64;
        Self {
            x0: LEFT,
            y0: TOP + h,
            w,
            h,
            step,
            max,
        }
    }

    fn y(&self, value: f64) -> f64 {
        self.y0 - (value / self.max).clamp(0.0, 1.0) * self.h
    }

    #[allow(clippy::cast_precision_loss)]
    fn x(&self, bucket: usize) -> f64 {
        self.x0 + bucket as f64 * self.step
    }
}

fn open(frame: &Frame, aria: &str) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{aria}" font-family="system-ui, sans-serif" font-size="11">"#,
        w = frame.width,
        h = frame.height,
        aria = esc(aria)
    );
    let _ = write!(svg, "<title>{}</title>", esc(aria));
    let _ = write!(
        svg,
        r##"<rect width="100%" height="100%" fill="#fff"/><text x="4" y="14" font-size="13" font-weight="600" fill="#1d1d1f">{}</text>"##,
        esc(&frame.title)
    );
    svg
}

fn legend(svg: &mut String, frame: &Frame, series: &[Series]) {
    let mut x = LEFT;
    for s in series {
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="20" width="9" height="9" fill="{c}"/><text x="{tx:.1}" y="28" fill="#333">{l}</text>"##,
            c = s.color,
            tx = x + 12.0,
            l = esc(&s.label)
        );
        #[allow(clippy::cast_precision_loss)]
        let width = 22.0 + 6.2 * s.label.chars().count() as f64;
        x += width;
        if x > f64::from(frame.width) - 40.0 {
            break;
        }
    }
}

fn axes(svg: &mut String, frame: &Frame, plot: &Plot) {
    // Three gridlines with their values: 0, half, max.
    for fraction in [0.0, 0.5, 1.0] {
        let value = plot.max * fraction;
        let y = plot.y(value);
        let _ = write!(
            svg,
            r##"<line x1="{x0:.1}" x2="{x1:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{c}" stroke-width="1"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="end" fill="#555">{v}{u}</text>"##,
            x0 = plot.x0,
            x1 = plot.x0 + plot.w,
            c = if fraction == 0.0 { "#999" } else { "#e4e6ea" },
            tx = plot.x0 - 4.0,
            ty = y + 4.0,
            v = short_number(value),
            u = if fraction == 1.0 { frame.unit } else { "" },
        );
    }
    for (bucket, label) in &frame.x_labels {
        let x = plot.x(*bucket);
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{y0:.1}" y2="{y1:.1}" stroke="#999"/><text x="{x:.1}" y="{ty:.1}" text-anchor="middle" fill="#555">{l}</text>"##,
            y0 = plot.y0,
            y1 = plot.y0 + 4.0,
            ty = plot.y0 + 16.0,
            l = esc(label)
        );
    }
}

/// Bars stacked per bucket, one colour per series (e.g. one per status), with a tooltip per
/// segment.
pub fn stacked_bars(frame: &Frame, series: &[Series], bucket_names: &[String]) -> String {
    let totals: Vec<f64> = (0..frame.buckets)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().flatten().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let plot = Plot::new(frame, max);
    let mut svg = open(frame, &frame.title);
    legend(&mut svg, frame, series);
    axes(&mut svg, frame, &plot);
    let bar = (plot.step * 0.8).max(1.0);
    for i in 0..frame.buckets {
        let mut base = 0.0;
        for s in series {
            let value = s.values.get(i).copied().flatten().unwrap_or(0.0);
            if value <= 0.0 {
                continue;
            }
            let top = plot.y(base + value);
            let height = plot.y(base) - top;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{top:.1}" width="{bar:.1}" height="{height:.1}" fill="{c}"><title>{when} {l}: {v}</title></rect>"#,
                x = plot.x(i) + (plot.step - bar) / 2.0,
                c = s.color,
                when = esc(bucket_names.get(i).map_or("", String::as_str)),
                l = esc(&s.label),
                v = trim(value)
            );
            base += value;
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Lines through bucket centres (gaps where a value is missing), a dot on every value.
pub fn lines(frame: &Frame, series: &[Series], bucket_names: &[String]) -> String {
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().copied().flatten())
        .fold(0.0, f64::max);
    let plot = Plot::new(frame, nice_max(top));
    let mut svg = open(frame, &frame.title);
    legend(&mut svg, frame, series);
    axes(&mut svg, frame, &plot);
    for s in series {
        let mut path = String::new();
        let mut pen_down = false;
        for (i, value) in s.values.iter().enumerate() {
            let Some(value) = value else {
                pen_down = false;
                continue;
            };
            let x = plot.x(i) + plot.step / 2.0;
            let y = plot.y(*value);
            let _ = write!(path, "{}{x:.1},{y:.1} ", if pen_down { "L" } else { "M" });
            pen_down = true;
            let _ = write!(
                svg,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.2" fill="{c}"><title>{when} {l}: {v}{u}</title></circle>"#,
                c = s.color,
                when = esc(bucket_names.get(i).map_or("", String::as_str)),
                l = esc(&s.label),
                v = trim(*value),
                u = frame.unit
            );
        }
        if !path.is_empty() {
            let _ = write!(
                svg,
                r#"<path d="{}" fill="none" stroke="{}" stroke-width="1.8"/>"#,
                path.trim_end(),
                s.color
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A small line without axes (the overview's trend per integration): the first series as a
/// filled area, the others as lines on the same scale.
pub fn sparkline(width: u32, height: u32, series: &[Series], aria: &str) -> String {
    let top = nice_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied().flatten())
            .fold(0.0, f64::max),
    );
    let (w, h) = (f64::from(width), f64::from(height));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{a}"><title>{a}</title>"#,
        a = esc(aria)
    );
    for (n, s) in series.iter().enumerate() {
        let count = s.values.len().max(2) - 1;
        #[allow(clippy::cast_precision_loss)]
        let point = |i: usize, v: f64| {
            (
                i as f64 * (w - 2.0) / count as f64 + 1.0,
                h - 1.0 - (v / top).clamp(0.0, 1.0) * (h - 2.0),
            )
        };
        let mut path = String::new();
        for (i, v) in s.values.iter().enumerate() {
            let (x, y) = point(i, v.unwrap_or(0.0));
            let _ = write!(path, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
        }
        let path = path.trim_end();
        if path.is_empty() {
            continue;
        }
        if n == 0 {
            let _ = write!(
                svg,
                r#"<path d="{path} L{:.1},{:.1} L1,{:.1} Z" fill="{c}" fill-opacity="0.18" stroke="none"/>"#,
                w - 1.0,
                h - 1.0,
                h - 1.0,
                c = s.color
            );
        }
        let _ = write!(
            svg,
            r#"<path d="{path}" fill="none" stroke="{}" stroke-width="1.5"/>"#,
            s.color
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn frame(buckets: usize) -> Frame {
        Frame {
            width: 400,
            height: 160,
            title: "Orders <per hour>".into(),
            x_labels: vec![(0, "00:00".into()), (2, "02:00".into())],
            buckets,
            unit: "",
        }
    }

    fn series(label: &str, values: &[Option<f64>]) -> Series {
        Series {
            label: label.into(),
            color: "#2e7d32",
            values: values.to_vec(),
        }
    }

    #[test]
    fn round_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(-3.0), 1.0);
        assert_eq!(nice_max(f64::NAN), 1.0);
        assert_eq!(nice_max(1.0), 1.0);
        assert_eq!(nice_max(3.0), 5.0);
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(11.0), 20.0);
        assert_eq!(nice_max(200.0), 200.0);
        assert_eq!(nice_max(1234.0), 2000.0);
        assert_eq!(short_number(1500.0), "1.5k");
        assert_eq!(short_number(2_000_000.0), "2M");
        assert_eq!(short_number(0.5), "0.5");
        assert_eq!(short_number(20.0), "20");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let svg = stacked_bars(&frame(3), &[series("ok <b>", &[Some(1.0)])], &[]);
        assert!(svg.contains("Orders &lt;per hour&gt;"));
        assert!(svg.contains("ok &lt;b&gt;"));
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn stacked_bars_stack_and_scale_to_a_round_maximum() {
        let names: Vec<String> = (0..3).map(|i| format!("b{i}")).collect();
        let svg = stacked_bars(
            &frame(3),
            &[
                series("succeeded", &[Some(2.0), None, Some(6.0)]),
                series("failed", &[Some(1.0), Some(0.0), Some(1.0)]),
            ],
            &names,
        );
        // One rectangle per non-zero value (plus the background and two legend swatches).
        assert_eq!(svg.matches("<rect").count(), 4 + 3);
        // The axis goes to 10 (7 rounded up), labelled.
        assert!(svg.contains(">10</text>"), "{svg}");
        assert!(svg.contains("<title>b2 succeeded: 6</title>"));
        assert!(svg.contains(">02:00</text>"));
        // Plot height 104 px: the 6 + 1 bar reaches 70 % of it, from y = 138.
        assert!(svg.contains(r#"y="75.6" width="#), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    #[test]
    fn lines_break_where_values_are_missing() {
        let svg = lines(
            &frame(4),
            &[series(
                "p95",
                &[Some(100.0), Some(300.0), None, Some(200.0)],
            )],
            &[],
        );
        let path = svg.split("<path d=\"").nth(1).unwrap();
        let path = &path[..path.find('"').unwrap()];
        assert_eq!(path.matches('M').count(), 2, "{path}");
        assert_eq!(path.matches('L').count(), 1, "{path}");
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(svg.contains(">500</text>"), "{svg}");
    }

    #[test]
    fn sparklines_have_an_area_and_a_line_per_series() {
        let svg = sparkline(
            120,
            28,
            &[
                series("records", &[Some(1.0), Some(4.0), Some(2.0)]),
                series("failed", &[Some(0.0), Some(1.0), None]),
            ],
            "Corner shop",
        );
        assert_eq!(svg.matches("<path").count(), 3);
        assert!(svg.contains("fill-opacity"));
        assert!(svg.contains(r#"aria-label="Corner shop""#));
        // Empty input still draws a valid, empty picture.
        let empty = sparkline(120, 28, &[], "none");
        assert!(empty.ends_with("</svg>") && !empty.contains("<path"));
    }
}
