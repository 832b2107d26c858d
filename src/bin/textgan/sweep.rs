//! `textgan sweep`: sample each run at several temperatures and plot quality against diversity
//! (Caccia et al. 2020): BLEU-5 against Self-BLEU-5 on text, NLL-oracle against NLL-test on the
//! oracle benchmark. Several runs share one plot, so a GAN's curve can be held against MLE's.
use crate::eval::{eval_lines, RunContext};
use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::PathBuf;
use textgan::eval::bleu::{self, Interner, ReferenceIndex};
use textgan::eval::plot::{self, Series};

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// Run directory (repeat for several runs on one plot).
    #[arg(long = "run", value_name = "DIR", required = true)]
    pub runs: Vec<PathBuf>,
    /// Legend label per run (default: the directory name).
    #[arg(long = "label", value_name = "NAME")]
    pub labels: Vec<String>,
    /// Comma-separated sampling temperatures.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.5,0.7,0.9,1.0,1.1,1.3",
        allow_negative_numbers = true
    )]
    temperatures: Vec<f64>,
    /// Runs trained on pairs: comma-separated beam widths to translate their test sources
    /// with (temperatures do not apply).
    #[arg(long, value_delimiter = ',', default_value = "1,2,5")]
    pub beams: Vec<i64>,
    /// Samples per run and temperature (runs on pairs: test sources translated).
    #[arg(short = 'n', long = "num", default_value_t = 2000)]
    pub n: usize,
    /// References for BLEU (default: each run's test data).
    #[arg(long, value_name = "FILE")]
    references: Option<PathBuf>,
    /// Output directory for sweep.jsonl, sweep.md and quality_diversity.{svg,png}.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i64,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
    /// Also MAUVE and FED at each temperature, against the first -n references, through
    /// --encoder's sentence features; adds mauve_temperature.{svg,png}.
    #[arg(long)]
    mauve: bool,
    /// The sentence encoder of --mauve: `minilm` (`textgan data get minilm`) or a BERT folder.
    #[arg(long, value_name = "minilm|DIR", default_value = "minilm")]
    encoder: String,
}

pub fn run(a: SweepArgs) -> Result<()> {
    check_temperatures(&a.temperatures)?;
    if a.n < 2 {
        bail!("-n must be at least 2 (Self-BLEU needs other samples)");
    }
    if !a.labels.is_empty() && a.labels.len() != a.runs.len() {
        bail!(
            "give one --label per --run ({} runs, {} labels)",
            a.runs.len(),
            a.labels.len()
        );
    }
    check_out(&a.out)?;
    let device = textgan::device::resolve(&a.device)?;
    let ref_lines = a.references.as_deref().map(eval_lines).transpose()?;
    let ctxs: Vec<RunContext> = a
        .runs
        .iter()
        .map(|d| RunContext::load(d, device))
        .collect::<textgan::Result<_>>()?;
    if let Some(done) = sweep_pairs(&a, &ctxs) {
        return done;
    }
    let oracle = ctxs[0].is_oracle();
    if ctxs.iter().any(|c| c.is_oracle() != oracle) {
        bail!("a sweep plots either oracle runs or text runs, not both");
    }
    let enc = match (a.mauve, oracle) {
        (true, true) => bail!("--mauve judges text; oracle runs have token ids, not sentences"),
        (true, false) => Some(textgan::eval::judge::load_encoder(&a.encoder, device)?),
        (false, _) => None,
    };
    let bar = ProgressBar::new((ctxs.len() * a.temperatures.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:32} {pos}/{len} {msg}").expect("template"),
    );
    let mut rows = Vec::new();
    let mut series = Vec::new();
    let mut grammar_series = Vec::new();
    let mut mauve_series = Vec::new();
    // --references are encoded once for every run; each run's own test data, per run.
    let shared_refs = match (&enc, &ref_lines) {
        (Some(e), Some(r)) => Some(reference_features(e, r, a.n)?),
        _ => None,
    };
    for (i, c) in ctxs.iter().enumerate() {
        let label = label_of(&a, i);
        let first_row = rows.len();
        let refs = ref_lines.as_deref();
        let (points, samples) = sweep_one(&a, c, &label, refs, oracle, &bar, &mut rows)?;
        if let Some(enc) = &enc {
            let q = match &shared_refs {
                Some(q) => q.shallow_clone(),
                None => reference_features(enc, &c.test_lines(), a.n)?,
            };
            let judged = &mut rows[first_row..];
            mauve_series.push(judge_rows(enc, &q, &label, &samples, judged)?);
        }
        if c.grammar.is_some() {
            grammar_series.push(grammar_points(&label, &rows[first_row..]));
        }
        series.push(Series { label, points });
    }
    bar.finish_and_clear();
    make_out(&a.out)?;
    let jsonl: String = rows.iter().map(|r| r.to_string() + "\n").collect();
    textgan::fsutil::write_atomic(&a.out.join("sweep.jsonl"), jsonl.as_bytes())?;
    let table = markdown(&rows, oracle);
    textgan::fsutil::write_atomic(&a.out.join("sweep.md"), table.as_bytes())?;
    write_plots(&a.out, oracle, &series, &mauve_series, &grammar_series)?;
    print!("{table}");
    eprintln!(
        "wrote {}/sweep.jsonl, sweep.md, quality_diversity.svg and .png",
        a.out.display()
    );
    Ok(())
}

