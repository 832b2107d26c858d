//! Quality-diversity plots as SVG and PNG (rendered with resvg and the bundled DejaVu Sans, so no
//! system fonts are needed).
use crate::error::{Error, Result};
use std::fmt::Write;
use std::path::Path;

/// One curve: a run's points at several temperatures.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    /// (x, y, temperature); a NaN temperature draws the point without a label.
    pub points: Vec<(f64, f64, f64)>,
}

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
const W: f64 = 720.0;
const H: f64 = 520.0;
const L: f64 = 80.0; // margins: left, right (legend), top, bottom
const R: f64 = 180.0;
const T: f64 = 50.0;
const B: f64 = 60.0;

fn nice_range(vals: impl Iterator<Item = f64>) -> (f64, f64) {
    let v: Vec<f64> = vals.filter(|x| x.is_finite()).collect();
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-3);
    (lo - pad, hi + pad)
}

/// An SVG line-and-point plot of `series`, points labelled with their temperature.
pub fn svg(series: &[Series], title: &str, x_label: &str, y_label: &str) -> String {
    let ax = Axes {
        x: nice_range(series.iter().flat_map(|s| s.points.iter().map(|p| p.0))),
        y: nice_range(series.iter().flat_map(|s| s.points.iter().map(|p| p.1))),
    };
    // The canvas widens to the right for long legend labels (about 7.2 px a character at 12 px
    // DejaVu Sans), so none is cut off; the plot itself keeps its size.
    let longest = series
        .iter()
        .map(|s| s.label.chars().count())
        .max()
        .unwrap_or(0);
    let wt = W + (38.0 + 7.2 * longest as f64 + 10.0 - R).max(0.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{wt}" height="{H}" viewBox="0 0 {wt} {H}" font-family="DejaVu Sans" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{wt}" height="{H}" fill="white"/>"#);
    frame(&mut s, &ax, title, x_label, y_label);
    for (i, ser) in series.iter().enumerate() {
        marks(&mut s, &ax, ser, i);
    }
    s.push_str("</svg>\n");
    s
}

/// The data ranges and their mapping to the canvas.
struct Axes {
    x: (f64, f64),
    y: (f64, f64),
}

impl Axes {
    fn px(&self, x: f64) -> f64 {
        L + (x - self.x.0) / (self.x.1 - self.x.0) * (W - L - R)
    }

    fn py(&self, y: f64) -> f64 {
        H - B - (y - self.y.0) / (self.y.1 - self.y.0) * (H - T - B)
    }
}

/// Title, plot box, grid with tick labels, axis labels.
fn frame(s: &mut String, ax: &Axes, title: &str, x_label: &str, y_label: &str) {
    let _ = write!(
        s,
        r#"<text x="{}" y="28" font-size="16" text-anchor="middle">{}</text>"#,
        (L + W - R) / 2.0,
        esc(title)
    );
    let _ = write!(
        s,
        r##"<rect x="{L}" y="{T}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
        W - L - R,
        H - T - B
    );
    for i in 0..=5 {
        let fx = ax.x.0 + (ax.x.1 - ax.x.0) * i as f64 / 5.0;
        let fy = ax.y.0 + (ax.y.1 - ax.y.0) * i as f64 / 5.0;
        let (x, y) = (ax.px(fx), ax.py(fy));
        let _ = write!(
            s,
            r##"<line x1="{x}" y1="{T}" x2="{x}" y2="{}" stroke="#ddd"/>"##,
            H - B
        );
        let _ = write!(
            s,
            r##"<line x1="{L}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/>"##,
            W - R
        );
        let _ = write!(
            s,
            r#"<text x="{x}" y="{}" text-anchor="middle">{fx:.3}</text>"#,
            H - B + 18.0
        );
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{fy:.3}</text>"#,
            L - 6.0,
            y + 4.0
        );
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (L + W - R) / 2.0,
        H - 15.0,
        esc(x_label)
    );
    let _ = write!(
        s,
        r#"<text x="20" y="{0}" text-anchor="middle" transform="rotate(-90 20 {0})">{1}</text>"#,
        (T + H - B) / 2.0,
        esc(y_label)
    );
}

