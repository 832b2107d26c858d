//! BLEU and Self-BLEU exactly as nltk's `sentence_bleu` computes them (uniform weights,
//! `SmoothingFunction().method1`), over every hypothesis and every reference.
//!
//! The references are the same for every hypothesis, so they are read once into an n-gram
//! index: for each n-gram, the largest count in any one reference (what clipping needs) and,
//! for Self-BLEU, the second largest, so that "all references but my own sentence" costs one
//! comparison. Reference lengths are kept as a sorted histogram for the brevity penalty.
//! Scoring a hypothesis is then a few hash look-ups per n-gram, in parallel over hypotheses.
use crate::error::{Error, Result};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::collections::HashMap;

/// Highest n-gram order supported.
pub const MAX_ORDER: usize = 5;
/// nltk's method1 epsilon: a zero match count becomes 0.1 / (number of hypothesis n-grams).
const EPSILON: f64 = 0.1;
const BITS: u32 = 24;

/// How the text metrics cut sentences into tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Tokenize {
    /// Whitespace-separated words, as Python's `str.split()` (nltk's protocol).
    #[default]
    Whitespace,
    /// Characters, whitespace left out (text written without spaces, such as Chinese).
    Chars,
}

impl Tokenize {
    /// As a run's tokenizer cuts its text.
    pub fn of(t: crate::data::Tokenizer) -> Self {
        // Text of subword runs is scored in words, as written.
        match t {
            crate::data::Tokenizer::Char => Tokenize::Chars,
            _ => Tokenize::Whitespace,
        }
    }

    /// The tokens' name in a metric's protocol.
    pub fn describe(self) -> &'static str {
        match self {
            Tokenize::Whitespace => "whitespace tokens",
            Tokenize::Chars => "character tokens (whitespace dropped)",
        }
    }
}

/// Sentences as token ids (tokens interned).
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<String, u32>,
    mode: Tokenize,
}

impl Interner {
    /// An interner that cuts sentences as `mode` says.
    pub fn new(mode: Tokenize) -> Self {
        Interner {
            ids: HashMap::new(),
            mode,
        }
    }

    /// Cuts `line` into tokens and interns them.
    pub fn tokenize(&mut self, line: &str) -> Result<Vec<u32>> {
        let mut buf = [0u8; 4];
        let tokens: Vec<&str> = match self.mode {
            Tokenize::Whitespace => line.split_whitespace().collect(),
            Tokenize::Chars => line
                .char_indices()
                .filter(|(_, c)| !c.is_whitespace())
                .map(|(i, c)| &line[i..i + c.encode_utf8(&mut buf).len()])
                .collect(),
        };
        tokens
            .into_iter()
            .map(|w| {
                let next = self.ids.len() as u32;
                let id = *self.ids.entry(w.to_string()).or_insert(next);
                if id >= (1 << BITS) - 1 {
                    return Err(Error::Eval(format!(
                        "more than {} distinct tokens",
                        (1u32 << BITS) - 2
                    )));
                }
                Ok(id)
            })
            .collect()
    }

    pub fn tokenize_all(&mut self, lines: &[String]) -> Result<Vec<Vec<u32>>> {
        lines.iter().map(|l| self.tokenize(l)).collect()
    }
}

/// An n-gram of up to five ids packed into one integer (ids + 1, 24 bits each).
#[inline]
fn key(gram: &[u32]) -> u128 {
    gram.iter()
        .fold(0u128, |k, &id| (k << BITS) | (id as u128 + 1))
}

/// Counts of each n-gram of order `n` in one sentence.
fn counts(sent: &[u32], n: usize) -> FxHashMap<u128, u32> {
    let mut c = FxHashMap::default();
    if sent.len() >= n {
        for g in sent.windows(n) {
            *c.entry(key(g)).or_insert(0) += 1;
        }
    }
    c
}

/// The largest and second-largest count of an n-gram over the references (as a multiset).
#[derive(Debug, Clone, Copy, Default)]
struct Top2 {
    first: u32,
    second: u32,
}

impl Top2 {
    fn push(&mut self, c: u32) {
        if c > self.first {
            self.second = self.first;
            self.first = c;
        } else if c > self.second {
            self.second = c;
        }
    }
}

/// Reference lengths as a sorted histogram.
#[derive(Debug)]
struct Lengths {
    sorted: Vec<(usize, usize)>, // (length, how many references)
}

impl Lengths {
    fn new(refs: &[Vec<u32>]) -> Self {
        let mut h: std::collections::BTreeMap<usize, usize> = Default::default();
        for r in refs {
            *h.entry(r.len()).or_insert(0) += 1;
        }
        Lengths {
            sorted: h.into_iter().collect(),
        }
    }

