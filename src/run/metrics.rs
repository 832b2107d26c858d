//! The model-based metrics of `textgan eval` (NLLs, NLL-oracle, LM scores), each with its
//! protocol, beside the text metrics of [`crate::eval::report`].
use super::RunContext;
use crate::error::{Error, Result};
use crate::eval::{lm, Report};
use std::path::Path;
use tch::Device;

/// What the model-based metrics are computed from.
pub struct ModelInputs<'a> {
    /// The run whose generator is scored.
    pub run: Option<&'a RunContext>,
    /// The samples as text, and as ids in the run's vocabulary where they are.
    pub samples: &'a [String],
    pub sample_ids: Option<&'a [Vec<i64>]>,
    /// An MLE run on real data (LM score, reverse-LM score), and its directory.
    pub lm: Option<(&'a RunContext, &'a Path)>,
    /// Epochs of training of the reverse language model on the samples.
    pub reverse_epochs: usize,
    pub device: Device,
}

/// Every metric the inputs allow, in the report's order.
pub fn default_metrics(
    references: bool,
    train: bool,
    run: bool,
    oracle: bool,
    grammar: bool,
    lm: bool,
) -> Vec<String> {
    use crate::eval::Metric as M;
    let mut m: Vec<M> = Vec::new();
    if references {
        m.push(M::Bleu);
    }
    m.extend([M::SelfBleu, M::Distinct, M::Length]);
    if train {
        m.push(M::Copied);
    }
    if run {
        m.extend([M::NllTest, M::NllTrain]);
    }
    if oracle {
        m.push(M::NllOracle);
    }
    if grammar {
        m.extend([M::GrammarNll, M::Validity]);
    }
    if lm {
        m.extend([M::LmScore, M::ReverseLm]);
    }
    m.into_iter().map(|m| m.name().to_string()).collect()
}

/// Computes the model-based metrics among `metrics` into `rep` (the text metrics are
/// [`report::text_metrics`]'s).
pub fn model_metrics(rep: &mut Report, metrics: &[String], inp: &ModelInputs) -> Result<()> {
    for m in metrics {
        let need_run = || {
            inp.run.ok_or_else(|| {
                Error::Eval(format!("{m} needs a trained run to score"))
                    .with_fix(crate::error::Fix::GiveRun)
            })
        };
        match m.as_str() {
            "nll-test" => {
                let c = need_run()?;
                let proto = format!(
                    "generator NLL per token (nats, <eos> counted) on {} test sequences",
                    c.corpus.test.len()
                );
                rep.push(m, c.nll_test(1.0), proto);
            }
            "nll-train" => {
                let c = need_run()?;
                let v = c.nll_train(1.0);
                let proto = format!("generator NLL per token on the {} training sequences (what older toolkits call NLL-gen)", c.corpus.train.len());
                rep.push(m, v, proto);
            }
            "nll-oracle" => {
                let c = need_run()?;
                let ids = inp.sample_ids.ok_or_else(|| {
                    Error::Eval("nll-oracle needs samples in the run's vocabulary".into())
                })?;
                let v = c.nll_oracle(ids).ok_or_else(|| {
                    Error::Eval("nll-oracle needs an oracle run and fixed-length samples".into())
                })?;
                let proto = format!(
                    "oracle NLL per token of {} generated sequences (SeqGAN protocol)",
                    ids.len()
                );
                rep.push(m, v, proto);
            }
            "grammar-nll" | "validity" => {
                let g = need_run()?.grammar.as_ref().ok_or_else(|| {
                    Error::Eval(format!(
                        "{m} needs a run trained on a grammar (data.source = \"grammar\")"
                    ))
                })?;
                let (nll, validity) = g.score(inp.samples);
                if m == "validity" {
                    let proto = format!(
                        "fraction of {} samples the run's grammar derives (inside algorithm)",
                        inp.samples.len()
                    );
                    rep.push(m, validity, proto);
                } else {
                    let proto = format!("mean over the samples the grammar derives of -log P(sample) / (words + 1), the end counted as NLL-test counts <eos>; {:.1}% of {} samples", validity * 100.0, inp.samples.len());
                    rep.push(m, nll.unwrap_or(f64::NAN), proto);
                }
            }
            "lm-score" | "reverse-lm" => lm_metric(rep, m, inp)?,
            _ => {}
        }
    }
    Ok(())
}

/// LM score (the samples under a real-data LM) or reverse-LM score (the real test data under
/// an LM of the same kind trained on the samples).
fn lm_metric(rep: &mut Report, m: &str, inp: &ModelInputs) -> Result<()> {
    let (lm_ctx, lm_dir) = inp
        .lm
        .ok_or_else(|| Error::Eval(format!("{m} needs a language model trained on real data")))?;
    let v = &lm_ctx.gen.vocab;
    let encoded: Vec<Vec<i64>> = inp
        .samples
        .iter()
        .map(|s| v.encode(s))
        .collect::<Result<_>>()?;
    if m == "lm-score" {
        let proto = format!(
            "NLL per token of {} samples under the LM of {}",
            inp.samples.len(),
            lm_dir.display()
        );
        rep.push(m, lm::lm_score(&lm_ctx.gen.model, v, &encoded), proto);
        return Ok(());
    }
    let non_empty: Vec<Vec<i64>> = encoded.into_iter().filter(|s| !s.is_empty()).collect();
    let cfg = &lm_ctx.gen.config;
    let fit = lm::FitSettings {
        batch_size: cfg.train.batch_size as usize,
        lr: cfg.train.lr,
        grad_clip: cfg.train.grad_clip,
        seed: cfg.train.seed,
        adam: cfg.train.adam(),
        epochs: inp.reverse_epochs,
    };
    let model = lm::fit_lm(
        &cfg.generator,
        &fit,
        v,
        lm_ctx.gen.max_len,
        &non_empty,
        inp.device,
    );
    let proto = format!(
        "NLL per token of {} real test sequences under a fresh {} LM trained {} epochs on the samples",
        lm_ctx.corpus.test.len(),
        lm_dir.display(),
        inp.reverse_epochs
    );
    rep.push(m, lm::lm_score(&model, v, &lm_ctx.corpus.test), proto);
    Ok(())
}
