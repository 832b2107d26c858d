//! Quality-diversity plots as SVG and PNG (rendered with resvg and the bundled DejaVu Sans, so no
//! system fonts are needed).
use crate::error::{Error, Result};
use crate::record::{Metrics, Phase};
use plotters::prelude::*;
use std::path::Path;

/// One curve: a run's points at several temperatures.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    /// (x, y, temperature); a NaN temperature draws the point without a label.
    pub points: Vec<(f64, f64, f64)>,
}

pub(super) const COLORS: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
];
const W: u32 = 720;
pub(super) const H: u32 = 520;
/// Width of the legend column at the right.
const R: u32 = 180;
pub(super) const FONT: &str = "DejaVu Sans";

/// The data range padded by 8% each side (plotters puts its ticks at round numbers inside).
pub(super) fn nice_range(vals: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let v: Vec<f64> = vals.filter(|x| x.is_finite()).collect();
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.08).max(1e-3);
    (lo - pad)..(hi + pad)
}

/// An SVG line-and-point plot of `series`, points labelled with their temperature. Drawn by
/// `plotters` (axis ticks at round numbers); the legend is a column at the right.
pub fn svg(series: &[Series], title: &str, x_label: &str, y_label: &str) -> String {
    let mut out = String::new();
    // Drawing into a string cannot fail but for plotters' own range errors, which the
    // padded ranges rule out; a failure leaves what was drawn.
    let _ = draw(
        &mut out,
        canvas(series.iter().map(|s| s.label.as_str())),
        series,
        [title, x_label, y_label],
    );
    out
}

/// The canvas width and the legend column's of a plot with these legend labels: the canvas
/// widens to the right for long labels (about 7.2 px a character at 12 px DejaVu Sans), so
/// none is cut off; the plot itself keeps its size.
pub(super) fn canvas<'a>(labels: impl Iterator<Item = &'a str>) -> (u32, u32) {
    let longest = labels.map(|l| l.chars().count()).max().unwrap_or(0);
    let legend = R.max((38.0 + 7.2 * longest as f64 + 10.0).ceil() as u32);
    (W - R + legend, legend)
}

/// Series `i`'s entry in the legend column: a bar of its colour and its label.
pub(super) fn legend_entry(
    side: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    i: usize,
    colour: RGBColor,
    label: &str,
) -> DrawResult {
    let y = 50 + 20 * i as i32;
    side.draw(&Rectangle::new([(12, y - 2), (32, y + 1)], colour.filled()))?;
    side.draw(&Text::new(label, (38, y - 8), (FONT, 15)))?;
    Ok(())
}

/// A tick label: the shortest form of the round number plotters chose (`2`, `0.25`), free of
/// floating-point noise.
pub(super) fn tick(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" => "0".into(),
        s => s.into(),
    }
}

pub(super) type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// The chart of every plot: title, axes with their labels, round ticks, a light grid.
pub(super) type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

pub(super) fn chart<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    (xr, yr): (std::ops::Range<f64>, std::ops::Range<f64>),
    [title, x_label, y_label]: [&str; 3],
) -> std::result::Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(xr, yr)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 16))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
        .draw()?;
    Ok(chart)
}

fn draw(
    out: &mut String,
    (width, legend): (u32, u32),
    series: &[Series],
    [title, x_label, y_label]: [&str; 3],
) -> DrawResult {
    let root = SVGBackend::with_string(out, (width, H)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, side) = root.split_horizontally(width - legend);
    // The ranges of the points drawn: a point with one coordinate missing (a temperature at
    // which no sample was valid has no grammar NLL) is not drawn and does not stretch an axis.
    let drawn = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0.is_finite() && p.1.is_finite())
    };
    let xr = nice_range(drawn().map(|p| p.0));
    let yr = nice_range(drawn().map(|p| p.1));
    let mut chart = chart(&plot, (xr, yr), [title, x_label, y_label])?;
    for (i, ser) in series.iter().enumerate() {
        let c = COLORS[i % COLORS.len()];
        let pts: Vec<(f64, f64, f64)> = ser
            .points
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        chart.draw_series(LineSeries::new(
            pts.iter().map(|p| (p.0, p.1)),
            c.stroke_width(2),
        ))?;
        chart.draw_series(pts.iter().map(|p| Circle::new((p.0, p.1), 4, c.filled())))?;
        chart.draw_series(pts.iter().filter(|p| p.2.is_finite()).map(|p| {
            EmptyElement::at((p.0, p.1))
                + Text::new(
                    format!("T={}", p.2),
                    (6, -14),
                    (FONT, 13).into_font().color(&RGBColor(0x55, 0x55, 0x55)),
                )
        }))?;
        legend_entry(&side, i, c, &ser.label)?;
    }
    root.present()?;
    Ok(())
}