/// The quality-diversity plot, and MAUVE by temperature and the grammar's exact plot where
/// there are points for them.
fn write_plots(
    out: &std::path::Path,
    oracle: bool,
    series: &[Series],
    mauve_series: &[Series],
    grammar_series: &[Series],
) -> Result<()> {
    let svg = if oracle {
        plot::svg(
            series,
            "Quality vs diversity (oracle)",
            "NLL-test (lower: covers more of the data)",
            "NLL-oracle (lower: better quality)",
        )
    } else {
        plot::svg(
            series,
            "Quality vs diversity",
            "Self-BLEU-5 (lower: more diverse)",
            "BLEU-5 (higher: better quality)",
        )
    };
    plot::save(&svg, &out.join("quality_diversity"))?;
    if !mauve_series.is_empty() {
        let svg = plot::svg(
            mauve_series,
            "MAUVE by temperature",
            "sampling temperature",
            "MAUVE (higher: closer to the references)",
        );
        plot::save(&svg, &out.join("mauve_temperature"))?;
    }
    if !grammar_series.is_empty() {
        let svg = plot::svg(
            grammar_series,
            "Quality vs coverage (grammar, exact)",
            "NLL-test on fresh grammar sentences (lower: covers more)",
            "grammar NLL of the samples (lower: better quality)",
        );
        plot::save(&svg, &out.join("grammar_quality_coverage"))?;
    }
    Ok(())
}

/// Runs trained on pairs sweep beam widths (`sweep_beam`); None for other runs.
fn sweep_pairs(a: &SweepArgs, ctxs: &[RunContext]) -> Option<Result<()>> {
    let pairs = ctxs.iter().filter(|c| c.corpus.sources.is_some()).count();
    if pairs == 0 {
        return None;
    }
    Some((|| {
        if pairs < ctxs.len() {
            bail!("a sweep compares runs of one kind: runs on pairs (over beam widths) or others (over temperatures)");
        }
        let labels: Vec<String> = (0..ctxs.len()).map(|i| label_of(a, i)).collect();
        crate::sweep_beam::run(a, ctxs, &labels)
    })())
}

/// Each `--temperatures` value passes the sampling options' one check.
pub fn check_temperatures(ts: &[f64]) -> Result<()> {
    if ts.is_empty() {
        bail!("--temperatures: give at least one, e.g. 0.5,0.7,1.0");
    }
    for &temperature in ts {
        textgan::models::Sampling {
            temperature,
            ..Default::default()
        }
        .validate()
        .map_err(|e| anyhow::anyhow!("--temperatures: {e}"))?;
    }
    Ok(())
}

/// `--out` is a new or empty folder (as for `train --out`): a sweep never mixes its files with
/// an earlier one's. Checked before any work; the folder is made only when the results are
/// written ([`make_out`]), so a refused or failed sweep leaves none behind.
pub fn check_out(out: &std::path::Path) -> Result<()> {
    match textgan::fsutil::holds_files(out) {
        Ok(true) => bail!(
            "--out {}: the folder is not empty; give a new or empty folder (results are never mixed with earlier ones)",
            out.display()
        ),
        Ok(false) => Ok(()),
        Err(e) => bail!("--out {}: {e}", out.display()),
    }
}

/// Makes `--out` once the results are ready.
pub fn make_out(out: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| anyhow::anyhow!("--out {}: {e}", out.display()))
}

/// The legend label of run `i`: `--label`, or the directory's name.
fn label_of(a: &SweepArgs, i: usize) -> String {
    a.labels.get(i).cloned().unwrap_or_else(|| {
        a.runs[i]
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| a.runs[i].display().to_string())
    })
}

/// The features of the first `n` non-empty references.
fn reference_features(
    enc: &textgan::eval::encoder::SentenceEncoder,
    refs: &[String],
    n: usize,
) -> Result<tch::Tensor> {
    let mut refs = textgan::eval::judge::nonempty(refs);
    refs.truncate(n);
    Ok(enc.encode(&refs, &mut |_| {})?)
}

/// MAUVE and FED of each temperature's samples (`samples[i]` those of `rows[i]`) against
/// the references' features `q`, into the rows; the MAUVE-by-temperature points.
fn judge_rows(
    enc: &textgan::eval::encoder::SentenceEncoder,
    q: &tch::Tensor,
    label: &str,
    samples: &[Vec<String>],
    rows: &mut [serde_json::Value],
) -> Result<Series> {
    let mut points = Vec::new();
    for (r, lines) in rows.iter_mut().zip(samples) {
        let p = enc.encode(&textgan::eval::judge::nonempty(lines), &mut |_| {})?;
        let settings = textgan::eval::mauve::MauveSettings::default();
        let m = textgan::eval::mauve::mauve(&p, q, &settings)?;
        let t = r["temperature"].as_f64().unwrap_or(f64::NAN);
        r["mauve"] = json!(m.mauve);
        r["mauve_star"] = json!(m.mauve_star);
        r["fed"] = json!(textgan::eval::mauve::fed(&p, q)?);
        r["encoder"] = json!(enc.folder.display().to_string());
        points.push((t, m.mauve, t));
    }
    Ok(Series {
        label: label.to_string(),
        points,
    })
}

