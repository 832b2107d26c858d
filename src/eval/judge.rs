//! The metrics that judge texts through a model of other text: MAUVE (with MAUVE*) and FED of
//! samples against references through a sentence encoder's features, and the perplexity of
//! samples under an n-gram model of the training text, as `eval --metrics mauve,fed,ngram-ppl`
//! reports them.
use super::encoder::SentenceEncoder;
use super::mauve::{fed, mauve, MauveSettings, MAUVE_MEANINGFUL};
use super::Report;
use crate::error::{Error, Result};
use std::path::Path;
use tch::Device;

/// The encoder `name` names: `minilm` (all-MiniLM-L6-v2 in the data directory, fetched by
/// `textgan data get minilm`) or a BERT-family folder.
pub fn load_encoder(name: &str, device: Device) -> Result<SentenceEncoder> {
    let dir = match name {
        "minilm" => crate::datasets::set("minilm")?.locate()?,
        folder => {
            let p = Path::new(folder);
            if !p.is_dir() {
                return Err(Error::Config(format!(
                    "--encoder {folder}: neither `minilm` nor a folder (a Hugging Face BERT folder: config.json, model.safetensors, tokenizer.json)"
                )));
            }
            p.to_path_buf()
        }
    };
    SentenceEncoder::load(&dir, device)
}

/// The texts MAUVE and FED judge: the non-empty ones (mauve-text drops empty texts).
pub fn nonempty(texts: &[String]) -> Vec<String> {
    texts
        .iter()
        .filter(|s| !s.trim().is_empty())
        .cloned()
        .collect()
}

/// MAUVE, MAUVE* and FED (those of them in `metrics`) of `samples` against `references`,
/// through `enc`; `progress` hears of each batch of texts encoded.
pub fn judge_metrics(
    rep: &mut Report,
    metrics: &[String],
    (samples, references): (&[String], &[String]),
    enc: &SentenceEncoder,
    settings: &MauveSettings,
    progress: &mut dyn FnMut(usize),
) -> Result<()> {
    let (want_mauve, want_fed) = (
        metrics.iter().any(|m| m == "mauve"),
        metrics.iter().any(|m| m == "fed"),
    );
    if !want_mauve && !want_fed {
        return Ok(());
    }
    let (p_text, q_text) = (nonempty(samples), nonempty(references));
    let p = enc.encode(&p_text, progress)?;
    let q = enc.encode(&q_text, progress)?;
    let who = format!("encoder {}", enc.folder.display());
    if want_mauve {
        let t0 = std::time::Instant::now();
        let m = mauve(&p, &q, settings)?;
        let secs = t0.elapsed().as_secs_f64();
        let few = match p_text.len().min(q_text.len()) < MAUVE_MEANINGFUL {
            true => "; few texts: biased upwards, compare only at equal sizes",
            false => "",
        };
        let how = format!(
            "MAUVE as mauve-text 0.4.0 ({} vs {} texts, {} buckets, PCA {} dims, c = {}, seed {}; {secs:.2} s), {who}{few}",
            p_text.len(),
            q_text.len(),
            m.buckets,
            m.pca_dims,
            settings.scaling,
            settings.seed
        );
        rep.push("mauve", m.mauve, how.clone());
        rep.push(
            "mauve-star",
            m.mauve_star,
            format!("{how}; KT-smoothed histograms"),
        );
        rep.push("frontier-integral", m.frontier_integral, how);
    }
    if want_fed {
        let value = fed(&p, &q)?;
        let how = format!(
            "Frechet distance of the features' Gaussians ({} vs {} texts), {who}; comparable only with the same encoder and sizes",
            p_text.len(),
            q_text.len()
        );
        rep.push("fed", value, how);
    }
    Ok(())
}

/// The per-token perplexity of `samples` under an order-`order` modified Kneser-Ney model of
/// `text` (`what` names it), reported as `ngram-ppl`; the model is written to `arpa` as an
/// ARPA file when given.
pub fn ngram_metric(
    rep: &mut Report,
    samples: &[String],
    (text, what): (&[String], &str),
    order: usize,
    arpa: Option<&Path>,
) -> Result<()> {
    let lm = super::ngram::NgramLm::estimate(text, order)?;
    if let Some(p) = arpa {
        crate::fsutil::write_atomic(p, lm.to_arpa().as_bytes())?;
    }
    let fallback = match lm.discounts.iter().any(|d| d.1) {
        true => "; discount fallback 0.5/1/1.5 at some order (too few singletons or doubletons)",
        false => "",
    };
    let how = format!(
        "interpolated modified Kneser-Ney (KenLM lmplz), order {order}, of the {what} ({} lines, n-grams {:?}); whitespace tokens, </s> counted{fallback}",
        text.len(),
        lm.sizes()
    );
    rep.push("ngram-ppl", lm.perplexity(samples), how);
    Ok(())
}