/// A run's training curves from its `metrics.jsonl` records, as (file stem, SVG) pairs:
/// `mle` (train loss, test NLL and NLL-oracle by step) and, once the adversarial phase has
/// begun, `adv_nll` (test NLL, NLL-oracle) and `adv_bleu` (BLEU-4, Self-BLEU-4) by adversarial
/// step. Curves with no values are left out, and plots with no curves.
pub fn training_curves(records: &[Metrics]) -> Vec<(&'static str, String)> {
    let curve = |c: &Curve| curve_of(records, c);
    PLOTS
        .iter()
        .filter_map(|(stem, title, x, y, curves)| {
            let series: Vec<Series> = curves.iter().filter_map(curve).collect();
            (!series.is_empty()).then(|| (*stem, svg(&series, title, x, y)))
        })
        .collect()
}

/// The training plots by file stem and title, in the order [`training_curves`] draws them.
pub fn training_plot_names() -> Vec<(&'static str, &'static str)> {
    PLOTS.iter().map(|p| (p.0, p.1)).collect()
}

/// One training plot (`stem`, see [`training_plot_names`]) over several runs: each run's
/// curves, labelled `run: curve`. `None` for an unknown stem or when no run has a value.
pub fn compare_runs(runs: &[(String, Vec<Metrics>)], stem: &str) -> Option<String> {
    let (_, title, x, y, curves) = PLOTS.iter().find(|p| p.0 == stem)?;
    let mut series = Vec::new();
    for (name, records) in runs {
        for c in curves.iter() {
            if let Some(mut s) = curve_of(records, c) {
                s.label = match runs.len() {
                    1 => s.label,
                    _ => format!("{name}: {}", s.label),
                };
                series.push(s);
            }
        }
    }
    (!series.is_empty()).then(|| svg(&series, title, x, y))
}

/// A curve's points in `records`, or `None` when it has no values.
fn curve_of(records: &[Metrics], &(phase, label, get): &Curve) -> Option<Series> {
    let points: Vec<(f64, f64, f64)> = records
        .iter()
        .filter(|m| m.phase == phase)
        .filter_map(|m| {
            let x = match phase {
                Phase::Mle => m.step,
                Phase::Adv => m.adv_step?,
            };
            Some((x as f64, get(m)?, f64::NAN))
        })
        .collect();
    (!points.is_empty()).then(|| Series {
        label: label.into(),
        points,
    })
}

/// What a curve reads of a record.
type Get = fn(&Metrics) -> Option<f64>;

/// (phase, label, y value); x is the step of the phase (MLE steps, adversarial steps).
type Curve = (Phase, &'static str, Get);

/// BLEU-4 and Self-BLEU-4 (the third of BLEU-2..5).
fn bleu4(m: &Metrics) -> Option<f64> {
    m.bleu.as_ref()?.get(2).copied()
}
fn self_bleu4(m: &Metrics) -> Option<f64> {
    m.self_bleu.as_ref()?.get(2).copied()
}

/// The training plots: (file stem, title, x label, y label, curves).
const PLOTS: &[(&str, &str, &str, &str, &[Curve])] = &[
    (
        "mle",
        "MLE training",
        "step",
        "nats per token",
        &[
            (Phase::Mle, "train loss", |m| m.train_loss),
            (Phase::Mle, "test NLL", |m| m.test_nll),
            (Phase::Mle, "NLL-oracle", |m| m.nll_oracle),
            (Phase::Mle, "grammar NLL of samples", |m| m.grammar_nll),
        ],
    ),
    (
        "mle_scores",
        "MLE training: quality and diversity",
        "step",
        "score",
        &[
            (Phase::Mle, "BLEU-4", bleu4),
            (Phase::Mle, "Self-BLEU-4", self_bleu4),
            (Phase::Mle, "validity", |m| m.validity),
        ],
    ),
    (
        "adv_nll",
        "Adversarial phase: likelihood",
        "adversarial step",
        "nats per token",
        &[
            (Phase::Adv, "test NLL", |m| m.test_nll),
            (Phase::Adv, "NLL-oracle", |m| m.nll_oracle),
            (Phase::Adv, "grammar NLL of samples", |m| m.grammar_nll),
        ],
    ),
    (
        "adv_bleu",
        "Adversarial phase: quality and diversity",
        "adversarial step",
        "score",
        &[
            (Phase::Adv, "BLEU-4", bleu4),
            (Phase::Adv, "Self-BLEU-4", self_bleu4),
            (Phase::Adv, "validity", |m| m.validity),
        ],
    ),
    (
        "adv_game",
        "Adversarial phase: losses",
        "adversarial step",
        "loss",
        &[
            (Phase::Adv, "G loss", |m| m.adv.g_loss),
            (Phase::Adv, "D loss", |m| m.adv.d_loss),
        ],
    ),
    (
        "adv_disc",
        "Adversarial phase: discriminator accuracy and Gumbel beta",
        "adversarial step",
        "fraction (beta: its value)",
        &[
            (Phase::Adv, "D accuracy, real", |m| m.adv.d_real_acc),
            (Phase::Adv, "D accuracy, generated", |m| m.adv.d_fake_acc),
            (Phase::Adv, "beta", |m| m.adv.beta),
        ],
    ),
    (
        "guard",
        "Divergence guard: skipped steps (per evaluation) and rollbacks",
        "step (MLE) or adversarial step",
        "count",
        &[
            (Phase::Mle, "skipped, MLE", |m| {
                m.skipped_steps.map(|n| n as f64)
            }),
            (Phase::Mle, "rollbacks, MLE", |m| m.rollbacks.map(f64::from)),
            (Phase::Adv, "skipped, adversarial", |m| {
                m.skipped_steps.map(|n| n as f64)
            }),
            (Phase::Adv, "rollbacks, adversarial", |m| {
                m.rollbacks.map(f64::from)
            }),
        ],
    ),
];

/// Renders SVG text to PNG bytes.
pub fn png(svg: &str) -> Result<Vec<u8>> {
    use resvg::{tiny_skia, usvg};
    let mut opt = usvg::Options {
        font_family: "DejaVu Sans".into(),
        ..Default::default()
    };
    opt.fontdb_mut()
        .load_font_data(dejavu::sans::regular().to_vec());
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| Error::Eval(format!("plot: {e}")))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| Error::Eval("plot: empty canvas".into()))?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|e| Error::Eval(format!("plot: {e}")))
}

