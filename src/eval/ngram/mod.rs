//! An n-gram language model: interpolated modified Kneser-Ney (Chen and Goodman 1998) as
//! KenLM's `lmplz` estimates it, written and read as ARPA files, queried with back-off as KenLM
//! queries them. The "LM score" of samples is their per-token perplexity under a model of the
//! training (or reference) text.
//!
//! Estimation, as `lmplz` does it: each line is `<s> w1 .. wk </s>`; the highest order keeps
//! raw counts, and so do the shorter n-grams that start at `<s>`; every other lower-order
//! n-gram counts its distinct left extensions (its adjusted count). Per order, discounts come
//! from the counts of adjusted counts n1..n4: `D_j = j - (j + 1) Y n_{j+1} / n_j`,
//! `Y = n1 / (n1 + 2 n2)`; where some n_j is 0 or a D_j falls outside [0, j] the fallback
//! 0.5, 1, 1.5 is used (`lmplz --discount_fallback`), and said. Then
//! `p(w | h) = (a(h w) - D(a)) / sum_w a(h w) + gamma(h) p(w | h')`, down to the uniform
//! distribution over the vocabulary (with `<unk>`, without `<s>`); the back-off weight of a
//! context is log10 gamma.
mod arpa;

use crate::error::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

pub const BOS: &str = "<s>";
pub const EOS: &str = "</s>";
pub const UNK: &str = "<unk>";

/// One n-gram's entry: log10 probability and log10 back-off (0 where it is no context).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Entry {
    pub log_p: f64,
    pub backoff: f64,
}

/// An n-gram model: per order, the n-grams (as word ids) and their entries.
#[derive(Debug, Clone)]
pub struct NgramLm {
    pub words: Vec<String>,
    ids: HashMap<String, u32>,
    /// `grams[n - 1]`: the n-grams of order n.
    grams: Vec<HashMap<Vec<u32>, Entry>>,
    /// The discounts D1, D2, D3+ per order, and whether the fallback gave them.
    pub discounts: Vec<([f64; 3], bool)>,
}

/// The orders an n-gram model may have.
pub const ORDERS: std::ops::RangeInclusive<usize> = 1..=9;

impl NgramLm {
    pub fn order(&self) -> usize {
        self.grams.len()
    }

    fn id(&self, w: &str) -> u32 {
        self.ids.get(w).copied().unwrap_or(self.ids[UNK])
    }

    /// Estimates an order-`order` model of `lines` (whitespace tokens).
    pub fn estimate(lines: &[String], order: usize) -> Result<NgramLm> {
        if !ORDERS.contains(&order) {
            return Err(Error::Config(format!(
                "an n-gram order must be in 1..=9; {order} asked"
            )));
        }
        let mut words = Words::new();
        let mut counts: Vec<HashMap<Vec<u32>, u64>> = vec![HashMap::new(); order];
        let bos = words.ids[BOS];
        for line in lines {
            let mut s = vec![bos];
            for w in line.split_whitespace() {
                s.push(words.intern(w));
            }
            s.push(words.ids[EOS]);
            // The longest n-gram ending at each word: the highest order, or a shorter one
            // starting at <s>; both keep raw counts.
            for i in 1..s.len() {
                let from = (i + 1).saturating_sub(order);
                *counts[i - from].entry(s[from..=i].to_vec()).or_default() += 1;
            }
        }
        if counts[0].is_empty() && lines.iter().all(|l| l.trim().is_empty()) {
            return Err(Error::Data(
                "an n-gram model needs some text: every line is empty".into(),
            ));
        }
        // Adjusted counts, from the top: a lower-order n-gram not at <s> counts the distinct
        // n-grams one longer that end with it.
        for n in (1..order).rev() {
            let mut ext: HashMap<Vec<u32>, u64> = HashMap::new();
            for g in counts[n].keys() {
                *ext.entry(g[1..].to_vec()).or_default() += 1;
            }
            for (g, c) in ext {
                counts[n - 1].insert(g, c);
            }
        }
        let vocab_size = (words.list.len() - 1) as f64; // with <unk>, without <s>
        let discounts: Vec<([f64; 3], bool)> = counts.iter().map(discounts_of).collect();
        let special = [words.ids[UNK], bos, words.ids[EOS]];
        let grams = interpolate(&counts, &discounts, vocab_size, special);
        Ok(NgramLm {
            words: words.list,
            ids: words.ids,
            grams,
            discounts,
        })
    }

