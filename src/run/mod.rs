//! A run's data and a trained run as the commands see it: loading the corpus a config names
//! (reading files or drawing from the oracle), and the [`RunContext`] that `eval`, `sweep` and
//! other callers sample and score a checkpoint with.
use crate::checkpoint::LoadedGenerator;
use crate::data::{Condition, Corpus, DataSource, Grammar, Vocab};
use crate::error::{Error, Result};
use crate::eval;
use crate::models::{generate, GenerateSpec, Oracle, Sampling};
use tch::{Device, Tensor};

/// A run's sentences, and the oracle or grammar when they come from one.
pub struct RunData {
    pub corpus: Corpus,
    pub oracle: Option<Oracle>,
    pub grammar: Option<Grammar>,
}

/// Draws the oracle benchmark's training and test sequences.
fn oracle_corpus(oracle: &Oracle, d: &crate::data::DataConfig, device: Device) -> Corpus {
    tch::manual_seed(d.oracle_seed as i64);
    let spec = GenerateSpec {
        count: 2 * d.oracle_samples,
        max_len: d.oracle_seq_len,
        batch_size: 1000,
        bos: Oracle::START,
        eos: None,
        banned: vec![],
        prefix: vec![],
        cond: Default::default(),
    };
    let mut seqs = generate(oracle, &spec, &Sampling::default(), device);
    let test = seqs.split_off(d.oracle_samples);
    Corpus::from_ids(Vocab::numeric(oracle.vocab_size as usize), seqs, test)
}

/// Loads the data a config names; `seed` holds out a test fraction reproducibly.
pub fn load_data(cfg: &crate::config::RunConfig, device: Device) -> Result<RunData> {
    match cfg.data.source {
        DataSource::Oracle | DataSource::OracleRandom => {
            let oracle = match cfg.data.source {
                DataSource::Oracle => Oracle::load(device)?,
                _ => Oracle::random(device),
            };
            let corpus = oracle_corpus(&oracle, &cfg.data, device);
            Ok(RunData {
                corpus,
                oracle: Some(oracle),
                grammar: None,
            })
        }
        source => Ok(RunData {
            corpus: Corpus::load(&cfg.data, cfg.train.seed)?,
            oracle: None,
            grammar: match source {
                DataSource::Grammar => Some(Corpus::grammar(&cfg.data)?),
                _ => None,
            },
        }),
    }
}

/// Everything a trained run contributes to evaluation: its generator, its data (references,
/// NLLs), its oracle.
pub struct RunContext {
    pub gen: LoadedGenerator,
    pub corpus: Corpus,
    pub oracle: Option<Oracle>,
    pub grammar: Option<Grammar>,
}

impl RunContext {
    pub fn load(dir: &std::path::Path, device: Device) -> Result<Self> {
        let gen = LoadedGenerator::load(dir, device)?;
        let data = load_data(&gen.config, device)
            .map_err(|e| Error::Data(format!("reloading the run's data: {e}")))?;
        if data.corpus.vocab != gen.vocab {
            return Err(Error::Data(
                "the run's training data changed since it was trained (its vocabulary differs)"
                    .into(),
            ));
        }
        Ok(RunContext {
            gen,
            corpus: data.corpus,
            oracle: data.oracle,
            grammar: data.grammar,
        })
    }

    pub fn is_oracle(&self) -> bool {
        self.oracle.is_some()
    }

    /// `n` samples at `temperature`, as id sequences (a labelled run's cycle through its
    /// labels: row i has label i mod k).
    pub fn sample(&self, n: usize, temperature: f64, seed: i64) -> Vec<Vec<i64>> {
        let k = self.gen.vocab.labels.len();
        let device = self.gen.model.device();
        let cond = match self.corpus.test_conds() {
            // A run on pairs: outputs for the test sources, in order (again from the first).
            c @ crate::data::Conds::Sources(s, _) if !s.is_empty() => {
                c.pick((0..n).map(|i| i % s.len()), device)
            }
            _ => Condition::cycling(k, n, device),
        };
        self.sample_given(n, temperature, seed, cond)
    }

