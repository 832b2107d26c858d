//! Per-token numbers of a served run: the generator's log-probability of each token (with
//! its most likely alternatives) and the discriminator's score of each prefix.
use super::cond::RowCond;
use super::{Draw, Engine, Text, TokenScore};
use crate::data::Condition;
use crate::error::Result;
use tch::{Device, Kind, Tensor};

/// How token `id` stands in the text after `prefix` (the tokens before it), where `done` is
/// what the pieces of `prefix` spell: a word after the first brings its space, a character
/// stands alone, a subword piece is what it adds to the text decoded so far (`None` where a
/// byte of a character is still missing; the character comes with the byte that ends it).
fn spelled(v: &crate::data::Vocab, prefix: &[i64], done: &str, id: i64) -> Option<String> {
    let name = v.tokens.get(id as usize).cloned().unwrap_or_default();
    match (&v.subword, v.tokenizer) {
        (Some(sw), _) => {
            let mut ids = prefix.to_vec();
            ids.push(id);
            sw.decode_raw(&ids).strip_prefix(done).map(str::to_string)
        }
        (None, crate::data::Tokenizer::Char) => Some(name),
        (None, _) if prefix.is_empty() => Some(name),
        (None, _) => Some(format!(" {name}")),
    }
}

/// Each token of `row` as it stands in the decoded text ([`spelled`]; empty for a byte that
/// does not end its character).
fn pieces(v: &crate::data::Vocab, row: &[i64]) -> Vec<String> {
    let mut done = String::new();
    (0..row.len())
        .map(|k| match spelled(v, &row[..k], &done, row[k]) {
            Some(piece) => {
                done.push_str(&piece);
                piece
            }
            None => String::new(),
        })
        .collect()
}

/// How each alternative `alts` at position `j` of `row` would stand in the text, spelled as
/// the token there is, after `done` (what the pieces before `j` spell); a piece that would not
/// end its character keeps its token's name.
fn alt_pieces(
    v: &crate::data::Vocab,
    row: &[i64],
    j: usize,
    done: &str,
    alts: &[i64],
) -> Vec<String> {
    alts.iter()
        .map(|&a| {
            spelled(v, &row[..j], done, a)
                .unwrap_or_else(|| v.tokens.get(a as usize).cloned().unwrap_or_default())
        })
        .collect()
}

/// A row as it is scored: a text that ended before `max_len` tokens with its `<eos>` (the
/// model's choice to end counts).
pub(super) fn with_eos(row: Vec<i64>, max_len: usize, eos: Option<i64>) -> Vec<i64> {
    match (row.len() < max_len, eos) {
        (true, Some(eos)) => row.into_iter().chain([eos]).collect(),
        _ => row,
    }
}

/// D's probability that each row is real, from its [B, K] logits: the mean over its outputs
/// of sigmoid(logit), as SeqGAN's reward reads it.
fn real_probability(logits: Tensor) -> Vec<f32> {
    logits
        .sigmoid()
        .mean_dim([1i64].as_slice(), false, Kind::Float)
        .to_device(Device::Cpu)
        .try_into()
        .expect("float scores")
}

/// The first `n` of `texts` (best first) as a labelled run without a label gives them: cycling
/// through `labels`, each line the best left of its label.
pub(super) fn cycle_labels(texts: Vec<Text>, labels: &[String], n: usize) -> Vec<Text> {
    let mut by_label: Vec<std::collections::VecDeque<Text>> =
        vec![Default::default(); labels.len()];
    for t in texts {
        let l = t
            .label
            .as_ref()
            .and_then(|l| labels.iter().position(|x| x == l));
        by_label[l.unwrap_or(0)].push_back(t);
    }
    (0..n)
        .filter_map(|i| by_label[i % labels.len()].pop_front())
        .collect()
}

