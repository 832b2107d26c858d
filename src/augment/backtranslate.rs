//! Back-translation (Sennrich et al., ACL 2016): each row translated into a pivot language by
//! one run and back by another, keeping its label. With beam search (or greedy decoding) a row
//! has one back-translation; sampling both ways gives as many different ones as asked.
use super::{check_per_example, Augmented, Collector};
use crate::checkpoint::LoadedGenerator;
use crate::data::Lines;
use crate::error::{Error, Result};
use crate::run::{Decode, SourceStats, Translator};

/// The two runs and how they decode.
pub struct BackTranslation<'a> {
    pub forward: Translator<'a>,
    pub backward: Translator<'a>,
    pub decode: Decode,
    /// Sources per batch on the device.
    pub batch_size: usize,
}

/// What the source side of each run made of its input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub forward: SourceStats,
    pub backward: SourceStats,
    /// Tokens read in all by each side.
    pub forward_tokens: usize,
    pub backward_tokens: usize,
}

impl<'a> BackTranslation<'a> {
    /// Refuses a run not trained on a parallel corpus, naming which of the two it is.
    pub fn new(
        forward: &'a LoadedGenerator,
        backward: &'a LoadedGenerator,
        decode: Decode,
        batch_size: usize,
    ) -> Result<Self> {
        let side = |run, which: &str| {
            Translator::new(run).map_err(|_| {
                Error::Config(format!(
                    "the {which} run was not trained on a parallel corpus: back-translation needs two translation runs (such as Multi30k English-German and German-English)"
                ))
            })
        };
        Ok(BackTranslation {
            forward: side(forward, "forward")?,
            backward: side(backward, "backward")?,
            decode,
            batch_size: batch_size.max(1),
        })
    }

    /// `n` back-translations of every row of `input` (n = 1 unless sampling); `progress` hears
    /// rows done.
    pub fn augment(
        &self,
        input: &Lines,
        n: usize,
        seed: i64,
        progress: &mut dyn FnMut(usize),
    ) -> Result<(Augmented, Stats)> {
        check_per_example(n)?;
        if n > 1 && !matches!(self.decode, Decode::Sample(s) if !s.greedy) {
            return Err(Error::Config(
                "--per-example above 1 needs sampling (--temperature): beam search and greedy decoding give one back-translation per row".into(),
            ));
        }
        tch::manual_seed(seed);
        let mut stats = Stats::default();
        let mut out = Collector::new(input);
        let rows: Vec<usize> = (0..input.text.len()).collect();
        // Rows with the backward run's unknown token are dropped (counted).
        let v = &self.backward.run.vocab;
        let unk = v.unk.map(|u| v.decode(&[u]));
        for chunk in rows.chunks(self.batch_size) {
            let mut sources = Vec::new();
            for &i in chunk {
                let ids = self.forward.encode(&input.text[i], &mut stats.forward)?;
                stats.forward_tokens += ids.len();
                sources.extend(std::iter::repeat_n(ids, n));
            }
            let pivot = self
                .forward
                .translate(&sources, &self.decode, 0, self.batch_size);
            let mut back_sources = Vec::new();
            for p in &pivot {
                let ids = self.backward.encode(p, &mut stats.backward)?;
                stats.backward_tokens += ids.len();
                back_sources.push(ids);
            }
            let back = self
                .backward
                .translate(&back_sources, &self.decode, 0, self.batch_size);
            for (j, &i) in chunk.iter().enumerate() {
                for text in &back[j * n..(j + 1) * n] {
                    match text.split_whitespace().any(|w| Some(w) == unk.as_deref()) {
                        true => out.unknown(),
                        false => out.offer(&input.labels[i], text, Some(&input.text[i])),
                    }
                }
            }
            progress(chunk.len());
        }
        if stats.backward.unknown * 2 > stats.backward_tokens.max(1) {
            return Err(Error::Config(format!(
                "the backward run knows {} of the {} tokens the forward run wrote: its source language is not the forward run's target (give the runs as --forward A-to-B --backward B-to-A)",
                stats.backward_tokens - stats.backward.unknown,
                stats.backward_tokens
            )));
        }
        Ok((out.finish(), stats))
    }
}