    /// nltk's `closest_ref_length`: the nearest length, the shorter on a tie; `exclude` removes
    /// one reference of that length (the hypothesis itself, for Self-BLEU).
    fn closest(&self, hyp: usize, exclude: Option<usize>) -> Option<usize> {
        let present = |i: usize| {
            let (len, n) = self.sorted[i];
            n > usize::from(exclude == Some(len))
        };
        let at = self.sorted.partition_point(|&(l, _)| l < hyp);
        let below = (0..at)
            .rev()
            .find(|&i| present(i))
            .map(|i| self.sorted[i].0);
        let above = (at..self.sorted.len())
            .find(|&i| present(i))
            .map(|i| self.sorted[i].0);
        match (below, above) {
            (Some(b), Some(a)) => Some(if a - hyp < hyp - b { a } else { b }),
            (b, a) => b.or(a),
        }
    }
}

/// The reference side of BLEU, built once.
#[derive(Debug)]
pub struct ReferenceIndex {
    max_n: usize,
    grams: Vec<FxHashMap<u128, Top2>>, // per order 1..=max_n
    lengths: Lengths,
    size: usize,
}

impl ReferenceIndex {
    pub fn new(refs: &[Vec<u32>], max_n: usize) -> Self {
        assert!((1..=MAX_ORDER).contains(&max_n));
        let grams = (1..=max_n)
            .into_par_iter()
            .map(|n| {
                let mut top: FxHashMap<u128, Top2> = FxHashMap::default();
                for r in refs {
                    for (k, c) in counts(r, n) {
                        top.entry(k).or_default().push(c);
                    }
                }
                top
            })
            .collect();
        ReferenceIndex {
            max_n,
            grams,
            lengths: Lengths::new(refs),
            size: refs.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// BLEU-1..=max_n of one hypothesis. `own` marks the hypothesis as one of the references
    /// (Self-BLEU): its own counts and length are left out.
    fn score(&self, hyp: &[u32], own: bool) -> Vec<f64> {
        let mut matched = [0u64; MAX_ORDER];
        let mut total = [0u64; MAX_ORDER];
        for n in 1..=self.max_n {
            let c = counts(hyp, n);
            let index = &self.grams[n - 1];
            for (k, &count) in &c {
                let max_ref = match index.get(k) {
                    Some(t) if own && count == t.first => t.second,
                    Some(t) => t.first,
                    None => 0,
                };
                matched[n - 1] += u64::from(count.min(max_ref));
                total[n - 1] += u64::from(count);
            }
        }
        let hyp_len = hyp.len();
        let closest = self.lengths.closest(hyp_len, own.then_some(hyp_len));
        let bp = match closest {
            _ if hyp_len == 0 => 0.0,
            Some(r) if hyp_len > r => 1.0,
            None => 1.0,
            Some(r) => (1.0 - r as f64 / hyp_len as f64).exp(),
        };
        (1..=self.max_n)
            .map(|order| {
                if matched[0] == 0 {
                    return 0.0; // nltk: no unigram match at all scores 0
                }
                let w = 1.0 / order as f64;
                let log_sum: f64 = (0..order)
                    .map(|i| {
                        let den = total[i].max(1) as f64;
                        let p = if matched[i] == 0 {
                            EPSILON / den
                        } else {
                            matched[i] as f64 / den
                        };
                        w * p.ln()
                    })
                    .sum();
                bp * log_sum.exp()
            })
            .collect()
    }
}

/// Mean BLEU-1..=max_n of `hyps` against all of `refs` (entry n-1 is BLEU-n).
pub fn bleu(hyps: &[Vec<u32>], index: &ReferenceIndex) -> Vec<f64> {
    mean_of(score_sums(hyps, 0..hyps.len(), index, false), hyps.len())
}

/// Mean Self-BLEU-1..=max_n: each sample against all the other samples.
pub fn self_bleu(samples: &[Vec<u32>], max_n: usize) -> Vec<f64> {
    let index = ReferenceIndex::new(samples, max_n);
    mean_of(
        score_sums(samples, 0..samples.len(), &index, true),
        samples.len(),
    )
}

/// The means of `n` hypotheses' scores from their [`score_sums`]; NaN for none.
pub fn mean_of(sums: Vec<f64>, n: usize) -> Vec<f64> {
    match n {
        0 => vec![f64::NAN; sums.len()],
        n => sums.into_iter().map(|s| s / n as f64).collect(),
    }
}

/// Sums of BLEU-1..=max_n over hypotheses `rows` of `hyps` against `index`; with `own`, the
/// index holds `hyps` themselves and each leaves itself out (Self-BLEU). Divided by the
/// number of hypotheses, the sums over a split of `0..hyps.len()` give [`bleu`] and
/// [`self_bleu`] (processes that share the scoring add theirs up).
pub fn score_sums(
    hyps: &[Vec<u32>],
    rows: std::ops::Range<usize>,
    index: &ReferenceIndex,
    own: bool,
) -> Vec<f64> {
    let per: Vec<Vec<f64>> = hyps[rows].par_iter().map(|h| index.score(h, own)).collect();
    (0..index.max_n)
        .map(|i| per.iter().map(|s| s[i]).sum::<f64>())
        .collect()
}

/// BLEU-1..=max_n of each hypothesis (for tests and per-sentence output).
pub fn sentence_scores(hyps: &[Vec<u32>], index: &ReferenceIndex) -> Vec<Vec<f64>> {
    hyps.par_iter().map(|h| index.score(h, false)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Inputs and expected values: tests/fixtures/bleu_nltk.py (nltk 3.10.4, Python 3.11).
    const REFS: [&str; 6] = [
        "a man riding a wave on top of a surfboard",
        "a cat sitting on a couch",
        "two dogs play in the snow",
        "a man is riding a horse on the beach",
        "",
        "a kitchen with a stove",
    ];
    const HYPS: [&str; 8] = [
        "a man riding a horse on the beach",
        "a cat",
        "zebra giraffe",
        "a dog sitting in the snow .",
        "a man on a",
        "",
        "two dogs play",
        "a cat sitting on a couch",
    ];
    const SAMPLES: [&str; 6] = [
        "a man riding a horse",
        "a man riding a horse",
        "a cat on a couch",
        "the dog in the snow",
        "a man on a couch",
        "bananas",
    ];

    #[rustfmt::skip]
    const NLTK_BLEU: [[f64; 8]; 4] = [
        [0.8824969025845955, 1.0, 0.0, 0.48795003647426655, 0.6358881766016378, 0.0, 0.513417119032592, 1.0],
        [0.8824969025845955, 0.464158883361278, 0.0, 0.3624601243342975, 0.25064129625933107, 0.0, 0.513417119032592, 1.0],
        [0.8346140405906742, 0.316227766016838, 0.0, 0.18575057999133598, 0.18713114109010565, 0.0, 0.288715663092199, 1.0],
        [0.7347256267690233, 0.251188643150958, 0.0, 0.13174067728626154, 0.1570370501072951, 0.0, 0.2043950365717933, 1.0],
    ];
    const NLTK_SELF_BLEU: [f64; 4] = [
        0.5830801559696858,
        0.5234722466460787,
        0.4366856992430152,
        0.4157126359273726,
    ];

    fn lines(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn sentence_bleu_matches_nltk_with_edge_cases() {
        let mut int = Interner::default();
        let refs = int.tokenize_all(&lines(&REFS)).unwrap();
        let hyps = int.tokenize_all(&lines(&HYPS)).unwrap();
        let index = ReferenceIndex::new(&refs, 5);
        let per = sentence_scores(&hyps, &index);
        for (order, expected) in (2..=5).zip(NLTK_BLEU) {
            for (h, want) in expected.iter().enumerate() {
                let got = per[h][order - 1];
                assert!(
                    (got - want).abs() < 1e-9,
                    "BLEU-{order} of {:?}: {got} vs nltk {want}",
                    HYPS[h]
                );
            }
            let mean = bleu(&hyps, &index)[order - 1];
            let want_mean = expected.iter().sum::<f64>() / expected.len() as f64;
            assert!((mean - want_mean).abs() < 1e-9);
        }
    }

    #[test]
    fn self_bleu_matches_nltk_with_duplicates() {
        let samples = Interner::default().tokenize_all(&lines(&SAMPLES)).unwrap();
        let got = self_bleu(&samples, 5);
        for (order, want) in (2..=5).zip(NLTK_SELF_BLEU) {
            assert!(
                (got[order - 1] - want).abs() < 1e-9,
                "Self-BLEU-{order}: {} vs nltk {want}",
                got[order - 1]
            );
        }
    }

    #[test]
    fn closest_length_prefers_the_shorter_on_ties_and_can_exclude_one() {
        let refs: Vec<Vec<u32>> = [3usize, 5, 5, 9].iter().map(|&n| vec![0; n]).collect();
        let l = Lengths::new(&refs);
        assert_eq!(l.closest(4, None), Some(3));
        assert_eq!(l.closest(5, Some(5)), Some(5)); // one of two length-5 references remains
        assert_eq!(l.closest(9, Some(9)), Some(5));
        assert_eq!(l.closest(7, None), Some(5));
        assert_eq!(l.closest(100, None), Some(9));
    }
}