    /// log10 p(w | context), the context's last words first used (KenLM's back-off query).
    pub fn log10_prob(&self, context: &[u32], w: u32) -> f64 {
        let n = (context.len() + 1).min(self.order());
        let ctx = &context[context.len() + 1 - n..];
        let mut backoff = 0.0;
        for start in 0..n {
            let h = &ctx[start..];
            let mut g = h.to_vec();
            g.push(w);
            if let Some(e) = self.grams[g.len() - 1].get(&g) {
                return backoff + e.log_p;
            }
            if !h.is_empty() {
                if let Some(e) = self.grams[h.len() - 1].get(h) {
                    backoff += e.backoff;
                }
            }
        }
        // Not even a unigram: <unk>'s.
        backoff + self.grams[0][&vec![self.ids[UNK]]].log_p
    }

    /// The log10 probabilities of a sentence's words and `</s>` after `<s>` (KenLM's
    /// `full_scores` with bos and eos), and how many words were out of the vocabulary.
    pub fn score(&self, sentence: &str) -> (Vec<f64>, usize) {
        let mut ctx = vec![self.ids[BOS]];
        let mut out = Vec::new();
        let mut oov = 0;
        let words: Vec<&str> = sentence.split_whitespace().collect();
        for w in words.iter().copied().chain([EOS]) {
            let id = self.id(w);
            oov += usize::from(id == self.ids[UNK] && w != UNK);
            out.push(self.log10_prob(&ctx, id));
            ctx.push(id);
        }
        (out, oov)
    }

    /// The per-token perplexity of `lines` (words and `</s>` counted): 10^(-sum log10 p / tokens).
    pub fn perplexity(&self, lines: &[String]) -> f64 {
        let (mut total, mut tokens) = (0.0, 0usize);
        for l in lines {
            let (s, _) = self.score(l);
            tokens += s.len();
            total += s.iter().sum::<f64>();
        }
        10f64.powf(-total / tokens.max(1) as f64)
    }