    /// `n` samples at `temperature` under `cond` (one row per sample, or none).
    pub fn sample_given(
        &self,
        n: usize,
        temperature: f64,
        seed: i64,
        cond: Condition,
    ) -> Vec<Vec<i64>> {
        tch::manual_seed(seed);
        let v = &self.gen.vocab;
        let spec = GenerateSpec {
            count: n,
            max_len: self.gen.max_len,
            batch_size: 1000,
            bos: v.bos,
            eos: v.eos,
            banned: v.never_generated(),
            prefix: vec![],
            cond,
        };
        let sampling = Sampling {
            temperature,
            ..Default::default()
        };
        generate(
            self.gen.model.net.as_ref(),
            &spec,
            &sampling,
            self.gen.model.device(),
        )
    }

    /// The run's test sentences as written (decoded ids where there is no text: the oracle).
    pub fn test_lines(&self) -> Vec<String> {
        match self.corpus.test_text.is_empty() {
            true => self.decode_all(&self.corpus.test),
            false => self.corpus.test_text.clone(),
        }
    }

    /// The run's training sentences as written.
    pub fn train_lines(&self) -> Vec<String> {
        match self.corpus.train_text.is_empty() {
            true => self.decode_all(&self.corpus.train),
            false => self.corpus.train_text.clone(),
        }
    }

    pub fn decode_all(&self, seqs: &[Vec<i64>]) -> Vec<String> {
        seqs.iter().map(|s| self.gen.vocab.decode(s)).collect()
    }

    /// NLL-oracle of id sequences (fixed length).
    pub fn nll_oracle(&self, seqs: &[Vec<i64>]) -> Option<f64> {
        let oracle = self.oracle.as_ref()?;
        let len = seqs.first()?.len();
        if len == 0 || seqs.iter().any(|s| s.len() != len) {
            return None;
        }
        Some(oracle.nll(&Tensor::from_slice(&seqs.concat()).view([seqs.len() as i64, len as i64])))
    }

    /// NLL per token of `seqs` under the run's generator at `temperature`.
    pub fn nll(&self, seqs: &[Vec<i64>], temperature: f64) -> f64 {
        self.nll_given((seqs, crate::data::Conds::None), temperature)
    }

    /// NLL per token of `seqs` under their conditions.
    pub fn nll_given(&self, seqs: (&[Vec<i64>], crate::data::Conds), temperature: f64) -> f64 {
        let m = &self.gen.model;
        eval::corpus_nll_given(
            m.net.as_ref(),
            seqs,
            &self.gen.vocab,
            256,
            temperature,
            m.device(),
        )
    }

    /// Test NLL of the run's generator at `temperature`.
    pub fn nll_test(&self, temperature: f64) -> f64 {
        self.nll_given((&self.corpus.test, self.corpus.test_conds()), temperature)
    }

    /// The summed test NLL at `temperature` and the tokens it counts.
    pub fn nll_test_total(&self, temperature: f64) -> (f64, i64) {
        let m = &self.gen.model;
        let data = (&self.corpus.test[..], self.corpus.test_conds());
        eval::corpus_nll_total(
            m.net.as_ref(),
            data,
            &self.gen.vocab,
            256,
            temperature,
            m.device(),
        )
    }

    /// Training NLL of the run's generator at `temperature`.
    pub fn nll_train(&self, temperature: f64) -> f64 {
        self.nll_given((&self.corpus.train, self.corpus.train_conds()), temperature)
    }
}

mod classes;
mod metrics;
mod translate;
pub use classes::{class_metrics, LabelledSamples};
pub use metrics::{default_metrics, model_metrics, ModelInputs};
pub use translate::{Decode, SourceStats, Translator};
