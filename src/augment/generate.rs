//! New labelled rows from a label-conditional run (LAMBADA, Anaby-Tavor et al., AAAI 2020,
//! with textgan's conditional generators): for every label, `n` samples per training row of
//! that label, drawn under the label; optionally kept only where a classifier gives the
//! intended label at least probability `min_prob`; training rows and repeats dropped, and
//! `<unk>` never drawn.
use super::{check_per_example, Augmented, Collector};
use crate::checkpoint::LoadedGenerator;
use crate::classify::Classifier;
use crate::data::{Condition, Lines};
use crate::error::{Error, Result};
use crate::models::{generate, GenerateSpec, Sampling};
use tch::Tensor;

/// A classifier's veto: it must give a sample's label at least `min_prob`.
pub struct Filter<'a> {
    pub classifier: &'a Classifier,
    pub min_prob: f64,
}

/// Rounds of sampling for a label before giving up on reaching its count.
pub const ROUNDS: usize = 8;

/// `input`'s distinct labels (sorted), or an error naming those `run` was not trained on.
fn labels_of(run: &LoadedGenerator, input: &Lines) -> Result<Vec<String>> {
    let known = &run.vocab.labels;
    if known.is_empty() || run.config.data.is_parallel() {
        return Err(Error::Config(
            "this run is not label-conditional: generating labelled rows needs a run trained on labelled text (`label<TAB>text` data)".into(),
        ));
    }
    let mut labels = input.labels.clone();
    labels.sort();
    labels.dedup();
    let missing: Vec<&str> = labels
        .iter()
        .filter(|l| !known.contains(l))
        .map(|s| s.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::Config(format!(
            "the run was trained on the labels {} and cannot write rows labelled {}",
            known.join(", "),
            missing.join(", ")
        )));
    }
    Ok(labels)
}

/// Checks that `filter` knows every label of `input` and that its threshold is a probability.
fn check_filter(filter: &Filter, labels: &[String]) -> Result<()> {
    if !(0.0..=1.0).contains(&filter.min_prob) {
        return Err(Error::Config(format!(
            "--min-prob {}: give a probability in [0, 1]",
            filter.min_prob
        )));
    }
    let names = &filter.classifier.spec.labels;
    if let Some(l) = labels.iter().find(|l| !names.contains(l)) {
        return Err(Error::Config(format!(
            "the filter classifier does not know the label {l} (it knows {})",
            names.join(", ")
        )));
    }
    Ok(())
}

/// `n` new rows per row of `input`, label by label, sampled at `sampling` from `run`.
pub fn augment(
    run: &LoadedGenerator,
    input: &Lines,
    n: usize,
    sampling: &Sampling,
    filter: Option<&Filter>,
    seed: i64,
    progress: &mut dyn FnMut(usize),
) -> Result<Augmented> {
    check_per_example(n)?;
    sampling.validate()?;
    let labels = labels_of(run, input)?;
    if let Some(f) = filter {
        check_filter(f, &labels)?;
    }
    tch::manual_seed(seed);
    let device = run.model.device();
    let v = &run.vocab;
    let mut out = Collector::new(input);
    // A row with `<unk>` in it is no text to learn from.
    let banned: Vec<i64> = v.never_generated().into_iter().chain(v.unk).collect();
    for label in &labels {
        let id = v.label_id(label)?;
        let want = n * input.labels.iter().filter(|l| *l == label).count();
        // The filter's class for this label, and the probability it must reach.
        let veto = filter.map(|f| {
            let names = &f.classifier.spec.labels;
            let class = names.iter().position(|l| l == label).expect("checked");
            (f.classifier, class, f.min_prob)
        });
        let start = out.written();
        for _ in 0..ROUNDS {
            let need = want - (out.written() - start);
            if need == 0 {
                break;
            }
            let count = need.max(16);
            let spec = GenerateSpec {
                count,
                max_len: run.max_len,
                batch_size: 1000,
                bos: v.bos,
                eos: v.eos,
                banned: banned.clone(),
                prefix: vec![],
                cond: Condition::Label(Tensor::full(
                    [count as i64],
                    id,
                    (tch::Kind::Int64, device),
                )),
            };
            let texts: Vec<String> = generate(run.model.net.as_ref(), &spec, sampling, device)
                .iter()
                .map(|s| v.decode(s))
                .collect();
            // The classifier's best class and its probability, per text.
            let verdicts = match veto {
                Some((c, _, _)) => Some(c.predict(&texts)?),
                None => None,
            };
            for (j, text) in texts.iter().enumerate() {
                if out.written() - start >= want {
                    break;
                }
                if let (Some(v), Some((_, class, min_prob))) = (&verdicts, veto) {
                    let (best, p) = v[j];
                    if best != class || p < min_prob {
                        out.refuse();
                        continue;
                    }
                }
                out.offer(label, text, None);
            }
        }
        progress(want);
    }
    Ok(out.finish())
}
