//! One served run: its generator and, for an adversarial run, its discriminator, answering
//! batches of generate and score requests. Every token comes back with its log-probability
//! under the generator (the model's own distribution, temperature 1) and, where the run has a
//! discriminator, D's probability that the text so far is real.
use super::cond::RowCond;
use super::errors::{invalid, no_discriminator};
use super::load::load_discriminator;
pub(super) use super::load::Shapes;
use super::{Draw, Scoring};
use crate::checkpoint::LoadedGenerator;
use crate::data::MAX_SEQ_LEN;
use crate::error::Result;
use crate::models::disc::DiscriminatorModel;
use crate::models::{beam_search, generate, generate_scored, Beam, GenerateSpec};
use crate::run::SourceStats;
use serde::Serialize;
use std::path::Path;
use tch::Device;

/// A loaded run.
pub struct Engine {
    pub gen: LoadedGenerator,
    /// The trained discriminator of an adversarial run, as a network (no training algorithm
    /// is built to serve it).
    pub(super) disc: Option<DiscriminatorModel>,
    pub(super) shapes: Shapes,
}

/// One token of a text with its scores.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenScore {
    pub token: String,
    pub id: i64,
    /// log p(token | what precedes) under the generator.
    pub logprob: f64,
    /// The discriminator's probability that the text up to and including this token is real.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d: Option<f64>,
    /// The most likely tokens at this position with their log-probabilities (when asked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<(String, f64)>,
    /// Part of the prompt, not generated.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub prompt: bool,
    /// The token as it stands in the text, with the space before it (a word after the
    /// first: " cat"; a subword piece: what it adds to the decoded text).
    #[serde(skip)]
    pub piece: String,
    /// The alternatives of `top` as they would stand in the text, as `piece` stands.
    #[serde(skip)]
    pub top_pieces: Vec<String>,
}

/// A generated or scored text.
#[derive(Debug, Clone, Serialize)]
pub struct Text {
    /// The whole text (prompt included).
    pub text: String,
    /// What was generated after the prompt.
    #[serde(skip)]
    pub completion: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub tokens: Vec<TokenScore>,
    /// `stop` (the model ended the text) or `length` (the token limit cut it).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub finish_reason: &'static str,
    /// Mean negative log-probability per token (prompt excluded).
    pub nll: f64,
    /// The discriminator's probability that the whole text is real.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d: Option<f64>,
    /// Tokens the vocabulary does not know (read as `<unk>`).
    #[serde(skip_serializing_if = "is_zero")]
    pub unknown: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// "1 token", "3 tokens".
fn tokens(n: usize) -> String {
    match n {
        1 => "1 token".into(),
        n => format!("{n} tokens"),
    }
}

/// A draw checked against the run and encoded.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub prefix: Vec<i64>,
    /// Tokens in all (prompt included, `<eos>` included).
    pub max_len: usize,
    pub conds: Vec<RowCond>,
    /// Whether the source was cut to the run's maximum source length (1) or not (0).
    pub source_cut: usize,
    pub draw: Draw,
}

impl Prepared {
    /// Draws with equal keys share one batched forward pass.
    pub fn key(&self) -> String {
        let d = &self.draw;
        let s = d.sampling();
        format!(
            "{:?}|{}|{}|{}|{}|{:?}|{}|{}|{:?}",
            self.prefix,
            self.max_len,
            s.temperature,
            s.top_k,
            s.top_p,
            (s.greedy, d.beam),
            d.discriminator,
            d.top_logprobs,
            d.seed
        )
    }
}

impl Engine {
    /// Loads a run directory's generator and, when its checkpoint holds one, discriminator.
    pub fn load(dir: &Path, device: Device) -> Result<Self> {
        let gen = LoadedGenerator::load(dir, device)?;
        let path = crate::checkpoint::locate(dir);
        let ck = crate::checkpoint::load(&path)?;
        let disc = load_discriminator(&gen, &ck, &path, device)?;
        let min_len = disc.as_ref().map_or(1, |d| d.net.min_len());
        let shapes = Shapes {
            d_len: (gen.max_len as i64).max(min_len),
            bos: gen.vocab.bos,
            pad: gen.vocab.pad.unwrap_or(0),
        };
        Ok(Engine { gen, disc, shapes })
    }

    pub fn has_discriminator(&self) -> bool {
        self.disc.is_some()
    }

    /// Whether the discriminator scores each token itself (else: each prefix is scored).
    pub fn d_per_token(&self) -> bool {
        self.gen.config.discriminator.scores_per_token()
    }

