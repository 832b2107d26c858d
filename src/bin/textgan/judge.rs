//! `textgan eval`'s metrics that judge texts through a model of other text: MAUVE and FED
//! through a sentence encoder, and the perplexity under an n-gram model.
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use textgan::eval::Report;

#[derive(Args, Debug)]
pub struct JudgeArgs {
    /// The sentence encoder of mauve and fed: `minilm` (all-MiniLM-L6-v2, from `textgan data
    /// get minilm`) or a Hugging Face BERT folder. Values from different encoders are not
    /// comparable.
    #[arg(long, value_name = "minilm|DIR", default_value = "minilm")]
    encoder: String,
    /// MAUVE's buckets (default: round(min(samples, references) / 10), at least 2).
    #[arg(long, value_name = "K")]
    mauve_buckets: Option<usize>,
    /// MAUVE's k-means seed (mauve-text's default 25); values scatter over seeds, so compare
    /// several.
    #[arg(long, value_name = "S", default_value_t = 25)]
    mauve_seed: u64,
    /// The order of ngram-ppl's n-gram model (1 to 9).
    #[arg(long, value_name = "N", default_value_t = 5)]
    ngram_order: usize,
    /// Write ngram-ppl's n-gram model to FILE as an ARPA file (KenLM and SRILM read it).
    #[arg(long, value_name = "FILE")]
    save_arpa: Option<PathBuf>,
}

/// The samples, the references and the training text, where there are some.
pub type Texts<'a> = (&'a [String], Option<&'a [String]>, Option<&'a [String]>);

/// MAUVE, FED and the n-gram perplexity, those of them in `metrics`.
pub fn judge(
    a: &JudgeArgs,
    rep: &mut Report,
    metrics: &[String],
    texts: Texts,
    device: tch::Device,
) -> Result<()> {
    encoded(a, rep, metrics, texts, device)?;
    ngram(a, rep, metrics, texts)
}

/// The n-gram perplexity, when asked for: of the samples under a model of the training text,
/// else of the references.
fn ngram(a: &JudgeArgs, rep: &mut Report, metrics: &[String], texts: Texts) -> Result<()> {
    if !metrics.iter().any(|m| m == "ngram-ppl") {
        return Ok(());
    }
    let (samples, references, train) = texts;
    let (text, what) = match (train, references) {
        (Some(t), _) => (t, "training text"),
        (None, Some(r)) => (r, "references"),
        (None, None) => bail!("ngram-ppl models the training text: give --train FILE (or --references FILE, or --run DIR)"),
    };
    let arpa = a.save_arpa.as_deref();
    textgan::eval::judge::ngram_metric(rep, samples, (text, what), a.ngram_order, arpa)?;
    Ok(())
}

/// MAUVE and FED, when asked for: the samples against the references through `--encoder`.
fn encoded(
    a: &JudgeArgs,
    rep: &mut Report,
    metrics: &[String],
    (samples, references, _): Texts,
    device: tch::Device,
) -> Result<()> {
    let Some(m) = metrics.iter().find(|m| *m == "mauve" || *m == "fed") else {
        return Ok(());
    };
    let Some(refs) = references else {
        bail!("{m} compares the samples with references: give --references FILE or --run DIR");
    };
    let enc = textgan::eval::judge::load_encoder(&a.encoder, device)?;
    let bar = crate::progress::bar((samples.len() + refs.len()) as u64, "encoding");
    let settings = textgan::eval::mauve::MauveSettings {
        buckets: a.mauve_buckets,
        seed: a.mauve_seed,
        ..Default::default()
    };
    textgan::eval::judge::judge_metrics(
        rep,
        metrics,
        (samples, refs),
        &enc,
        &settings,
        &mut |n| bar.inc(n as u64),
    )?;
    bar.finish_and_clear();
    Ok(())
}
