//! Evaluation of a label-conditional run, class by class, as SentiGAN and CatGAN report it:
//! label accuracy (a classifier trained on the real labelled data judges the samples),
//! BLEU-2..5 against the test sentences of the sample's own class, Self-BLEU within the
//! class, and the test NLL of each class's sentences under their label.
use super::RunContext;
use crate::data::Condition;
use crate::error::{Error, Result};
use crate::eval::bleu::Tokenize;
use crate::eval::classifier::{ClassifierSettings, LabelClassifier};
use crate::eval::{corpus_nll_given, report, Report};
use tch::{Device, Tensor};

/// Samples of a labelled run: text, ids and the label each was generated under.
pub struct LabelledSamples {
    pub text: Vec<String>,
    pub ids: Vec<Vec<i64>>,
    pub labels: Vec<i64>,
}

impl RunContext {
    /// `per_class` samples of every class, class by class.
    pub fn sample_classes(&self, per_class: usize, temperature: f64, seed: i64) -> LabelledSamples {
        let k = self.gen.vocab.labels.len();
        let labels: Vec<i64> = (0..k as i64)
            .flat_map(|c| std::iter::repeat_n(c, per_class))
            .collect();
        let device = self.gen.model.device();
        let cond = Condition::Label(Tensor::from_slice(&labels).to_device(device));
        let ids = self.sample_given(labels.len(), temperature, seed, cond);
        LabelledSamples {
            text: self.decode_all(&ids),
            ids,
            labels,
        }
    }

    /// Samples read back as `label<TAB>text` lines, in the run's vocabulary.
    pub fn read_labelled(&self, lines: &[String]) -> Result<LabelledSamples> {
        let v = &self.gen.vocab;
        let mut out = LabelledSamples {
            text: Vec::new(),
            ids: Vec::new(),
            labels: Vec::new(),
        };
        for (i, l) in lines.iter().enumerate() {
            let (label, text) = l.split_once('\t').ok_or_else(|| {
                Error::Eval(format!(
                    "sample line {}: a labelled run's samples are `label<TAB>text` lines (as `textgan sample` writes them)",
                    i + 1
                ))
            })?;
            out.labels.push(v.label_id(label.trim())?);
            out.ids.push(v.encode(text.trim())?);
            out.text.push(text.trim().to_string());
        }
        Ok(out)
    }
}

/// The per-class report of `samples` from the run in `ctx`.
pub fn class_metrics(
    rep: &mut Report,
    ctx: &RunContext,
    samples: &LabelledSamples,
    mode: Tokenize,
    device: Device,
) -> Result<()> {
    let corpus = &ctx.corpus;
    let settings = ClassifierSettings::default();
    let clf = LabelClassifier::train(corpus, &settings, device)
        .ok_or_else(|| Error::Eval("per-class metrics need a labelled run".into()))?;
    rep.push(
        "classifier-acc",
        clf.test_accuracy,
        format!(
            "the label classifier's accuracy on the {} real test sentences (CNN, widths 2-5 x 200, trained {} epochs on the {} training sentences)",
            corpus.test.len(),
            settings.epochs,
            corpus.train.len()
        ),
    );
    let acc = clf.accuracy(&samples.ids, &samples.labels, device);
    rep.push(
        "label-acc",
        acc,
        format!(
            "fraction of {} samples the classifier assigns the label they were generated under",
            samples.ids.len()
        ),
    );
    for (c, name) in corpus.vocab.labels.iter().enumerate() {
        let rows: Vec<usize> = (0..samples.labels.len())
            .filter(|&i| samples.labels[i] == c as i64)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let ids: Vec<Vec<i64>> = rows.iter().map(|&i| samples.ids[i].clone()).collect();
        let text: Vec<String> = rows.iter().map(|&i| samples.text[i].clone()).collect();
        let (test, refs) = corpus.test_of_class(c as i64);
        let labels = vec![c as i64; ids.len()];
        rep.push(
            format!("label-acc[{name}]"),
            clf.accuracy(&ids, &labels, device),
            format!("as label-acc, the {} samples of class {name}", ids.len()),
        );
        let mut sub = Report::default();
        let metrics = ["bleu", "self-bleu"].map(String::from);
        let refs = (!refs.is_empty()).then_some(refs);
        let wanted = match refs {
            Some(_) => &metrics[..],
            None => &metrics[1..],
        };
        report::text_metrics(&mut sub, wanted, &text, refs.as_deref(), None, mode)?;
        for m in sub.metrics {
            let proto = format!("class {name}: {}", m.protocol);
            rep.push(format!("{}[{name}]", m.name), m.value, proto);
        }
        if !test.is_empty() {
            let class_labels = vec![c as i64; test.len()];
            let nll = corpus_nll_given(
                ctx.gen.model.net.as_ref(),
                (&test, crate::data::Conds::Labels(&class_labels)),
                &ctx.gen.vocab,
                256,
                1.0,
                device,
            );
            let proto = format!(
                "NLL per token of the {} test sentences of class {name} under label {name}",
                test.len()
            );
            rep.push(format!("nll-test[{name}]"), nll, proto);
        }
    }
    Ok(())
}
