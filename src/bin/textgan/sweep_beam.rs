//! `textgan sweep` over runs trained on pairs: beam widths instead of temperatures. Each run
//! translates the first `-n` test sources at every `--beams` width; sacreBLEU and chrF against
//! their references, the mean output length, a table and a plot of sacreBLEU by beam width.
use crate::eval::RunContext;
use crate::sweep::SweepArgs;
use anyhow::{bail, Result};
use serde_json::json;
use textgan::eval::plot::{self, Series};
use textgan::eval::sacrebleu::{corpus_bleu, corpus_chrf};
use textgan::run::{Decode, Translator};

pub fn run(a: &SweepArgs, ctxs: &[RunContext], labels: &[String]) -> Result<()> {
    if a.beams.iter().any(|&b| !(1..=256).contains(&b)) {
        bail!("--beams must be widths in 1..=256, e.g. 1,2,5");
    }
    let mut rows = Vec::new();
    let mut series = Vec::new();
    for (c, label) in ctxs.iter().zip(labels) {
        let src = &c
            .corpus
            .sources
            .as_ref()
            .expect("checked: a run on pairs")
            .test;
        let n = a.n.min(src.len());
        let refs = [c.corpus.test_text[..n].to_vec()];
        let tr = Translator::new(&c.gen)?;
        let mut points = Vec::new();
        for &w in &a.beams {
            let how = Decode::search(w, 1.0);
            let hyps = tr.translate(&src[..n], &how, 0, 64);
            let (b, ch) = (corpus_bleu(&hyps, &refs), corpus_chrf(&hyps, &refs));
            let len = hyps
                .iter()
                .map(|h| h.split_whitespace().count())
                .sum::<usize>() as f64
                / n as f64;
            points.push((w as f64, b.score, w as f64));
            rows.push(json!({"run": label, "beam": w, "sacrebleu": b.score, "chrf": ch, "length": len, "sources": n}));
        }
        series.push(Series {
            label: label.clone(),
            points,
        });
    }
    crate::sweep::make_out(&a.out)?;
    let jsonl: String = rows.iter().map(|r| r.to_string() + "\n").collect();
    textgan::fsutil::write_atomic(&a.out.join("sweep.jsonl"), jsonl.as_bytes())?;
    let mut table =
        "| run | beam | sacreBLEU | chrF | length |\n|---|---|---|---|---|\n".to_string();
    for r in &rows {
        let f = |k: &str| r[k].as_f64().map_or("-".into(), |x| format!("{x:.2}"));
        table += &format!(
            "| {} | {} | {} | {} | {} |\n",
            r["run"].as_str().unwrap_or(""),
            r["beam"],
            f("sacrebleu"),
            f("chrf"),
            f("length")
        );
    }
    textgan::fsutil::write_atomic(&a.out.join("sweep.md"), table.as_bytes())?;
    let svg = plot::svg(
        &series,
        "sacreBLEU by beam width",
        "beam width",
        "sacreBLEU",
    );
    plot::save(&svg, &a.out.join("beam_sweep"))?;
    print!("{table}");
    eprintln!(
        "wrote {}/sweep.jsonl, sweep.md, beam_sweep.svg and .png",
        a.out.display()
    );
    Ok(())
}