    pub(super) fn device(&self) -> Device {
        self.gen.model.device()
    }

    /// The most tokens a text may have (`<eos>` included).
    pub fn max_tokens(&self) -> usize {
        let bound = self
            .gen
            .model
            .net
            .max_len()
            .map_or(usize::MAX, |b| b as usize);
        self.gen.max_len.min(bound)
    }

    /// Checks a draw against the run: prompt, condition, lengths.
    pub fn prepare(&self, draw: Draw) -> Result<Prepared> {
        let v = &self.gen.vocab;
        let prefix = self.encode_user(&draw.prompt)?;
        let max_len = match draw.max_len {
            Some(total) => self.total_len(total, prefix.len())?,
            None => self.len_after(&draw, prefix.len())?,
        };
        if draw.beam.is_some() && draw.n != 1 {
            return Err(invalid("beam search gives one text: n must be 1"));
        }
        if draw.discriminator && self.disc.is_none() {
            return Err(no_discriminator("scoring with it"));
        }
        let k = v.labels.len();
        let mut stats = SourceStats::default();
        let cond = self.row_cond(draw.label.as_deref(), draw.source.as_deref(), &mut stats)?;
        let conds = match cond {
            Some(c) => vec![c; draw.n],
            // A labelled run without a label: the texts cycle through its labels.
            None if k > 0 => (0..draw.n)
                .map(|i| RowCond::Label((i % k) as i64))
                .collect(),
            None => vec![RowCond::None; draw.n],
        };
        Ok(Prepared {
            prefix,
            max_len,
            conds,
            source_cut: stats.truncated,
            draw,
        })
    }

    /// The length of a draw's texts from its `max_tokens` (tokens after the prompt) within the
    /// run's length.
    fn len_after(&self, draw: &Draw, prompt: usize) -> Result<usize> {
        let limit = self.max_tokens();
        let max_len = match draw.max_tokens {
            Some(m) if draw.max_tokens_is_default => (prompt + m).min(limit),
            Some(m) => prompt + m,
            None => limit,
        };
        if max_len > limit || prompt >= max_len {
            let asked = match draw.max_tokens {
                Some(m) => format!(" and max_tokens asks for {m} more"),
                None => String::new(),
            };
            return Err(invalid(format!(
                "the prompt has {}{asked}; this run's texts have at most {limit} tokens in all",
                tokens(prompt)
            )));
        }
        Ok(max_len)
    }

    /// A whole length the caller chose (`textgan sample --max-len`): it may pass the run's
    /// length, up to the model's positions.
    fn total_len(&self, total: usize, prompt: usize) -> Result<usize> {
        if total == 0 || total > MAX_SEQ_LEN {
            return Err(invalid(format!("max_len must be in 1..={MAX_SEQ_LEN}")));
        }
        if let Some(bound) = self.gen.model.net.max_len() {
            if total as i64 > bound {
                return Err(invalid(format!(
                    "max_len {total} exceeds the model's {bound} positions"
                )));
            }
        }
        if prompt >= total {
            return Err(invalid(format!(
                "the prompt has {}, the maximum length is {total}",
                tokens(prompt)
            )));
        }
        Ok(total)
    }

    /// Decoding with discriminator reranking, as Language GANs Falling Short evaluates it:
    /// draws `k` times `draw.n` texts and keeps the `draw.n` that the discriminator finds most
    /// likely real (its probability for the whole text), best first.
    pub fn rerank(&self, draw: Draw, k: usize) -> Result<Vec<Text>> {
        if !self.has_discriminator() {
            return Err(no_discriminator("reranking"));
        }
        let n = draw.n;
        let all = Draw {
            n: n.saturating_mul(k.max(1)),
            discriminator: true,
            ..draw
        };
        let cycles = all.label.is_none() && !self.gen.vocab.labels.is_empty();
        let mut texts = self.generate(&[&self.prepare(all)?]).remove(0);
        texts.sort_by(|a, b| b.d.unwrap_or(0.0).total_cmp(&a.d.unwrap_or(0.0)));
        if !cycles {
            texts.truncate(n);
            return Ok(texts);
        }
        Ok(super::scoring::cycle_labels(
            texts,
            &self.gen.vocab.labels,
            n,
        ))
    }

