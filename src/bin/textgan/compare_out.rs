//! What `textgan compare` writes: compare.jsonl (a row per baseline point and per candidate
//! and temperature), compare.md (the table with the verdicts) and compare.{svg,png} (each
//! candidate's advantage by temperature with its interval).
use anyhow::Result;
use serde_json::json;
use std::path::Path;
use textgan::eval::compare::{advantage, verdict, Better, Interval, Verdict};
use textgan::eval::plot_intervals::{self, IntervalSeries};

/// The mean of the finite values (NaN when none).
fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.filter(|x| x.is_finite()).collect();
    match v.len() {
        0 => f64::NAN,
        n => v.iter().sum::<f64>() / n as f64,
    }
}

fn f4(x: f64) -> String {
    match x.is_finite() {
        true => format!("{x:.4}"),
        false => "-".into(),
    }
}

/// "+0.0123 [+0.0051, +0.0195]".
fn shown(iv: Option<Interval>) -> String {
    match iv {
        None => "-".into(),
        Some(i) if i.lo.is_nan() => format!("{:+.4}", i.mean),
        Some(i) => format!("{:+.4} [{:+.4}, {:+.4}]", i.mean, i.lo, i.hi),
    }
}

/// The results, as the three files, and the table on standard output.
#[allow(clippy::too_many_arguments)]
pub fn write(
    out: &Path,
    (cov, qual, better): (&str, &str, Better),
    temps: &[f64],
    labels: &[String],
    curves: &[Vec<(f64, f64)>],
    points: &[Vec<Vec<(f64, f64)>>],
    ms: &[f64],
    seeds: usize,
) -> Result<()> {
    let mut rows = Vec::new();
    for (ti, &t) in temps.iter().enumerate() {
        let c = mean(curves.iter().map(|c| c[ti].0));
        let q = mean(curves.iter().map(|c| c[ti].1));
        rows.push(
            json!({"candidate": "baseline", "temperature": t, "coverage": c, "quality": q,
            "ms_per_text": ms[0]}),
        );
    }
    let sense = match better {
        Better::Higher => "higher",
        Better::Lower | Better::Neither => "lower",
    };
    let plural = if seeds == 1 { "" } else { "s" };
    let mut md = format!(
        "Quality ({qual}, {sense} is better) against MLE's at the same coverage ({cov}), read off MLE's temperature curve; \
         advantage > 0 is better than MLE; 95% t interval over {seeds} seed{plural}.\n\n\
         | run | T | {cov} | {qual} | advantage [95% CI] | verdict |\n|---|---|---|---|---|---|\n"
    );
    let mut series = Vec::new();
    let mut summary = String::new();
    for (ci, label) in labels.iter().enumerate() {
        let judged = judge(
            label,
            temps,
            curves,
            &points[ci],
            better,
            &mut md,
            &mut rows,
        );
        let above: Vec<String> = judged
            .iter()
            .filter(|(_, v)| *v == Verdict::Above)
            .map(|(p, _)| p.0.to_string())
            .collect();
        summary += &format!(
            "- {label}: above MLE's curve at {} of {} temperatures{}; {:.3} ms a text to decode (the baseline's sampling: {:.3})\n",
            above.len(),
            temps.len(),
            match above.is_empty() {
                true => String::new(),
                false => format!(" (T = {})", above.join(", ")),
            },
            ms[ci + 1],
            ms[0]
        );
        let points = judged.into_iter().map(|(p, _)| p).collect();
        series.push(IntervalSeries {
            label: label.clone(),
            points,
        });
    }
    md += "\n";
    md += &summary;
    crate::sweep::make_out(out)?;
    let jsonl: String = rows.iter().map(|r| r.to_string() + "\n").collect();
    textgan::fsutil::write_atomic(&out.join("compare.jsonl"), jsonl.as_bytes())?;
    textgan::fsutil::write_atomic(&out.join("compare.md"), md.as_bytes())?;
    let svg = plot_intervals::svg(
        &series,
        &format!("{qual} against MLE at equal {cov}"),
        "sampling temperature",
        &format!("advantage over MLE in {qual} (> 0: better)"),
    );
    textgan::eval::plot::save(&svg, &out.join("compare"))?;
    print!("{md}");
    eprintln!(
        "wrote {}/compare.jsonl, compare.md, compare.svg and .png",
        out.display()
    );
    Ok(())
}

/// One candidate at every temperature: its table lines and JSON rows, and its (temperature,
/// mean, low, high) advantage points with their verdicts.
fn judge(
    label: &str,
    temps: &[f64],
    curves: &[Vec<(f64, f64)>],
    points: &[Vec<(f64, f64)>],
    better: Better,
    md: &mut String,
    rows: &mut Vec<serde_json::Value>,
) -> Vec<((f64, f64, f64, f64), Verdict)> {
    let mut out = Vec::new();
    for (ti, &t) in temps.iter().enumerate() {
        let per = &points[ti];
        let adv: Vec<Option<f64>> = per
            .iter()
            .zip(curves)
            .map(|(&p, curve)| advantage(curve, p, better))
            .collect();
        let (v, iv) = verdict(&adv);
        let (c, q) = (mean(per.iter().map(|p| p.0)), mean(per.iter().map(|p| p.1)));
        *md += &format!(
            "| {label} | {t} | {} | {} | {} | {} |\n",
            f4(c),
            f4(q),
            match v {
                Verdict::Outside => format!(
                    "- (MLE's curve reaches {} of {} seeds)",
                    adv.iter().flatten().count(),
                    adv.len()
                ),
                _ => shown(iv),
            },
            v.name()
        );
        // An advantage outside the curve is not drawn.
        let (m, lo, hi) = match (v, iv) {
            (Verdict::Outside, _) | (_, None) => (f64::NAN, f64::NAN, f64::NAN),
            (_, Some(i)) => (i.mean, i.lo, i.hi),
        };
        out.push(((t, m, lo, hi), v));
        let per_seed: Vec<serde_json::Value> = per
            .iter()
            .zip(&adv)
            .map(|(p, a)| json!({"coverage": p.0, "quality": p.1, "advantage": a}))
            .collect();
        rows.push(
            json!({"candidate": label, "temperature": t, "coverage": c, "quality": q,
            "advantage": iv, "verdict": v, "per_seed": per_seed}),
        );
    }
    out
}
