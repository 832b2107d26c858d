//! `textgan report`: one self-contained HTML file (no network needed to open it) with each
//! run's config, metrics table, training curves (several runs on one chart), the samples of
//! each evaluation with per-token heatmaps (generator log-probability, and the
//! discriminator's score for adversarial runs), and a sweep's quality-diversity plot.
use crate::error::{Error, Result};
use crate::infer::{Engine, Scoring, Text};
use crate::record::{Metrics, Phase};
use serde_json::Value;
use std::fmt::Write;
use std::path::Path;

/// The records of a run's `metrics.jsonl` (unreadable lines skipped; none without the file).
pub fn records(dir: &Path) -> Vec<Metrics> {
    crate::record::read_records(&dir.join("metrics.jsonl"))
}

/// A run's sample files in training order (MLE evaluations, then adversarial ones) with
/// their lines.
pub fn sample_files(dir: &Path) -> Vec<(String, Vec<String>)> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("samples"))
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".txt"))
                .collect()
        })
        .unwrap_or_default();
    // `step-NNNNNNN` before `adv-NNNNNNN`; each zero-padded, so names order within a phase.
    names.sort_by_key(|n| (n.starts_with("adv-"), n.clone()));
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(dir.join("samples").join(&n)).unwrap_or_default();
            (n, text.lines().map(String::from).collect())
        })
        .collect()
}

/// The last evaluation's samples: its file name and lines.
pub fn latest_samples(dir: &Path) -> Option<(String, Vec<String>)> {
    sample_files(dir).pop()
}

/// HTML-escaped text.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A text's tokens as coloured spans: `data-lp` and `data-d` carry the numbers, the colour
/// shows the log-probability (the page's switch recolours by D).
pub fn heat_spans(t: &Text) -> String {
    let mut s = String::new();
    for k in &t.tokens {
        let v = lp_value(k.logprob);
        let d =
            k.d.map_or(String::new(), |d| format!(r#" data-d="{d:.4}""#));
        let title = match k.d {
            Some(d) => format!("log p = {:.3}, D = {d:.3}", k.logprob),
            None => format!("log p = {:.3}", k.logprob),
        };
        let _ = write!(
            s,
            r#"<span class="tok" data-lp="{:.4}"{d} title="{title}" style="background:{}">{}</span> "#,
            k.logprob,
            colour(v),
            esc(&k.token)
        );
    }
    s
}

/// Log-probability on a 0..1 scale: 0 at -8 nats or below, 1 at 0.
fn lp_value(lp: f64) -> f64 {
    (1.0 + lp / 8.0).clamp(0.0, 1.0)
}

/// Red (0) through yellow to green (1), light enough to read black text on.
fn colour(v: f64) -> String {
    format!("hsl({:.0},75%,78%)", 120.0 * v.clamp(0.0, 1.0))
}

const STYLE: &str = r#"body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.85em;max-height:28em}
.tok{padding:1px 2px;border-radius:3px;line-height:1.9}.sample{margin:.3em 0}
.charts{display:flex;flex-wrap:wrap;gap:1%}.charts svg{width:49%;min-width:420px;height:auto}details{margin:.5em 0}"#;

/// Recolours the tokens by the measure chosen (self-contained: no library, no network).
const SCRIPT: &str = r#"function recolour(by){for(const t of document.querySelectorAll('.tok')){
let v;if(by==='d'){if(t.dataset.d===undefined){t.style.background='#eee';continue}v=+t.dataset.d}
else{v=Math.min(1,Math.max(0,1+(+t.dataset.lp)/8))}t.style.background='hsl('+Math.round(120*v)+',75%,78%)'}}"#;

/// Sample files shown per run at most (spread over training), and lines per file.
const FILES: usize = 8;
const LINES: usize = 6;

/// The report of `runs` (name, directory, loaded run), with a sweep's plot when given.
pub fn build(runs: &[(String, &Path, &Engine)], sweep: Option<&Path>) -> Result<String> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>textgan report</title><style>{STYLE}</style><script>{SCRIPT}</script></head><body><h1>textgan report</h1>"
    );
    let names: Vec<String> = runs.iter().map(|r| esc(&r.0)).collect();
    let _ = write!(
        h,
        "<p>Runs: {}. Token colours: <label><input type=radio name=by checked onchange=\"recolour('lp')\"> generator log-probability</label> <label><input type=radio name=by onchange=\"recolour('d')\"> discriminator's score (adversarial runs)</label>; green is likely or judged real, red unlikely or judged fake; hover a token for its numbers.</p>",
        names.join(", ")
    );
    curves(&mut h, runs);
    if let Some(dir) = sweep {
        let path = super::sweep_plot(dir).ok_or_else(|| {
            Error::Eval(format!(
                "--sweep {}: no quality_diversity.svg or beam_sweep.svg (is it a `textgan sweep` output directory?)",
                dir.display()
            ))
        })?;
        let svg = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let title = match path.ends_with(super::SWEEP_PLOTS[0]) {
            true => "Quality and diversity (sweep)",
            false => "Beam width (sweep)",
        };
        let _ = write!(h, "<h2>{title}</h2><div class=charts>{svg}</div>");
        // `sweep --mauve`: MAUVE by temperature beside it.
        if let Ok(svg) = std::fs::read_to_string(dir.join("mauve_temperature.svg")) {
            let _ = write!(
                h,
                "<h2>MAUVE by temperature (sweep)</h2><div class=charts>{svg}</div>"
            );
        }
        if let Ok(t) = std::fs::read_to_string(dir.join("sweep.md")) {
            let _ = write!(h, "<pre>{}</pre>", esc(&t));
        }
    }
    for (name, dir, engine) in runs {
        run_section(&mut h, name, dir, engine)?;
    }
    h.push_str("</body></html>\n");
    Ok(h)
}

