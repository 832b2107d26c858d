//! A plot of differences with their intervals: each series' mean by x with a vertical bar from
//! the interval's low to its high end, and the zero line (`textgan compare`).
use super::plot::{canvas, chart, legend_entry, nice_range, DrawResult, COLORS, H};
use plotters::prelude::*;

/// One series: (x, mean, low, high) per point; NaN bounds draw no bar.
#[derive(Debug, Clone)]
pub struct IntervalSeries {
    pub label: String,
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// An SVG of `series` with interval bars and a dashed line at zero.
pub fn svg(series: &[IntervalSeries], title: &str, x_label: &str, y_label: &str) -> String {
    let mut out = String::new();
    // As `plot::svg`: the padded ranges leave plotters nothing to fail on.
    let _ = draw(
        &mut out,
        canvas(series.iter().map(|s| s.label.as_str())),
        series,
        [title, x_label, y_label],
    );
    out
}

fn draw(
    out: &mut String,
    (width, legend): (u32, u32),
    series: &[IntervalSeries],
    [title, x_label, y_label]: [&str; 3],
) -> DrawResult {
    let root = SVGBackend::with_string(out, (width, H)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, side) = root.split_horizontally(width - legend);
    let pts = || series.iter().flat_map(|s| s.points.iter());
    // Shift each series a little along x so that bars at one x do not hide each other.
    let step = {
        let xr = nice_range(pts().map(|p| p.0));
        (xr.end - xr.start) * 0.012
    };
    let xr = nice_range(
        pts()
            .map(|p| p.0)
            .chain(pts().map(|p| p.0 + step * series.len() as f64)),
    );
    let ys = pts().flat_map(|p| [p.1, p.2, p.3]).chain([0.0]);
    let yr = nice_range(ys);
    let mut chart = chart(&plot, (xr.clone(), yr), [title, x_label, y_label])?;
    chart.draw_series(DashedLineSeries::new(
        [(xr.start, 0.0), (xr.end, 0.0)],
        6,
        4,
        BLACK.stroke_width(1),
    ))?;
    for (i, s) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let dx = step * i as f64;
        let p: Vec<(f64, f64, f64, f64)> = s
            .points
            .iter()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .map(|&(x, m, lo, hi)| (x + dx, m, lo, hi))
            .collect();
        chart.draw_series(LineSeries::new(
            p.iter().map(|q| (q.0, q.1)),
            c.stroke_width(2),
        ))?;
        chart.draw_series(p.iter().map(|q| Circle::new((q.0, q.1), 4, c.filled())))?;
        for q in p.iter().filter(|q| q.2.is_finite() && q.3.is_finite()) {
            chart.draw_series(LineSeries::new([(q.0, q.2), (q.0, q.3)], c.stroke_width(2)))?;
        }
        legend_entry(&side, i, c, &s.label)?;
    }
    root.present()?;
    Ok(())
}