/// Exact quality (grammar NLL of the samples) against coverage (NLL-test on fresh grammar
/// sentences), per temperature, from a run's rows.
fn grammar_points(label: &str, rows: &[serde_json::Value]) -> Series {
    let points = rows
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
            (f("nll_test"), f("grammar_nll"), f("temperature"))
        })
        .collect();
    Series {
        label: label.to_string(),
        points,
    }
}

/// A run's plot points, and its samples at each temperature when `--mauve` judges them.
type Swept = (Vec<(f64, f64, f64)>, Vec<Vec<String>>);

/// One run at every temperature: its table rows (appended to `rows`), its plot points and,
/// with `--mauve`, its samples.
fn sweep_one(
    a: &SweepArgs,
    c: &RunContext,
    label: &str,
    ref_lines: Option<&[String]>,
    oracle: bool,
    bar: &ProgressBar,
    rows: &mut Vec<serde_json::Value>,
) -> Result<Swept> {
    let mut int = Interner::new(textgan::eval::bleu::Tokenize::of(c.gen.vocab.tokenizer));
    let refs = match (ref_lines, oracle) {
        (_, true) => None,
        (Some(r), _) => Some(int.tokenize_all(r)?),
        (None, false) => Some(int.tokenize_all(&c.test_lines())?),
    };
    let index = refs.as_ref().map(|r| ReferenceIndex::new(r, 5));
    let (mut points, mut samples) = (Vec::new(), Vec::new());
    for &t in &a.temperatures {
        bar.set_message(format!("{label} T={t}"));
        let ids = c.sample(a.n, t, a.seed);
        let row = if oracle {
            let q = c.nll_oracle(&ids).unwrap_or(f64::NAN);
            let d = c.nll_test(t);
            points.push((d, q, t));
            json!({"run": label, "temperature": t, "nll_oracle": q, "nll_test": d, "samples": a.n})
        } else {
            let lines = c.decode_all(&ids);
            let hyps = int.tokenize_all(&lines)?;
            // Without reference sentences BLEU is not defined: n/a, not 0.
            let b = index
                .as_ref()
                .filter(|_| refs.as_ref().is_some_and(|r| !r.is_empty()))
                .map(|ix| bleu::bleu(&hyps, ix));
            let s = bleu::self_bleu(&hyps, 5);
            points.push((s[4], b.as_ref().map_or(f64::NAN, |b| b[4]), t));
            let b = b.map(|b| b[1..].to_vec());
            let mut row = json!({"run": label, "temperature": t, "bleu": b, "self_bleu": &s[1..], "samples": a.n,
                   "references": refs.as_ref().map(Vec::len)});
            if let Some(g) = &c.grammar {
                let (nll, validity) = g.score(&lines);
                row["grammar_nll"] = json!(nll);
                row["validity"] = json!(validity);
                row["nll_test"] = json!(c.nll_test(t));
            }
            if a.mauve {
                samples.push(lines);
            }
            row
        };
        rows.push(row);
        bar.inc(1);
    }
    Ok((points, samples))
}

fn markdown(rows: &[serde_json::Value], oracle: bool) -> String {
    let f = |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.4}"));
    let mut s = String::new();
    if oracle {
        s += "| run | T | NLL-oracle | NLL-test |\n|---|---|---|---|\n";
        for r in rows {
            s += &format!(
                "| {} | {} | {} | {} |\n",
                r["run"].as_str().unwrap_or(""),
                r["temperature"],
                f(&r["nll_oracle"]),
                f(&r["nll_test"])
            );
        }
    } else {
        let judged = rows.iter().any(|r| r.get("mauve").is_some());
        s += "| run | T | BLEU-2 | BLEU-3 | BLEU-4 | BLEU-5 | Self-BLEU-2 | Self-BLEU-3 | Self-BLEU-4 | Self-BLEU-5 |";
        s += if judged { " MAUVE | FED |\n" } else { "\n" };
        s += "|---|---|---|---|---|---|---|---|---|---|";
        s += if judged { "---|---|\n" } else { "\n" };
        for r in rows {
            s += &format!(
                "| {} | {} |",
                r["run"].as_str().unwrap_or(""),
                r["temperature"]
            );
            for k in ["bleu", "self_bleu"] {
                for i in 0..4 {
                    s += &format!(" {} |", f(&r[k][i]));
                }
            }
            if judged {
                s += &format!(" {} | {} |", f(&r["mauve"]), f(&r["fed"]));
            }
            s += "\n";
        }
    }
    s
}
