//! The evaluation a run makes on its cadence: test NLL, samples (written to `samples/`), BLEU
//! and Self-BLEU of those samples against the test data, NLL-oracle on the oracle benchmark.
use super::metrics::Metrics;
use super::rundir::RunDir;
use crate::checkpoint::{Phase, Progress};
use crate::eval::{bleu, corpus_nll};
use crate::models::{generate, GenerateSpec, Generator, Sampling};
use crate::run::RunData;
use crate::Result;
use std::time::Instant;
use tch::{Device, Tensor};

/// Evaluates a generator; keeps the test sentences' BLEU index between evaluations.
#[derive(Default)]
pub struct Evaluator {
    bleu_refs: Option<(bleu::Interner, bleu::ReferenceIndex)>,
}

/// What an evaluation needs to know of the run.
pub struct EvalSettings {
    pub seed: u64,
    /// Sentences sampled and written.
    pub samples: usize,
    /// Sequences scored by the oracle (the oracle benchmark).
    pub oracle_samples: usize,
    /// Test sequences scored for the test NLL (0 = all).
    pub test_sequences: usize,
}

impl Evaluator {
    pub fn evaluate(
        &mut self,
        gen: &dyn Generator,
        data: &RunData,
        progress: &Progress,
        settings: &EvalSettings,
        dir: &RunDir,
        device: Device,
    ) -> Result<Metrics> {
        let t0 = Instant::now();
        let corpus = &data.corpus;
        let (step, adv) = (progress.step, progress.adv_step);
        let test = match settings.test_sequences {
            0 => &corpus.test[..],
            n => &corpus.test[..n.min(corpus.test.len())],
        };
        let test_nll =
            (!test.is_empty()).then(|| corpus_nll(gen, test, &corpus.vocab, 256, 1.0, device));
        tch::manual_seed((settings.seed as i64).wrapping_add(7919 * (step + adv) as i64));
        let spec = GenerateSpec {
            count: settings.samples,
            max_len: progress.max_len,
            batch_size: 1000,
            bos: corpus.vocab.bos,
            eos: corpus.vocab.eos,
            banned: corpus.vocab.never_generated(),
            prefix: vec![],
            cond: Default::default(),
        };
        let samples = generate(gen, &spec, &Sampling::default(), device);
        let lines: Vec<String> = samples.iter().map(|s| corpus.vocab.decode(s)).collect();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let sample_file = match progress.phase {
            Phase::Adv => format!("samples/adv-{adv:07}.txt"),
            Phase::Mle => format!("samples/step-{step:07}.txt"),
        };
        dir.write_samples(&sample_file, &text, progress.steps())?;
        let mut m = Metrics {
            step,
            epoch: progress.epoch,
            phase: progress.phase,
            adv_step: (progress.phase == Phase::Adv).then_some(adv),
            test_nll,
            samples: sample_file,
            ..Default::default()
        };
        if let Some(oracle) = &data.oracle {
            let spec = GenerateSpec {
                count: settings.oracle_samples,
                ..spec
            };
            let gen = generate(gen, &spec, &Sampling::default(), device);
            let t = Tensor::from_slice(&gen.concat()).view([gen.len() as i64, -1]);
            m.nll_oracle = Some(oracle.nll(&t));
        } else if lines.len() >= 2 && !corpus.test_text.is_empty() {
            if let Some(g) = &data.grammar {
                let (nll, validity) = g.score(&lines);
                m.grammar_nll = nll;
                m.validity = Some(validity);
            }
            let (int, index) = self.bleu_refs.get_or_insert_with(|| {
                let mut int = bleu::Interner::new(bleu::Tokenize::of(corpus.vocab.tokenizer));
                // The test sentences as written (a held-out fraction has its raw lines too).
                let ids = int.tokenize_all(&corpus.test_text).unwrap_or_default();
                let index = bleu::ReferenceIndex::new(&ids, bleu::MAX_ORDER);
                (int, index)
            });
            let hyps = int.tokenize_all(&lines)?;
            let b = bleu::bleu(&hyps, index);
            let sb = bleu::self_bleu(&hyps, bleu::MAX_ORDER);
            m.bleu = Some(b[1..].to_vec());
            m.self_bleu = Some(sb[1..].to_vec());
        }
        m.eval_s = t0.elapsed().as_secs_f64();
        Ok(m)
    }
}