impl Engine {
    /// Texts with their per-token scores, for rows of ids (`<eos>` last where they ended); the
    /// first `prompt` tokens are the prompt; `given`: the log-probabilities, where known.
    pub(super) fn texts(
        &self,
        rows: &[Vec<i64>],
        conds: &[RowCond],
        (prompt, given): (usize, Option<Vec<Vec<f64>>>),
        draw: &Draw,
    ) -> Vec<Text> {
        if rows.is_empty() {
            return vec![];
        }
        let v = &self.gen.vocab;
        let cond = self.condition(conds);
        let lp = match given {
            Some(g) => g
                .into_iter()
                .map(|r| r.into_iter().map(|x| (x, vec![])).collect())
                .collect(),
            None => self.logprobs(rows, &cond, draw.top_logprobs),
        };
        let d = match draw.discriminator {
            true => self.d_scores(rows, &cond),
            false => None,
        };
        let name = |id: i64| v.tokens.get(id as usize).cloned().unwrap_or_default();
        rows.iter()
            .enumerate()
            .map(|(i, row)| {
                let pieces = pieces(v, row);
                let mut done = String::new();
                let tokens: Vec<TokenScore> = row
                    .iter()
                    .zip(pieces)
                    .enumerate()
                    .map(|(j, (&id, piece))| {
                        let alts: Vec<i64> = lp[i][j].1.iter().map(|&(t, _)| t).collect();
                        let top_pieces = alt_pieces(v, row, j, &done, &alts);
                        done.push_str(&piece);
                        TokenScore {
                            token: name(id),
                            id,
                            logprob: lp[i][j].0,
                            d: d.as_ref().map(|(per, _)| per[i][j]),
                            top: lp[i][j].1.iter().map(|&(t, p)| (name(t), p)).collect(),
                            prompt: j < prompt,
                            piece,
                            top_pieces,
                        }
                    })
                    .collect();
                let own = &tokens[prompt.min(tokens.len())..];
                let nll = -own.iter().map(|t| t.logprob).sum::<f64>() / own.len().max(1) as f64;
                let body: Vec<i64> = row[prompt.min(row.len())..].to_vec();
                Text {
                    text: v.decode(row),
                    completion: v.decode(&body),
                    label: match &conds[i] {
                        RowCond::Label(l) => v.labels.get(*l as usize).cloned(),
                        _ => None,
                    },
                    tokens,
                    finish_reason: "",
                    nll,
                    d: d.as_ref().map(|(_, seq)| seq[i]),
                    unknown: 0,
                }
            })
            .collect()
    }

    /// Rows padded to one length [N, T] (with `pad`).
    pub(super) fn padded(rows: &[Vec<i64>], len: usize, pad: i64, dev: Device) -> Tensor {
        let mut ids = vec![pad; rows.len() * len];
        for (i, r) in rows.iter().enumerate() {
            ids[i * len..i * len + r.len().min(len)].copy_from_slice(&r[..r.len().min(len)]);
        }
        Tensor::from_slice(&ids)
            .view([rows.len() as i64, len as i64])
            .to_device(dev)
    }

