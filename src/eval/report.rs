//! Which metrics to compute, and the report that carries each figure with its protocol.
use super::metric::Metric;
use super::{bleu, text};
use crate::error::{Error, Result};
use serde::Serialize;

/// Parses a comma-separated metric list ([`Metric::from_name`] each), rejecting unknown names;
/// each family once, in the order given.
pub fn parse_metrics(list: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let m = Metric::from_name(name)?.name();
        if !out.iter().any(|n| n == m) {
            out.push(m.to_string());
        }
    }
    Ok(out)
}

/// One figure and how it was computed.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub protocol: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub metrics: Vec<Figure>,
}

impl Report {
    pub fn push(&mut self, name: impl Into<String>, value: f64, protocol: impl Into<String>) {
        self.metrics.push(Figure {
            name: name.into(),
            value,
            protocol: protocol.into(),
        });
    }

    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }

    /// One JSON object: `{"metrics": {name: value}, "protocols": {name: protocol}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let values: serde_json::Map<String, serde_json::Value> = self
            .metrics
            .iter()
            .map(|m| (m.name.clone(), serde_json::json!(finite_or_null(m.value))))
            .collect();
        let protocols: serde_json::Map<String, serde_json::Value> = self
            .metrics
            .iter()
            .map(|m| (m.name.clone(), serde_json::json!(m.protocol)))
            .collect();
        serde_json::json!({ "metrics": values, "protocols": protocols })
    }

    /// A readable table: name, value, protocol.
    pub fn table(&self) -> String {
        let w = self
            .metrics
            .iter()
            .map(|m| m.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut s = format!("{:w$}  {:>9}  protocol\n", "metric", "value");
        for m in &self.metrics {
            s += &format!("{:w$}  {:>9.4}  {}\n", m.name, m.value, m.protocol);
        }
        s
    }
}

fn finite_or_null(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The text metrics of `metrics` on sample lines, with references and training lines where given.
pub fn text_metrics(
    report: &mut Report,
    metrics: &[String],
    samples: &[String],
    references: Option<&[String]>,
    train: Option<&[String]>,
    mode: bleu::Tokenize,
) -> Result<()> {
    let mut int = bleu::Interner::new(mode);
    let hyps = int.tokenize_all(samples)?;
    let tok = mode.describe();
    for m in metrics {
        match m.as_str() {
            "bleu" => {
                let refs = references.ok_or_else(|| {
                    Error::Eval("bleu needs reference sentences".into())
                        .with_fix(crate::error::Fix::GiveReferences)
                })?;
                let refs = int.tokenize_all(refs)?;
                let index = bleu::ReferenceIndex::new(&refs, bleu::MAX_ORDER);
                let scores = bleu::bleu(&hyps, &index);
                for n in 2..=bleu::MAX_ORDER {
                    let proto = format!(
                        "nltk sentence_bleu, weights 1/{n}, SmoothingFunction().method1, {tok}; mean over {} hypotheses, each against all {} references",
                        hyps.len(),
                        refs.len()
                    );
                    report.push(format!("bleu-{n}"), scores[n - 1], proto);
                }
            }
            "self-bleu" => {
                let scores = bleu::self_bleu(&hyps, bleu::MAX_ORDER);
                for n in 2..=bleu::MAX_ORDER {
                    let proto = format!(
                        "nltk sentence_bleu, weights 1/{n}, method1, {tok}; each of {} samples against the other {}",
                        hyps.len(),
                        hyps.len().saturating_sub(1)
                    );
                    report.push(format!("self-bleu-{n}"), scores[n - 1], proto);
                }
            }
            "sacrebleu" | "chrf" => corpus_metric(report, m, samples, references)?,
            "distinct" => {
                for n in 1..=4 {
                    let proto = format!(
                        "distinct {n}-grams / all {n}-grams over {} samples, {tok}",
                        hyps.len()
                    );
                    report.push(format!("distinct-{n}"), text::distinct_n(&hyps, n), proto);
                }
            }
            "length" => report.push(
                "length",
                text::mean_length(&hyps),
                format!("mean {tok} over {} samples", hyps.len()),
            ),
            "copied" => {
                let train = train.ok_or_else(|| {
                    Error::Eval("copied needs the training sentences".into())
                        .with_fix(crate::error::Fix::GiveTrain)
                })?;
                let proto = format!("samples identical to one of {} training lines (after whitespace normalisation)", train.len());
                report.push("copied", text::copied_fraction(samples, train), proto);
            }
            _ => {}
        }
    }
    Ok(())
}

/// sacreBLEU's corpus BLEU or chrF of line-aligned translations.
fn corpus_metric(
    report: &mut Report,
    m: &str,
    samples: &[String],
    references: Option<&[String]>,
) -> Result<()> {
    let refs = references
        .ok_or_else(|| Error::Eval(format!("{m} needs reference sentences (--references)")))?;
    if refs.len() != samples.len() {
        return Err(Error::Eval(format!(
            "{m} scores line-aligned translations: {} samples but {} references",
            samples.len(),
            refs.len()
        )));
    }
    let streams = [refs.to_vec()];
    if m == "sacrebleu" {
        let b = super::sacrebleu::corpus_bleu(samples, &streams);
        let proto = format!("{} | {}", super::sacrebleu::bleu_signature(1), b.line());
        report.push("sacrebleu", b.score, proto);
    } else {
        let c = super::sacrebleu::corpus_chrf(samples, &streams);
        let proto = format!("chrF2|{}", super::sacrebleu::chrf_signature(1));
        report.push("chrf", c, proto);
    }
    Ok(())
}
