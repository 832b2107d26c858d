//! The evaluation a run makes on its cadence: test NLL, samples (written to `samples/`), BLEU
//! and Self-BLEU of those samples against the test data, NLL-oracle on the oracle benchmark.
use super::metrics::Metrics;
use super::rundir::RunDir;
use crate::checkpoint::{Phase, Progress};
use crate::data::Condition;
use crate::eval::{bleu, corpus_nll_shared};
use crate::models::{generate_shared, GenerateSpec, Generator, Sampling};
use crate::run::RunData;
use crate::Result;
use std::time::Instant;
use tch::{Device, Tensor};

/// Evaluates a generator; keeps the test sentences' BLEU index between evaluations.
#[derive(Default)]
pub struct Evaluator {
    /// The interner and one reference index per class (one in all for unlabelled text).
    bleu_refs: Option<(bleu::Interner, Vec<bleu::ReferenceIndex>)>,
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
        let conds = corpus.test_conds();
        let test_nll = (!test.is_empty())
            .then(|| corpus_nll_shared(gen, (test, conds), &corpus.vocab, 256, device));
        if corpus.sources.is_some() {
            let mut m = translate_test(gen, corpus, progress, settings, dir, device)?;
            m.test_nll = test_nll;
            m.eval_s = t0.elapsed().as_secs_f64();
            return Ok(m);
        }
        let classes = corpus.vocab.labels.len();
        tch::manual_seed((settings.seed as i64).wrapping_add(7919 * (step + adv) as i64));
        let spec = GenerateSpec {
            count: settings.samples,
            max_len: progress.max_len,
            batch_size: 1000,
            bos: corpus.vocab.bos,
            eos: corpus.vocab.eos,
            banned: corpus.vocab.never_generated(),
            prefix: vec![],
            cond: Condition::cycling(classes, settings.samples, device),
        };
        let samples = generate_shared(gen, &spec, &Sampling::default(), device);
        let lines: Vec<String> = samples.iter().map(|s| corpus.vocab.decode(s)).collect();
        // A labelled run's samples are written as its data is read: `label<TAB>text`.
        let text: String = match classes {
            0 => lines.iter().map(|l| format!("{l}\n")).collect(),
            k => lines
                .iter()
                .enumerate()
                .map(|(i, l)| format!("{}\t{l}\n", corpus.vocab.labels[i % k]))
                .collect(),
        };
        let mut m = record_with_samples(progress, dir, &text)?;
        m.test_nll = test_nll;
        if let Some(oracle) = &data.oracle {
            let spec = GenerateSpec {
                count: settings.oracle_samples,
                cond: Condition::None,
                ..spec
            };
            let gen = generate_shared(gen, &spec, &Sampling::default(), device);
            let t = Tensor::from_slice(&gen.concat()).view([gen.len() as i64, -1]);
            m.nll_oracle = Some(oracle.nll(&t));
        } else if lines.len() >= 2 && !corpus.test_text.is_empty() {
            if let Some(g) = &data.grammar {
                let (nll, validity) = g.score(&lines);
                m.grammar_nll = nll;
                m.validity = Some(validity);
            }
            let (b, sb) = self.bleu(corpus, &lines)?;
            m.bleu = Some(b);
            m.self_bleu = Some(sb);
        }
        m.eval_s = t0.elapsed().as_secs_f64();
        Ok(m)
    }

    /// BLEU-2.. and Self-BLEU-2.. of sample lines against the test sentences (a labelled
    /// run's: each class's samples against that class's).
    fn bleu(
        &mut self,
        corpus: &crate::data::Corpus,
        lines: &[String],
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let classes = corpus.vocab.labels.len();
        let (int, indexes) = self.bleu_refs.get_or_insert_with(|| {
            let mut int = bleu::Interner::new(bleu::Tokenize::of(corpus.vocab.tokenizer));
            // The test sentences as written (a held-out fraction has its raw lines too),
            // each class's apart for a labelled run.
            let ids = int.tokenize_all(&corpus.test_text).unwrap_or_default();
            let index = |c: Option<i64>| {
                let rows = (0..ids.len()).filter(|&i| c.is_none_or(|c| corpus.test_labels[i] == c));
                let refs: Vec<Vec<u32>> = rows.map(|i| ids[i].clone()).collect();
                bleu::ReferenceIndex::new(&refs, bleu::MAX_ORDER)
            };
            let indexes = match classes {
                0 => vec![index(None)],
                k => (0..k as i64).map(|c| index(Some(c))).collect(),
            };
            (int, indexes)
        });
        let hyps = int.tokenize_all(lines)?;
        Ok(per_class_bleu(&hyps, indexes))
    }
}

