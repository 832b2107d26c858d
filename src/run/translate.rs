//! Translating (or replying to) source sentences with a run trained on a parallel corpus:
//! the source side prepared as the run's data was (13a pretokenisation, its vocabulary, its
//! length limit), then greedy decoding, sampling or beam search.
use crate::checkpoint::LoadedGenerator;
use crate::data::{Condition, Conds, Pretokenize, Vocab};
use crate::error::{Error, Result};
use crate::models::{beam_search, generate, Beam, GenerateSpec, Sampling};

/// How outputs are chosen.
#[derive(Debug, Clone, Copy)]
pub enum Decode {
    Beam(Beam),
    Sample(Sampling),
}

impl Decode {
    /// Greedy decoding for width 1, beam search of that width otherwise.
    pub fn search(width: i64, length_penalty: f64) -> Self {
        match width {
            1 => Decode::Sample(Sampling {
                greedy: true,
                ..Default::default()
            }),
            width => Decode::Beam(Beam {
                width,
                length_penalty,
            }),
        }
    }
}

/// What preparing the sources changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Source tokens not in the run's source vocabulary (read as `<unk>`).
    pub unknown: usize,
    /// Sources cut to the run's maximum source length.
    pub truncated: usize,
    /// Empty source lines (answered with an empty line).
    pub empty: usize,
}

/// A run that reads sources.
pub struct Translator<'a> {
    pub run: &'a LoadedGenerator,
    src_vocab: &'a Vocab,
    max_source_len: usize,
    pretokenize: Pretokenize,
}

impl<'a> Translator<'a> {
    /// Refuses a run not trained on a parallel corpus.
    pub fn new(run: &'a LoadedGenerator) -> Result<Self> {
        let d = &run.config.data;
        if !d.is_parallel() {
            return Err(Error::Config(
                "this run was not trained on a parallel corpus: it generates without a source (use `textgan sample`)".into(),
            ));
        }
        Ok(Translator {
            src_vocab: run.vocab.source.as_deref().unwrap_or(&run.vocab),
            max_source_len: d.max_source_len,
            pretokenize: d.pretokenize,
            run,
        })
    }

    /// A source line as the model reads it; counts what changed in `stats`.
    pub fn encode(&self, line: &str, stats: &mut SourceStats) -> Result<Vec<i64>> {
        let line = match self.pretokenize {
            Pretokenize::Thirteen => crate::data::tokenize_13a(line),
            Pretokenize::None => line.trim().to_string(),
        };
        let mut ids = self.src_vocab.encode(&line)?;
        stats.unknown += ids
            .iter()
            .filter(|&&t| Some(t) == self.src_vocab.unk)
            .count();
        if ids.len() > self.max_source_len {
            ids.truncate(self.max_source_len);
            stats.truncated += 1;
        }
        Ok(ids)
    }

    /// Outputs for encoded sources (an empty source gets an empty output), `max_len` tokens
    /// at most each (0: the run's), `batch` sources at a time on the device.
    pub fn translate(
        &self,
        sources: &[Vec<i64>],
        how: &Decode,
        max_len: usize,
        batch: usize,
    ) -> Vec<String> {
        let rows: Vec<usize> = (0..sources.len())
            .filter(|&i| !sources[i].is_empty())
            .collect();
        let mut out = vec![String::new(); sources.len()];
        if rows.is_empty() {
            return out;
        }
        let picked: Vec<Vec<i64>> = rows.iter().map(|&i| sources[i].clone()).collect();
        let device = self.run.model.device();
        let pad = self.src_vocab.pad.unwrap_or(0);
        let v = &self.run.vocab;
        let spec = GenerateSpec {
            count: rows.len(),
            max_len: if max_len == 0 {
                self.run.max_len
            } else {
                max_len
            },
            batch_size: batch.max(1),
            bos: v.bos,
            eos: v.eos,
            banned: v.never_generated(),
            prefix: vec![],
            cond: Conds::Sources(&picked, pad).pick(0..rows.len(), device),
        };
        let net = self.run.model.net.as_ref();
        let ids = match how {
            Decode::Beam(b) => beam_search(net, &spec, b, device),
            Decode::Sample(s) => generate(net, &spec, s, device),
        };
        for (i, s) in rows.iter().zip(ids) {
            out[*i] = v.decode(&s);
        }
        out
    }

    /// The padding id of the source side.
    pub fn source_pad(&self) -> i64 {
        self.src_vocab.pad.unwrap_or(0)
    }

    /// `n` outputs for one source line (sampling several replies or translations).
    pub fn condition_for(&self, source: &[i64], n: usize) -> Condition {
        let rows = vec![source.to_vec(); n];
        Conds::Sources(&rows, self.source_pad()).pick(0..n, self.run.model.device())
    }
}