/// Writes `<stem>.svg` and `<stem>.png`.
pub fn save(svg_text: &str, stem: &Path) -> Result<()> {
    crate::fsutil::write_atomic(&stem.with_extension("svg"), svg_text.as_bytes())?;
    crate::fsutil::write_atomic(&stem.with_extension("png"), &png(svg_text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two MLE evaluations and three adversarial ones (one without BLEU): one curve point per
    /// value, each plot only with the curves that have values.
    #[test]
    fn training_curves_follow_the_records() {
        let recs: Vec<Metrics> = [
            r#"{"phase":"mle","step":10,"train_loss":5.0,"test_nll":5.5}"#,
            r#"{"phase":"mle","step":20,"train_loss":4.0,"test_nll":4.8}"#,
            r#"{"phase":"adv","step":20,"adv_step":0,"test_nll":4.8,"bleu":[0.6,0.4,0.2,0.1],"self_bleu":[0.7,0.5,0.3,0.2]}"#,
            r#"{"phase":"adv","step":20,"adv_step":5,"test_nll":4.9}"#,
            r#"{"phase":"adv","step":20,"adv_step":10,"test_nll":5.0,"bleu":[0.6,0.4,0.25,0.1],"self_bleu":[0.7,0.5,0.35,0.2]}"#,
        ]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
        let plots = training_curves(&recs);
        let names: Vec<&str> = plots.iter().map(|p| p.0).collect();
        assert_eq!(names, ["mle", "adv_nll", "adv_bleu"]);
        let circles = |s: &str| s.matches("<circle").count();
        // Curves are the 2-pixel polylines (plotters draws the grid with polylines too).
        let lines = |s: &str| {
            s.split("<polyline")
                .skip(1)
                .filter(|e| e.split('>').next().unwrap().contains(r#"stroke-width="2""#))
                .count()
        };
        assert_eq!((lines(&plots[0].1), circles(&plots[0].1)), (2, 4));
        assert_eq!((lines(&plots[1].1), circles(&plots[1].1)), (1, 3));
        assert_eq!((lines(&plots[2].1), circles(&plots[2].1)), (2, 4));
        assert!(plots[2].1.contains("Self-BLEU-4") && !plots[0].1.contains("NLL-oracle"));
        assert!(
            !plots[0].1.contains("T="),
            "no temperature labels on training curves"
        );
        assert!(training_curves(&[]).is_empty());
        // Tick labels are round numbers (at most three decimals here), whatever the data.
        let ticks: Vec<f64> = plots[0]
            .1
            .split("<text")
            .filter_map(|t| t.split('>').nth(1)?.split('<').next()?.trim().parse().ok())
            .collect();
        assert!(ticks.len() >= 6, "{ticks:?}");
        for t in ticks {
            assert!(((t * 1000.0).round() - t * 1000.0).abs() < 1e-9, "tick {t}");
        }
    }

    #[test]
    fn renders_svg_and_png() {
        let s = vec![
            Series {
                label: "mle".into(),
                points: vec![(0.9, 0.3, 0.7), (0.8, 0.25, 1.0)],
            },
            Series {
                label: "gan <x>".into(),
                points: vec![(0.95, 0.35, 1.0)],
            },
        ];
        let text = svg(&s, "quality vs diversity", "Self-BLEU-5", "BLEU-5");
        assert!(text.contains("gan &lt;x&gt;") && text.contains("T=0.7"));
        let bytes = png(&text).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.len() > 5000, "{}", bytes.len());
        // Short labels keep the standard canvas; a long one widens it to fit.
        assert!(text.contains(r#"width="720""#));
        let long = vec![Series {
            label: "RelGAN, the paper's schedule".into(),
            points: vec![(0.9, 0.3, 0.7)],
        }];
        let text = svg(&long, "t", "x", "y");
        let w: f64 = text
            .split("width=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(w >= 540.0 + 38.0 + 7.2 * 28.0, "{w}");
    }
}