/// BLEU-2.. and Self-BLEU-2.. of samples whose row i has class i % k (k = `indexes.len()`),
/// each class against its own references, averaged over the samples (one class: plain).
fn per_class_bleu(hyps: &[Vec<u32>], indexes: &[bleu::ReferenceIndex]) -> (Vec<f64>, Vec<f64>) {
    let k = indexes.len();
    let (mut b, mut sb) = (
        vec![0.0; bleu::MAX_ORDER - 1],
        vec![0.0; bleu::MAX_ORDER - 1],
    );
    for (c, index) in indexes.iter().enumerate() {
        let mine: Vec<Vec<u32>> = hyps.iter().skip(c).step_by(k).cloned().collect();
        if mine.is_empty() {
            continue;
        }
        let w = mine.len() as f64 / hyps.len() as f64;
        // Several processes score a share of the samples each and add the sums up.
        let split = crate::dist::my_rows(mine.len());
        let rows = split.map_or(0..mine.len(), |(lo, hi, _)| lo..hi);
        let own = bleu::ReferenceIndex::new(&mine, bleu::MAX_ORDER);
        let mut sums = bleu::score_sums(&mine, rows.clone(), index, false);
        sums.extend(bleu::score_sums(&mine, rows, &own, true));
        if split.is_some() {
            sums = crate::dist::sum_each(&sums);
        }
        let means = bleu::mean_of(sums, mine.len());
        let (bc, sbc) = (&means[..bleu::MAX_ORDER], &means[bleu::MAX_ORDER..]);
        for n in 0..b.len() {
            b[n] += w * bc[n + 1];
            sb[n] += w * sbc[n + 1];
        }
    }
    (b, sb)
}

/// A parallel corpus's evaluation: greedy translations of the first `samples` test sources,
/// written to the samples file, and their sacreBLEU and chrF against the test targets.
fn translate_test(
    gen: &dyn Generator,
    corpus: &crate::data::Corpus,
    progress: &Progress,
    settings: &EvalSettings,
    dir: &RunDir,
    device: Device,
) -> Result<Metrics> {
    let n = settings.samples.min(corpus.test.len());
    let spec = GenerateSpec {
        count: n,
        max_len: progress.max_len,
        batch_size: 250,
        bos: corpus.vocab.bos,
        eos: corpus.vocab.eos,
        banned: corpus.vocab.never_generated(),
        prefix: vec![],
        cond: corpus.test_conds().pick(0..n, device),
    };
    let greedy = Sampling {
        greedy: true,
        ..Default::default()
    };
    let hyps: Vec<String> = generate_shared(gen, &spec, &greedy, device)
        .iter()
        .map(|s| corpus.vocab.decode(s))
        .collect();
    let text: String = hyps.iter().map(|l| format!("{l}\n")).collect();
    let mut m = record_with_samples(progress, dir, &text)?;
    let refs = [corpus.test_text[..n].to_vec()];
    m.sacrebleu = Some(crate::eval::sacrebleu::corpus_bleu(&hyps, &refs).score);
    m.chrf = Some(crate::eval::sacrebleu::corpus_chrf(&hyps, &refs));
    Ok(m)
}

/// Writes an evaluation's samples (`samples/step-N.txt`, or `adv-N.txt` in the adversarial
/// phase) and starts its record: where the run stands and the samples' file.
fn record_with_samples(progress: &Progress, dir: &RunDir, text: &str) -> Result<Metrics> {
    let (step, adv) = (progress.step, progress.adv_step);
    let samples = match progress.phase {
        Phase::Adv => format!("samples/adv-{adv:07}.txt"),
        Phase::Mle => format!("samples/step-{step:07}.txt"),
    };
    dir.write_samples(&samples, text, progress.steps())?;
    Ok(Metrics {
        step,
        epoch: progress.epoch,
        phase: progress.phase,
        adv_step: (progress.phase == Phase::Adv).then_some(adv),
        samples,
        ..Default::default()
    })
}