    /// `n` sentences drawn from the model, word by word after `<s>` until `</s>` (or `max_len`
    /// words), each word from `p(w | context)^(1/temperature)` renormalised over the
    /// vocabulary (without `<s>` and `<unk>`).
    pub fn sample(
        &self,
        n: usize,
        (temperature, max_len): (f64, usize),
        rng: &mut impl rand::Rng,
    ) -> Vec<String> {
        // Each context's listed continuations, so that a whole distribution is the unigrams,
        // scaled by each back-off and overwritten by the listed words, context by context.
        let mut next: Continuations = vec![HashMap::new(); self.order()];
        for (k, g) in self.grams.iter().enumerate().skip(1) {
            for (ws, e) in g {
                next[k]
                    .entry(&ws[..k])
                    .or_default()
                    .push((ws[k], 10f64.powf(e.log_p)));
            }
        }
        let mut unigram = vec![0f64; self.words.len()];
        for (ws, e) in &self.grams[0] {
            unigram[ws[0] as usize] = 10f64.powf(e.log_p);
        }
        let (bos, eos, unk) = (self.ids[BOS], self.ids[EOS], self.ids[UNK]);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let mut ctx = vec![bos];
            let mut words: Vec<&str> = Vec::new();
            while words.len() < max_len {
                let mut dist = unigram.clone();
                for k in 1..self.order().min(ctx.len() + 1) {
                    let h = &ctx[ctx.len() - k..];
                    let Some(e) = self.grams[k - 1].get(h) else {
                        break;
                    };
                    let scale = 10f64.powf(e.backoff);
                    dist.iter_mut().for_each(|p| *p *= scale);
                    for &(w, p) in next[k].get(h).map_or(&[][..], Vec::as_slice) {
                        dist[w as usize] = p;
                    }
                }
                dist[bos as usize] = 0.0;
                dist[unk as usize] = 0.0;
                if temperature != 1.0 {
                    // Relative to the likeliest word, so that a low temperature cannot
                    // underflow every weight to 0.
                    let top = dist.iter().cloned().fold(0.0, f64::max);
                    dist.iter_mut()
                        .for_each(|p| *p = (*p / top).powf(1.0 / temperature));
                }
                let total: f64 = dist.iter().sum();
                let mut r = rng.gen_range(0.0..total);
                let mut pick = eos;
                for (w, &p) in dist.iter().enumerate() {
                    if r < p {
                        pick = w as u32;
                        break;
                    }
                    r -= p;
                }
                if pick == eos {
                    break;
                }
                words.push(&self.words[pick as usize]);
                ctx.push(pick);
            }
            out.push(words.join(" "));
        }
        out
    }

    /// The model as an ARPA file.
    pub fn to_arpa(&self) -> String {
        let mut out = String::from("\\data\\\n");
        for (n, g) in self.grams.iter().enumerate() {
            let _ = writeln!(out, "ngram {}={}", n + 1, g.len());
        }
        for (n, g) in self.grams.iter().enumerate() {
            let _ = write!(out, "\n\\{}-grams:\n", n + 1);
            // In a stable order: by their words.
            let sorted: BTreeMap<String, &Entry> = g
                .iter()
                .map(|(k, e)| {
                    let ws: Vec<&str> =
                        k.iter().map(|&i| self.words[i as usize].as_str()).collect();
                    (ws.join(" "), e)
                })
                .collect();
            for (ws, e) in sorted {
                if n + 1 < self.order() {
                    let _ = writeln!(out, "{}\t{ws}\t{}", fmt(e.log_p), fmt(e.backoff));
                } else {
                    let _ = writeln!(out, "{}\t{ws}", fmt(e.log_p));
                }
            }
        }
        out.push_str("\n\\end\\\n");
        out
    }

    /// A model from an ARPA file's text (anything before `\data\` is skipped; a missing
    /// back-off is 0).
    pub fn from_arpa(text: &str) -> Result<NgramLm> {
        arpa::parse(text)
    }

    /// The model around given entries (what an ARPA file holds).
    fn from_entries(words: Words, grams: Vec<HashMap<Vec<u32>, Entry>>) -> NgramLm {
        NgramLm {
            words: words.list,
            ids: words.ids,
            grams,
            discounts: Vec::new(),
        }
    }

    /// The n-gram `ws` (words) and its entry, if the model has it.
    pub fn entry(&self, ws: &[&str]) -> Option<Entry> {
        let g: Option<Vec<u32>> = ws.iter().map(|w| self.ids.get(*w).copied()).collect();
        self.grams.get(ws.len().checked_sub(1)?)?.get(&g?).copied()
    }

    /// How many n-grams of each order.
    pub fn sizes(&self) -> Vec<usize> {
        self.grams.iter().map(HashMap::len).collect()
    }
}