/// One series: its line, its points (with their temperatures), its legend entry.
fn marks(s: &mut String, ax: &Axes, ser: &Series, i: usize) {
    let c = COLORS[i % COLORS.len()];
    let finite: Vec<&(f64, f64, f64)> = ser
        .points
        .iter()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    let pts: Vec<String> = finite
        .iter()
        .map(|p| format!("{:.1},{:.1}", ax.px(p.0), ax.py(p.1)))
        .collect();
    let _ = write!(
        s,
        r#"<polyline points="{}" fill="none" stroke="{c}" stroke-width="2"/>"#,
        pts.join(" ")
    );
    for &&(x, y, t) in &finite {
        let (x, y) = (ax.px(x), ax.py(y));
        let _ = write!(s, r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{c}"/>"#);
        if t.is_finite() {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#555">T={t}</text>"##,
                x + 6.0,
                y - 6.0
            );
        }
    }
    let ly = T + 10.0 + 20.0 * i as f64;
    let _ = write!(
        s,
        r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{c}" stroke-width="3"/>"#,
        W - R + 12.0,
        W - R + 32.0
    );
    let _ = write!(
        s,
        r#"<text x="{}" y="{}">{}</text>"#,
        W - R + 38.0,
        ly + 4.0,
        esc(&ser.label)
    );
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A run's training curves from its `metrics.jsonl` records, as (file stem, SVG) pairs:
/// `mle` (train loss, test NLL and NLL-oracle by step) and, once the adversarial phase has
/// begun, `adv_nll` (test NLL, NLL-oracle) and `adv_bleu` (BLEU-4, Self-BLEU-4) by adversarial
/// step. Curves with no values are left out, and plots with no curves.
pub fn training_curves(records: &[serde_json::Value]) -> Vec<(&'static str, String)> {
    let curve = |&(phase, x, label, get): &Curve| {
        let value = |m: &serde_json::Value| match get {
            Get::Key(k) => m[k].as_f64(),
            Get::Fourth(k) => m[k][2].as_f64(),
        };
        let points: Vec<(f64, f64, f64)> = records
            .iter()
            .filter(|m| m["phase"] == phase)
            .filter_map(|m| Some((m[x].as_f64()?, value(m)?, f64::NAN)))
            .collect();
        (!points.is_empty()).then(|| Series {
            label: label.into(),
            points,
        })
    };
    PLOTS
        .iter()
        .filter_map(|(stem, title, x, y, curves)| {
            let series: Vec<Series> = curves.iter().filter_map(curve).collect();
            (!series.is_empty()).then(|| (*stem, svg(&series, title, x, y)))
        })
        .collect()
}

/// How a curve reads a record: a number, or the fourth of a list (BLEU-4 of BLEU-2..5).
#[derive(Clone, Copy)]
enum Get {
    Key(&'static str),
    Fourth(&'static str),
}

/// (phase, x key, label, y value).
type Curve = (&'static str, &'static str, &'static str, Get);

/// The training plots: (file stem, title, x label, y label, curves).
const PLOTS: &[(&str, &str, &str, &str, &[Curve])] = &[
    (
        "mle",
        "MLE training",
        "step",
        "nats per token",
        &[
            ("mle", "step", "train loss", Get::Key("train_loss")),
            ("mle", "step", "test NLL", Get::Key("test_nll")),
            ("mle", "step", "NLL-oracle", Get::Key("nll_oracle")),
            (
                "mle",
                "step",
                "grammar NLL of samples",
                Get::Key("grammar_nll"),
            ),
        ],
    ),
    (
        "mle_scores",
        "MLE training: quality and diversity",
        "step",
        "score",
        &[
            ("mle", "step", "BLEU-4", Get::Fourth("bleu")),
            ("mle", "step", "Self-BLEU-4", Get::Fourth("self_bleu")),
            ("mle", "step", "validity", Get::Key("validity")),
        ],
    ),
    (
        "adv_nll",
        "Adversarial phase: likelihood",
        "adversarial step",
        "nats per token",
        &[
            ("adv", "adv_step", "test NLL", Get::Key("test_nll")),
            ("adv", "adv_step", "NLL-oracle", Get::Key("nll_oracle")),
            (
                "adv",
                "adv_step",
                "grammar NLL of samples",
                Get::Key("grammar_nll"),
            ),
        ],
    ),
    (
        "adv_bleu",
        "Adversarial phase: quality and diversity",
        "adversarial step",
        "score",
        &[
            ("adv", "adv_step", "BLEU-4", Get::Fourth("bleu")),
            ("adv", "adv_step", "Self-BLEU-4", Get::Fourth("self_bleu")),
            ("adv", "adv_step", "validity", Get::Key("validity")),
        ],
    ),
    (
        "guard",
        "Divergence guard: skipped steps (per evaluation) and rollbacks",
        "step (MLE) or adversarial step",
        "count",
        &[
            ("mle", "step", "skipped, MLE", Get::Key("skipped_steps")),
            ("mle", "step", "rollbacks, MLE", Get::Key("rollbacks")),
            (
                "adv",
                "adv_step",
                "skipped, adversarial",
                Get::Key("skipped_steps"),
            ),
            (
                "adv",
                "adv_step",
                "rollbacks, adversarial",
                Get::Key("rollbacks"),
            ),
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
        let recs: Vec<serde_json::Value> = [
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
        let lines = |s: &str| s.matches("<polyline").count();
        assert_eq!((lines(&plots[0].1), circles(&plots[0].1)), (2, 4));
        assert_eq!((lines(&plots[1].1), circles(&plots[1].1)), (1, 3));
        assert_eq!((lines(&plots[2].1), circles(&plots[2].1)), (2, 4));
        assert!(plots[2].1.contains("Self-BLEU-4") && !plots[0].1.contains("NLL-oracle"));
        assert!(
            !plots[0].1.contains("T="),
            "no temperature labels on training curves"
        );
        assert!(training_curves(&[]).is_empty());
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