    /// log p(token) of every token of every row, with the `top` most likely alternatives.
    #[allow(clippy::type_complexity)]
    pub(super) fn logprobs(
        &self,
        rows: &[Vec<i64>],
        cond: &Condition,
        top: usize,
    ) -> Vec<Vec<(f64, Vec<(i64, f64)>)>> {
        let _guard = tch::no_grad_guard();
        let t = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let n = rows.len() as i64;
        let pad = self.shapes.pad;
        let tokens = Self::padded(rows, t, pad, self.device());
        let start = Tensor::full([n, 1], self.shapes.bos, (Kind::Int64, self.device()));
        let input = Tensor::cat(&[start, tokens.narrow(1, 0, t as i64 - 1)], 1);
        let logits = self.gen.model.net.forward_given(&input, cond, false); // [N, T, V]
                                                                            // log p = logit - logsumexp: no [N, T, V] log-softmax written out (a third of the
                                                                            // time of a batch of 64 oracle-size texts).
        let lse = logits.logsumexp([-1i64].as_slice(), true); // [N, T, 1]
        let chosen: Vec<f32> = (logits.gather(2, &tokens.unsqueeze(2), false) - &lse)
            .flatten(0, -1)
            .to_device(Device::Cpu)
            .try_into()
            .expect("float log-probabilities");
        let alts = (top > 0).then(|| {
            let (vals, idx) = logits.topk(top as i64, -1, true, true);
            let vals: Vec<f32> = (vals - &lse)
                .flatten(0, -1)
                .to_device(Device::Cpu)
                .try_into()
                .unwrap();
            let idx: Vec<i64> = idx
                .flatten(0, -1)
                .to_device(Device::Cpu)
                .try_into()
                .unwrap();
            (vals, idx)
        });
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                (0..r.len())
                    .map(|j| {
                        let at = i * t + j;
                        let top = match &alts {
                            Some((vals, idx)) => (0..top)
                                .map(|k| (idx[at * top + k], vals[at * top + k] as f64))
                                .collect(),
                            None => vec![],
                        };
                        (chosen[at] as f64, top)
                    })
                    .collect()
            })
            .collect()
    }

    /// D's probability that each sampled row (ids without `<eos>`, as sampling gives them) is
    /// real: the whole text, `<eos>` added where it ended early, as reranking reads it.
    pub fn d_real(&self, rows: &[Vec<i64>]) -> Result<Vec<f64>> {
        let Some(d) = self.disc.as_ref() else {
            return Err(super::errors::no_discriminator("reranking"));
        };
        let _guard = tch::no_grad_guard();
        let max_len = self.gen.max_len;
        let ended: Vec<Vec<i64>> = rows
            .iter()
            .map(|r| with_eos(r.clone(), max_len, self.gen.vocab.eos))
            .collect();
        let whole = Self::padded(
            &ended,
            self.shapes.d_len as usize,
            self.shapes.pad,
            self.device(),
        );
        let p = real_probability(crate::models::disc::score_in_chunks(d.net.as_ref(), &whole));
        Ok(p.into_iter().map(f64::from).collect())
    }

    /// D's probability "real" per token (of each prefix, or its own per-token output) and of
    /// each whole row: the mean over its outputs of sigmoid(logit), as SeqGAN's reward reads it.
    #[allow(clippy::type_complexity)]
    pub(super) fn d_scores(
        &self,
        rows: &[Vec<i64>],
        cond: &Condition,
    ) -> Option<(Vec<Vec<f64>>, Vec<f64>)> {
        let _guard = tch::no_grad_guard();
        let d = self.disc.as_ref()?.net.as_ref();
        let dev = self.device();
        let l = self.shapes.d_len as usize;
        let whole = Self::padded(rows, l, self.shapes.pad, dev);
        let seq = real_probability(crate::models::disc::score_given_in_chunks(d, &whole, cond));
        let per_token = d
            .per_token_given(&d.embed(&whole), cond, false)
            .map(|p| -> Vec<f32> {
                p.sigmoid()
                    .flatten(0, -1)
                    .to_device(Device::Cpu)
                    .try_into()
                    .expect("float scores")
            });
        let per: Vec<Vec<f64>> = match per_token {
            Some(p) => rows
                .iter()
                .enumerate()
                .map(|(i, r)| (0..r.len()).map(|j| p[i * l + j] as f64).collect())
                .collect(),
            None => {
                // Every prefix as its own row: row (i, j) holds row i's first j + 1 tokens.
                let (mut pre, mut owner) = (Vec::new(), Vec::new());
                for (i, r) in rows.iter().enumerate() {
                    for j in 0..r.len() {
                        pre.push(r[..=j].to_vec());
                        owner.push(i as i64);
                    }
                }
                let idx = Tensor::from_slice(&owner).to_device(dev);
                let c = cond.index_select(&idx);
                let scores = real_probability(crate::models::disc::score_given_in_chunks(
                    d,
                    &Self::padded(&pre, l, self.shapes.pad, dev),
                    &c,
                ));
                let mut it = scores.into_iter();
                rows.iter()
                    .map(|r| it.by_ref().take(r.len()).map(f64::from).collect())
                    .collect()
            }
        };
        Some((per, seq.into_iter().map(f64::from).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Subword, Tokenizer, Vocab};

    /// An alternative is spelled as the token would be if chosen: the chosen token itself,
    /// offered as an alternative, reads as its own piece at every position, for words,
    /// characters and each subword kind (a piece inside a word has no space before it).
    #[test]
    fn alternatives_are_spelled_as_the_tokens_they_would_be() {
        let lines = [
            "the cat sat on the mat",
            "a dog ran in the park",
            "the kitten sat",
        ];
        let mut vocabs = vec![
            Vocab::build(lines.iter().copied(), Tokenizer::Word, 1000, 1),
            Vocab::build(lines.iter().copied(), Tokenizer::Char, 1000, 1),
        ];
        for kind in [Tokenizer::Bpe, Tokenizer::Unigram, Tokenizer::Wordpiece] {
            let sw = Subword::train(kind, &lines, 60, 1).unwrap();
            vocabs.push(Vocab::of_subword(kind, sw).unwrap());
        }
        for v in &vocabs {
            let row = v.encode("the kitten sat on the mat").unwrap();
            let pieces = pieces(v, &row);
            for (j, &id) in row.iter().enumerate() {
                assert_eq!(
                    alt_pieces(v, &row, j, &pieces[..j].concat(), &[id]),
                    [pieces[j].clone()],
                    "{:?} position {j} of {row:?}",
                    v.tokenizer
                );
            }
        }
    }
}