    /// Texts for draws that share a key (see [`Prepared::key`]), in one batch: one list of
    /// texts per draw.
    pub fn generate(&self, group: &[&Prepared]) -> Vec<Vec<Text>> {
        let first = group[0];
        let conds: Vec<RowCond> = group.iter().flat_map(|p| p.conds.clone()).collect();
        let v = &self.gen.vocab;
        let spec = GenerateSpec {
            count: conds.len(),
            max_len: first.max_len,
            batch_size: conds.len().max(1),
            bos: v.bos,
            eos: v.eos,
            banned: v.never_generated(),
            prefix: first.prefix.clone(),
            cond: self.condition(&conds),
        };
        if let Some(seed) = first.draw.seed {
            tch::manual_seed(seed);
        }
        let net = self.gen.model.net.as_ref();
        let dev = self.device();
        // Sampling without alternatives takes each token's log-probability from the logits it
        // computed anyway; beam search and alternatives score the texts afterwards.
        let (rows, given): (Vec<Vec<i64>>, Option<Vec<Vec<f64>>>) = match first.draw.beam {
            None if first.draw.top_logprobs == 0 => {
                let scored = generate_scored(net, &spec, &first.draw.sampling(), dev);
                let rows = scored
                    .iter()
                    .map(|(s, lp)| s.iter().copied().chain(v.eos).take(lp.len()).collect())
                    .collect();
                let lps = scored
                    .into_iter()
                    .map(|(_, lp)| lp.into_iter().map(f64::from).collect())
                    .collect();
                (rows, Some(lps))
            }
            beam => {
                let seqs = match beam {
                    Some(width) => {
                        let b = Beam {
                            width,
                            ..Default::default()
                        };
                        beam_search(net, &spec, &b, dev)
                    }
                    None => generate(net, &spec, &first.draw.sampling(), dev),
                };
                // Finished texts are scored with their `<eos>`: the model's choice to end counts.
                let rows = seqs
                    .into_iter()
                    .map(|s| super::scoring::with_eos(s, first.max_len, v.eos))
                    .collect();
                (rows, None)
            }
        };
        let mut texts = self.texts(&rows, &conds, (first.prefix.len(), given), &first.draw);
        for (t, r) in texts.iter_mut().zip(&rows) {
            t.finish_reason = match v.eos.is_some() && r.last() == v.eos.as_ref() {
                true => "stop",
                false => "length",
            };
        }
        let mut out = Vec::with_capacity(group.len());
        let mut it = texts.into_iter();
        for p in group {
            out.push(it.by_ref().take(p.draw.n).collect());
        }
        out
    }

    /// Scores the texts of a request (each ends with `<eos>`, which is scored too).
    pub fn score(&self, req: &Scoring) -> Result<Vec<Text>> {
        let v = &self.gen.vocab;
        let (label, source) = (req.label.as_deref(), req.source.as_deref());
        let cond = self.row_cond(label, source, &mut SourceStats::default())?;
        let cond = match cond {
            Some(c) => c,
            None if !v.labels.is_empty() => {
                return Err(invalid(format!(
                    "this run is labelled: give label (one of {})",
                    v.labels.join(", ")
                )))
            }
            None => RowCond::None,
        };
        if req.discriminator && self.disc.is_none() {
            return Err(no_discriminator("scoring with it"));
        }
        let limit = self.max_tokens();
        let mut rows = Vec::with_capacity(req.texts.len());
        let mut unknown = Vec::with_capacity(req.texts.len());
        for (i, t) in req.texts.iter().enumerate() {
            let ids = self.encode_user(t)?;
            if ids.is_empty() {
                return Err(invalid(format!("texts[{i}] is empty")));
            }
            unknown.push(ids.iter().filter(|&&t| Some(t) == v.unk).count());
            if ids.len() > limit {
                return Err(invalid(format!(
                    "texts[{i}] has {}; this run's texts have at most {limit}",
                    tokens(ids.len())
                )));
            }
            // `<eos>` is scored where it fits: a text of the run's full length ends by the
            // limit, as a generated one does.
            let room = usize::from(ids.len() < limit);
            let row: Vec<i64> = ids
                .into_iter()
                .chain(v.eos.into_iter().take(room))
                .collect();
            rows.push(row);
        }
        let draw = Draw {
            discriminator: req.discriminator,
            top_logprobs: req.top_logprobs,
            ..Draw::default()
        };
        let conds = vec![cond; rows.len()];
        let mut texts = self.texts(&rows, &conds, (0, None), &draw);
        for (t, u) in texts.iter_mut().zip(unknown) {
            t.unknown = u;
        }
        Ok(texts)
    }
}
