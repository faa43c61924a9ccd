//! The equity and drawdown chart as an SVG document (a `String`; the caller writes it).
//!
//! Drawn with plotters' SVG backend only: labels are SVG `<text>` elements the viewer
//! renders with its own fonts, sized by plotters' built-in metrics, so no font file is
//! read. Coordinates are `f64` — a picture, not money.

use plotters::prelude::*;

use super::downsample::ChartPoint;
use crate::event::Timestamp;

/// Chart size in pixels.
const WIDTH_PX: u32 = 1200;
const HEIGHT_PX: u32 = 700;

/// Why the chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct ChartError(String);

/// Render `points` (time-ordered) as an SVG with an equity panel and a drawdown panel.
pub fn render_svg(points: &[ChartPoint], title: &str) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH_PX, HEIGHT_PX)).into_drawing_area();
        draw(&root, points, title).map_err(|e| ChartError(e.to_string()))?;
        root.present().map_err(|e| ChartError(e.to_string()))?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error + 'static>>;

fn draw(root: &Area<'_>, points: &[ChartPoint], title: &str) -> DrawResult {
    root.fill(&WHITE)?;
    let titled = root.titled(title, ("sans-serif", 22))?;
    let (top, bottom) = titled.split_vertically((HEIGHT_PX as f64 * 0.62) as u32);
    let start = points.first().map_or(0, |p| p.ts.as_nanos());
    // Hours since the first point: small numbers keep f64 exact enough for pixels.
    let x = |p: &ChartPoint| (p.ts.as_nanos() - start) as f64 / 3.6e12;
    let xs = points.iter().map(x);
    let x_max = xs.fold(0.0f64, f64::max).max(1e-9);
    let end = points.last().map_or(start, |p| p.ts.as_nanos());
    let step = tick_step_ns(end.saturating_sub(start));
    // Ticks at round UTC times (multiples of the step), in the chart's hours.
    let ticks: Vec<f64> = tick_times(start, end, step)
        .map(|t| (t - start) as f64 / 3.6e12)
        .collect();
    let label = |hours: &f64| {
        // Back to a time, rounded to the step: f64 hours are not exact.
        let ns = start.saturating_add((hours * 3.6e12).round() as i64);
        tick_label(round_to(ns, step), step)
    };
    let equity: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (x(p), p.equity.to_f64_lossy()))
        .collect();
    let (lo, hi) = bounds(equity.iter().map(|e| e.1));
    let mut chart = ChartBuilder::on(&top)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(90)
        .caption("equity", ("sans-serif", 16))
        .build_cartesian_2d(Hours::new(x_max, ticks.clone()), lo..hi)?;
    chart
        .configure_mesh()
        .x_labels(ticks.len().max(1))
        .x_label_formatter(&label)
        .y_labels(6)
        .draw()?;
    chart.draw_series(LineSeries::new(equity, BLUE.stroke_width(2)))?;

    let drawdown: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (x(p), -p.drawdown.to_f64_lossy()))
        .collect();
    let (dd_lo, _) = bounds(drawdown.iter().map(|e| e.1).chain([0.0]));
    let mut chart = ChartBuilder::on(&bottom)
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(90)
        .caption("drawdown", ("sans-serif", 16))
        .build_cartesian_2d(Hours::new(x_max, ticks.clone()), dd_lo..0.0)?;
    chart
        .configure_mesh()
        .x_labels(ticks.len().max(1))
        .x_label_formatter(&label)
        .y_labels(4)
        .draw()?;
    chart.draw_series(AreaSeries::new(drawdown, 0.0, RED.mix(0.3)).border_style(RED))?;
    Ok(())
}

/// The x axis: hours since the first point, ticking at the given (round-time) points
/// rather than at plotters' round numbers of hours.
struct Hours {
    inner: plotters::coord::types::RangedCoordf64,
    ticks: Vec<f64>,
}

impl Hours {
    fn new(max: f64, ticks: Vec<f64>) -> Hours {
        Hours {
            inner: (0.0..max).into(),
            ticks,
        }
    }
}