/// Every training plot with values, each over all runs.
fn curves(h: &mut String, runs: &[(String, &Path, &Engine)]) {
    let recs: Vec<(String, Vec<Metrics>)> = runs
        .iter()
        .map(|(n, d, _)| (n.clone(), records(d)))
        .collect();
    h.push_str("<h2>Training curves</h2><div class=charts>");
    for (stem, _) in crate::eval::plot::training_plot_names() {
        if let Some(svg) = crate::eval::plot::compare_runs(&recs, stem) {
            h.push_str(&svg);
        }
    }
    h.push_str("</div>");
}

/// A run: its metrics table, config and evaluated samples with heatmaps.
fn run_section(h: &mut String, name: &str, dir: &Path, engine: &Engine) -> Result<()> {
    let _ = write!(h, "<h2>Run {}</h2>", esc(name));
    let recs = records(dir);
    metrics_table(h, &recs);
    let files = sample_files(dir);
    let every = files.len().div_ceil(FILES).max(1);
    let shown: Vec<&(String, Vec<String>)> = files
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0 || *i + 1 == files.len())
        .map(|(_, f)| f)
        .collect();
    let _ = write!(h, "<h3>Samples at each evaluation</h3>");
    for (file, lines) in shown {
        let _ = write!(h, "<details open><summary>{}</summary>", esc(file));
        for line in lines.iter().take(LINES) {
            h.push_str(&sample_html(engine, line));
        }
        h.push_str("</details>");
    }
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap_or_default();
    let _ = write!(h, "<h3>Config</h3><pre>{}</pre>", esc(&config));
    Ok(())
}

/// A sample line with its heatmap; plain when it cannot be scored (a run on pairs, whose
/// lines lack their sources, or a line longer than the run's texts).
fn sample_html(engine: &Engine, line: &str) -> String {
    let labels = &engine.gen.vocab.labels;
    let (label, text) = match line.split_once('\t') {
        Some((l, t)) if labels.iter().any(|x| x == l) => (Some(l.to_string()), t),
        _ => (None, line),
    };
    let req = Scoring {
        texts: vec![text.to_string()],
        label: label.clone(),
        source: None,
        discriminator: engine.has_discriminator(),
        top_logprobs: 0,
        run: None,
    };
    let prefix = label.map_or(String::new(), |l| format!("<b>{}</b> ", esc(&l)));
    if text.trim().is_empty() {
        return format!(
            "<div class=sample>{prefix}<i>(an empty text: the model ended at once)</i></div>"
        );
    }
    match engine.score(&req) {
        Ok(t) if !t.is_empty() => format!(
            "<div class=sample>{prefix}{} <small>(NLL {:.2}{})</small></div>",
            heat_spans(&t[0]),
            t[0].nll,
            t[0].d.map_or(String::new(), |d| format!(", D {d:.2}"))
        ),
        _ => format!("<div class=sample>{prefix}{}</div>", esc(text)),
    }
}

/// The last record of each phase, as a table of its numbers.
fn metrics_table(h: &mut String, recs: &[Metrics]) {
    let last = |phase: Phase| recs.iter().rev().find(|r| r.phase == phase);
    // Every field of the record, as its line has them.
    let row = |m: &Metrics| serde_json::to_value(m).unwrap_or_default();
    let cols: Vec<(&str, Value)> = [("MLE", last(Phase::Mle)), ("adversarial", last(Phase::Adv))]
        .into_iter()
        .filter_map(|(n, r)| Some((n, row(r?))))
        .collect();
    if cols.is_empty() {
        h.push_str("<p>No evaluations recorded yet.</p>");
        return;
    }
    let mut keys: Vec<&String> = Vec::new();
    for (_, r) in &cols {
        for k in r.as_object().into_iter().flat_map(|o| o.keys()) {
            if k != "samples" && k != "phase" && !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    h.push_str("<h3>Metrics (last evaluation of each phase)</h3><table><tr><th>metric</th>");
    for (n, _) in &cols {
        let _ = write!(h, "<th>{n}</th>");
    }
    h.push_str("</tr>");
    for k in keys {
        let _ = write!(h, "<tr><td>{}</td>", esc(k));
        for (_, r) in &cols {
            let _ = write!(h, "<td>{}</td>", cell(&r[k.as_str()]));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() != 0.0 => format!("{f:.4}"),
            _ => n.to_string(),
        },
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => esc(&other.to_string()),
    }
}
