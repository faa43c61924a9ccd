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
    let label = |hours: &f64| {
        let ns = start.saturating_add((hours * 3.6e12) as i64);
        let text = Timestamp::from_nanos(ns).to_string();
        text.get(..16).unwrap_or(&text).replace('T', " ")
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
        .build_cartesian_2d(0.0..x_max, lo..hi)?;
    chart
        .configure_mesh()
        .x_labels(6)
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
        .build_cartesian_2d(0.0..x_max, dd_lo..0.0)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .x_label_formatter(&label)
        .y_labels(4)
        .draw()?;
    chart.draw_series(AreaSeries::new(drawdown, 0.0, RED.mix(0.3)).border_style(RED))?;
    Ok(())
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
}