impl plotters::coord::ranged1d::Ranged for Hours {
    type FormatOption = plotters::coord::ranged1d::NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.max_num_points() == 0 {
            return Vec::new();
        }
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

impl plotters::coord::ranged1d::ValueFormatter<f64> for Hours {
    fn format(value: &f64) -> String {
        format!("{value}")
    }
}

/// Most x-axis ticks: the step is the smallest round step that keeps to this many.
const MAX_X_TICKS: i64 = 8;

const SECOND_NS: i64 = 1_000_000_000;
const MINUTE_NS: i64 = 60 * SECOND_NS;
const HOUR_NS: i64 = 60 * MINUTE_NS;
const DAY_NS: i64 = 24 * HOUR_NS;

/// The round steps an x axis can tick at, shortest first: 1/5/15/30 s, 1/5/15/30 min,
/// 1/2/6/12 h, 1/2/7/14/28 days, then 28-day multiples (×2, ×4, …) for spans of years.
const TICK_STEPS_NS: &[i64] = &[
    SECOND_NS,
    5 * SECOND_NS,
    15 * SECOND_NS,
    30 * SECOND_NS,
    MINUTE_NS,
    5 * MINUTE_NS,
    15 * MINUTE_NS,
    30 * MINUTE_NS,
    HOUR_NS,
    2 * HOUR_NS,
    6 * HOUR_NS,
    12 * HOUR_NS,
    DAY_NS,
    2 * DAY_NS,
    7 * DAY_NS,
    14 * DAY_NS,
    28 * DAY_NS,
];

/// The x-axis tick step for a time span of `span_ns`: the shortest round step giving at
/// most [`MAX_X_TICKS`] ticks.
pub(crate) fn tick_step_ns(span_ns: i64) -> i64 {
    let span = span_ns.max(0);
    let fits = |step: i64| span / step < MAX_X_TICKS;
    if let Some(&step) = TICK_STEPS_NS.iter().find(|&&step| fits(step)) {
        return step;
    }
    let mut step = 28 * DAY_NS;
    while !fits(step) {
        step = step.saturating_mul(2);
    }
    step
}

/// The multiples of `step` (since the Unix epoch, UTC) from `start` to `end`.
fn tick_times(start: i64, end: i64, step: i64) -> impl Iterator<Item = i64> {
    let first = start
        .div_euclid(step)
        .saturating_add(i64::from(start.rem_euclid(step) != 0));
    (first..)
        .map(move |k| k.saturating_mul(step))
        .take_while(move |&t| t <= end)
}

/// `ns` to the nearest multiple of `step`.
fn round_to(ns: i64, step: i64) -> i64 {
    ns.saturating_add(step / 2)
        .div_euclid(step)
        .saturating_mul(step)
}

/// A tick's label: the date and time to the minute (to the second for steps under one).
fn tick_label(ns: i64, step: i64) -> String {
    let text = Timestamp::from_nanos(ns).to_string();
    let len = if step < MINUTE_NS { 19 } else { 16 };
    text.get(..len).unwrap_or(&text).replace('T', " ")
}

/// A y range around `values` with a little headroom; never empty.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(hi.abs().max(1.0) * 1e-6);
    (lo - pad, hi + pad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Decimal;

    #[test]
    fn renders_an_svg_with_lines_and_text() {
        let points: Vec<ChartPoint> = (0..50)
            .map(|i| ChartPoint {
                ts: Timestamp::from_nanos(i * 3_600_000_000_000),
                equity: Decimal::from_int(10_000 + (i % 7) * 10),
                drawdown: Decimal::from_int((i % 7) * 3),
            })
            .collect();
        let svg = render_svg(&points, "test").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("<polyline") || svg.contains("<path"));
        assert!(svg.contains("<text") && svg.contains("\ntest\n</text>"));
        // One point or none still draws.
        assert!(render_svg(&points[..1], "one").is_ok());
        assert!(render_svg(&[], "none").is_ok());
    }

    #[test]
    fn the_tick_step_is_the_shortest_round_step_with_few_ticks() {
        let cases = [
            (0, SECOND_NS),
            (40 * SECOND_NS, 15 * SECOND_NS),
            (5 * MINUTE_NS, MINUTE_NS),
            (90 * MINUTE_NS, 15 * MINUTE_NS),
            (3 * HOUR_NS, 30 * MINUTE_NS),
            (7 * HOUR_NS, HOUR_NS),
            (DAY_NS, 6 * HOUR_NS),
            (3 * DAY_NS, 12 * HOUR_NS),
            (7 * DAY_NS, DAY_NS),
            (8 * DAY_NS, 2 * DAY_NS),
            (30 * DAY_NS, 7 * DAY_NS),
            (365 * DAY_NS, 56 * DAY_NS),
            (10 * 365 * DAY_NS, 896 * DAY_NS),
        ];
        for (span, step) in cases {
            assert_eq!(tick_step_ns(span), step, "span {span}");
            assert!(span / step < MAX_X_TICKS);
        }
        assert_eq!(tick_step_ns(-5), SECOND_NS);
        assert!(tick_step_ns(i64::MAX) > 0);
    }

    #[test]
    fn ticks_are_multiples_of_the_step_within_the_span() {
        // 2026-01-01T20:33 to 2026-01-02T03:10.
        let start = 1_767_225_600 * SECOND_NS + 20 * HOUR_NS + 33 * MINUTE_NS;
        let end = start + 6 * HOUR_NS + 37 * MINUTE_NS;
        let step = tick_step_ns(end - start);
        assert_eq!(step, HOUR_NS);
        let ticks: Vec<String> = tick_times(start, end, step)
            .map(|t| tick_label(t, step))
            .collect();
        assert_eq!(ticks.first().map(String::as_str), Some("2026-01-01 21:00"));
        assert_eq!(ticks.last().map(String::as_str), Some("2026-01-02 03:00"));
        assert_eq!(ticks.len(), 7);
        assert_eq!(tick_times(start, start, MINUTE_NS).count(), 1);
        assert_eq!(tick_times(start + 1, start + 2, MINUTE_NS).count(), 0);
        let nine = 1_767_225_600 * SECOND_NS + 21 * HOUR_NS;
        assert_eq!(round_to(nine - 3, HOUR_NS), nine);
        assert_eq!(round_to(nine + 3, HOUR_NS), nine);
    }

    #[test]
    fn the_svg_labels_the_x_axis_at_round_times_only() {
        // 20:33 to 03:10: plotters alone labels 20:33, 21:39, …
        let start = 1_767_225_600 * SECOND_NS + 20 * HOUR_NS + 33 * MINUTE_NS;
        let points: Vec<ChartPoint> = (0..=397)
            .map(|i| ChartPoint {
                ts: Timestamp::from_nanos(start + i * MINUTE_NS),
                equity: Decimal::from_int(10_000 + (i % 11)),
                drawdown: Decimal::from_int(i % 5),
            })
            .collect();
        let svg = render_svg(&points, "t").unwrap();
        let labels: Vec<&str> = svg.lines().filter(|l| l.starts_with("2026-")).collect();
        assert_eq!(labels.len(), 14, "7 ticks on each panel: {labels:?}");
        assert!(labels.iter().all(|l| l.ends_with(":00")), "{labels:?}");
    }
}