/// A model's words and their ids, `<unk>`, `<s>` and `</s>` first.
struct Words {
    list: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Words {
    fn new() -> Words {
        let mut w = Words {
            list: Vec::new(),
            ids: HashMap::new(),
        };
        for s in [UNK, BOS, EOS] {
            w.intern(s);
        }
        w
    }

    /// The id of `w`, a new one if it has none yet.
    fn intern(&mut self, w: &str) -> u32 {
        if let Some(&id) = self.ids.get(w) {
            return id;
        }
        let id = self.list.len() as u32;
        self.list.push(w.to_string());
        self.ids.insert(w.to_string(), id);
        id
    }
}

/// Each context's listed continuations (word, probability), per order.
type Continuations<'a> = Vec<HashMap<&'a [u32], Vec<(u32, f64)>>>;

/// A log10 value as KenLM prints it.
fn fmt(x: f64) -> String {
    let s = format!("{x:.8}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// The discounts of one order from its (adjusted) counts; the fallback where the closed form
/// fails.
fn discounts_of(counts: &HashMap<Vec<u32>, u64>) -> ([f64; 3], bool) {
    let mut n = [0f64; 5];
    for &c in counts.values() {
        if (1..=4).contains(&c) {
            n[c as usize] += 1.0;
        }
    }
    let fallback = ([0.5, 1.0, 1.5], true);
    if n[1..=4].contains(&0.0) {
        return fallback;
    }
    let y = n[1] / (n[1] + 2.0 * n[2]);
    let d: Vec<f64> = (1..=3)
        .map(|j| j as f64 - (j + 1) as f64 * y * n[j + 1] / n[j])
        .collect();
    if d.iter()
        .enumerate()
        .any(|(j, &x)| !(0.0..=(j + 1) as f64).contains(&x))
    {
        return fallback;
    }
    ([d[0], d[1], d[2]], false)
}

/// The interpolated probabilities and back-offs of every n-gram, from the (adjusted) counts.
fn interpolate(
    counts: &[HashMap<Vec<u32>, u64>],
    discounts: &[([f64; 3], bool)],
    vocab_size: f64,
    [unk, bos, eos]: [u32; 3],
) -> Vec<HashMap<Vec<u32>, Entry>> {
    let order = counts.len();
    // Per order: each context's denominator and gamma.
    let mut gammas: Vec<HashMap<Vec<u32>, (f64, f64)>> = Vec::new();
    for (n, c) in counts.iter().enumerate() {
        let d = discounts[n].0;
        let mut per: HashMap<Vec<u32>, (f64, [f64; 3])> = HashMap::new();
        for (g, &a) in c {
            let e = per.entry(g[..g.len() - 1].to_vec()).or_default();
            e.0 += a as f64;
            e.1[(a.min(3) - 1) as usize] += 1.0;
        }
        gammas.push(
            per.into_iter()
                .map(|(h, (denom, nj))| {
                    let g = (d[0] * nj[0] + d[1] * nj[1] + d[2] * nj[2]) / denom;
                    (h, (denom, g))
                })
                .collect(),
        );
    }
    let discount = |n: usize, a: u64| discounts[n].0[(a.min(3) - 1) as usize];
    // Probabilities, bottom up (each order interpolates with the one below).
    let mut probs: Vec<HashMap<Vec<u32>, f64>> = Vec::new();
    let uniform = 1.0 / vocab_size;
    let mut uni: HashMap<Vec<u32>, f64> = HashMap::new();
    let (denom0, gamma0) = gammas[0].get(&Vec::new()).copied().unwrap_or((1.0, 1.0));
    for (g, &a) in &counts[0] {
        uni.insert(
            g.clone(),
            (a as f64 - discount(0, a)) / denom0 + gamma0 * uniform,
        );
    }
    uni.insert(vec![unk], gamma0 * uniform);
    probs.push(uni);
    for n in 1..order {
        let mut p = HashMap::new();
        for (g, &a) in &counts[n] {
            let (denom, gamma) = gammas[n][&g[..g.len() - 1]];
            let lower = probs[n - 1].get(&g[1..]).copied().unwrap_or(0.0);
            p.insert(
                g.clone(),
                (a as f64 - discount(n, a)) / denom + gamma * lower,
            );
        }
        probs.push(p);
    }
    // Entries: log10 p (<s> gets 1), and each context's log10 gamma as its back-off.
    let mut out: Vec<HashMap<Vec<u32>, Entry>> = Vec::new();
    for (n, p) in probs.into_iter().enumerate() {
        let mut m: HashMap<Vec<u32>, Entry> = p
            .into_iter()
            .map(|(g, pr)| {
                let backoff = match gammas.get(n + 1).and_then(|x| x.get(&g)) {
                    Some(&(_, gamma)) if g != [eos] && g != [unk] => gamma.log10(),
                    _ => 0.0,
                };
                (
                    g,
                    Entry {
                        log_p: pr.log10().min(0.0),
                        backoff,
                    },
                )
            })
            .collect();
        if n == 0 {
            let backoff = gammas
                .get(1)
                .and_then(|x| x.get(&vec![bos]))
                .map_or(0.0, |&(_, g)| g.log10());
            m.insert(
                vec![bos],
                Entry {
                    log_p: 0.0,
                    backoff,
                },
            );
        }
        out.push(m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// KenLM's own test data (lm/common/test_data: `lmplz --discount_fallback -o 3` on two
    /// lines); the numbers quoted from its toy0.arpa.
    #[test]
    fn the_toy_corpus_gives_kenlms_numbers() {
        let lm = NgramLm::estimate(&lines(&["a a b a", "b a a b"]), 3).unwrap();
        let close = |ws: &[&str], want: f64| {
            let e = lm.entry(ws).unwrap_or_else(|| panic!("{ws:?} missing"));
            assert!(
                (e.log_p - want).abs() < 5e-8,
                "{ws:?}: {} vs {want}",
                e.log_p
            );
        };
        close(&["<unk>"], -0.90309);
        close(&["a"], -0.46943438);
        close(&["</s>"], -0.5720968);
        close(&["b"], -0.5720968);
        let s = lm.entry(&["<s>"]).unwrap();
        assert_eq!(s.log_p, 0.0);
        assert!(
            (s.backoff + std::f64::consts::LOG10_2).abs() < 5e-6,
            "{}",
            s.backoff
        );
        assert_eq!(lm.sizes().iter().sum::<usize>(), 19);
        assert!(
            lm.discounts.iter().all(|d| d.1),
            "the toy corpus needs the fallback"
        );
    }

    #[test]
    fn arpa_round_trips_and_probabilities_sum_to_one() {
        let text = lines(&[
            "the cat sat on the mat",
            "the dog sat",
            "a cat and a dog",
            "the mat",
        ]);
        let lm = NgramLm::estimate(&text, 3).unwrap();
        let back = NgramLm::from_arpa(&lm.to_arpa()).unwrap();
        for l in &text {
            let (a, b) = (lm.score(l).0, back.score(l).0);
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-7);
            }
        }
        // After any context, the probabilities of every word (and </s>, <unk>) sum to 1.
        let ids: Vec<u32> = (0..lm.words.len() as u32)
            .filter(|&i| lm.words[i as usize] != BOS)
            .collect();
        for ctx in [
            vec![lm.ids[BOS]],
            vec![lm.ids["the"], lm.ids["cat"]],
            vec![lm.ids["dog"]],
        ] {
            let total: f64 = ids
                .iter()
                .map(|&w| 10f64.powf(lm.log10_prob(&ctx, w)))
                .sum();
            assert!((total - 1.0).abs() < 1e-9, "{ctx:?}: {total}");
        }
        assert!(NgramLm::estimate(&text, 0).is_err() && NgramLm::estimate(&text, 10).is_err());
        // Samples are sentences of the vocabulary; at a low temperature, the likeliest one.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let s = lm.sample(50, (1.0, 20), &mut rng);
        assert!(s.iter().all(|l| l
            .split_whitespace()
            .all(|w| lm.ids.contains_key(w) && w != BOS)));
        let cold = lm.sample(5, (0.01, 20), &mut rng);
        assert!(cold.iter().all(|l| l == &cold[0]), "{cold:?}");
    }
}
