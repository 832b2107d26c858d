//! EDA (Wei and Zou, EMNLP 2019, jasonwei20/eda_nlp): four cheap edits of a sentence, as its
//! `eda.py` makes them.
//!
//! - synonym replacement: `max(1, alpha_sr * words)` distinct non-stop words, each replaced
//!   everywhere by a random synonym;
//! - random insertion: `max(1, alpha_ri * words)` times, the nearest synonym of a random word
//!   (up to ten tries to find one that has any) inserted at a random place;
//! - random swap: `max(1, alpha_rs * words)` swaps of two random positions;
//! - random deletion: each word dropped with probability `p_rd`, one kept if all would go.
//!
//! For `n` new sentences each operation makes `n / 4 + 1`; they are shuffled and the first `n`
//! kept, as eda.py does. Differences: synonyms come from an embedding ([`super::synonyms`]),
//! not WordNet; the sentence is split on whitespace and kept as written (eda.py keeps only
//! lower-case letters), and a replaced word keeps its capital. Sentences equal to the original
//! are dropped by the caller.
use super::synonyms::Synonyms;
use rand::seq::SliceRandom;
use rand::Rng;

/// eda.py's stop words, never replaced by synonyms.
pub const STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "should",
    "now",
];

/// Whether a word may be replaced: alphabetic and not a stop word (compared lower-cased).
pub fn replaceable(word: &str) -> bool {
    word.chars().all(char::is_alphabetic)
        && !word.is_empty()
        && !STOP_WORDS.contains(&word.to_lowercase().as_str())
}

/// EDA's strengths; eda.py's defaults are 0.1 each. An operation at 0 is not used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eda {
    pub alpha_sr: f64,
    pub alpha_ri: f64,
    pub alpha_rs: f64,
    pub p_rd: f64,
}

impl Default for Eda {
    fn default() -> Self {
        Eda {
            alpha_sr: 0.1,
            alpha_ri: 0.1,
            alpha_rs: 0.1,
            p_rd: 0.1,
        }
    }
}

impl Eda {
    /// Refuses strengths outside [0, 1] and all four at 0.
    pub fn validate(&self) -> Result<(), String> {
        let all = [
            ("alpha-sr", self.alpha_sr),
            ("alpha-ri", self.alpha_ri),
            ("alpha-rs", self.alpha_rs),
            ("p-rd", self.p_rd),
        ];
        for (name, x) in all {
            if !(0.0..=1.0).contains(&x) {
                return Err(format!("--{name} {x}: give a number in [0, 1]"));
            }
        }
        if all.iter().all(|(_, x)| *x == 0.0) {
            return Err("every EDA operation is off (all four strengths are 0)".into());
        }
        Ok(())
    }

    /// Up to `n` edited copies of `sentence` (fewer when it has no words).
    pub fn augment(
        &self,
        sentence: &str,
        n: usize,
        syn: &Synonyms,
        rng: &mut impl Rng,
    ) -> Vec<String> {
        let words: Vec<&str> = sentence.split_whitespace().collect();
        if words.is_empty() || n == 0 {
            return Vec::new();
        }
        let per = n / 4 + 1;
        let count = |alpha: f64| ((alpha * words.len() as f64) as usize).max(1);
        let mut out: Vec<Vec<String>> = Vec::new();
        let owned: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        if self.alpha_sr > 0.0 {
            let k = count(self.alpha_sr);
            out.extend((0..per).map(|_| replace(&owned, k, syn, rng)));
        }
        if self.alpha_ri > 0.0 {
            let k = count(self.alpha_ri);
            out.extend((0..per).map(|_| insert(&owned, k, syn, rng)));
        }
        if self.alpha_rs > 0.0 {
            let k = count(self.alpha_rs);
            out.extend((0..per).map(|_| swap(&owned, k, rng)));
        }
        if self.p_rd > 0.0 {
            out.extend((0..per).map(|_| delete(&owned, self.p_rd, rng)));
        }
        out.shuffle(rng);
        out.truncate(n);
        out.into_iter().map(|w| w.join(" ")).collect()
    }
}

/// `synonym` written with `like`'s leading capital.
fn cased(synonym: &str, like: &str) -> String {
    match like.chars().next() {
        Some(c) if c.is_uppercase() => {
            let mut s = synonym.chars();
            s.next()
                .map(|f| f.to_uppercase().chain(s).collect())
                .unwrap_or_default()
        }
        _ => synonym.to_string(),
    }
}

fn replace(words: &[String], n: usize, syn: &Synonyms, rng: &mut impl Rng) -> Vec<String> {
    let mut out = words.to_vec();
    let mut candidates: Vec<String> = words
        .iter()
        .filter(|w| replaceable(w))
        .map(|w| w.to_lowercase())
        .collect();
    candidates.sort();
    candidates.dedup();
    candidates.shuffle(rng);
    let mut replaced = 0;
    for word in candidates {
        if let Some(pick) = syn.of(&word).choose(rng) {
            for w in out.iter_mut().filter(|w| w.to_lowercase() == word) {
                *w = cased(pick, w);
            }
            replaced += 1;
        }
        if replaced >= n {
            break;
        }
    }
    out
}

fn insert(words: &[String], n: usize, syn: &Synonyms, rng: &mut impl Rng) -> Vec<String> {
    let mut out = words.to_vec();
    for _ in 0..n {
        for _ in 0..10 {
            let word = &out[rng.gen_range(0..out.len())];
            if let Some(first) = syn.of(word).first().cloned() {
                let at = rng.gen_range(0..out.len());
                out.insert(at, first);
                break;
            }
        }
    }
    out
}

fn swap(words: &[String], n: usize, rng: &mut impl Rng) -> Vec<String> {
    let mut out = words.to_vec();
    for _ in 0..n {
        let a = rng.gen_range(0..out.len());
        // eda.py gives up after four draws of the same position.
        if let Some(b) = (0..4)
            .map(|_| rng.gen_range(0..out.len()))
            .find(|&b| b != a)
        {
            out.swap(a, b);
        }
    }
    out
}

fn delete(words: &[String], p: f64, rng: &mut impl Rng) -> Vec<String> {
    if words.len() == 1 {
        return words.to_vec();
    }
    let kept: Vec<String> = words
        .iter()
        .filter(|_| rng.gen::<f64>() > p)
        .cloned()
        .collect();
    match kept.is_empty() {
        true => vec![words[rng.gen_range(0..words.len())].clone()],
        false => kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashMap;

    fn syn() -> Synonyms {
        let mut m = HashMap::new();
        m.insert("film".to_string(), vec!["movie".to_string()]);
        m.insert("great".to_string(), vec!["excellent".to_string()]);
        Synonyms::from_map(m)
    }

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn each_operation_does_what_eda_py_does() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let s = words("Film is a great film");
        // Synonym replacement: every occurrence, capital kept; stop words untouched.
        let r = replace(&s, 2, &syn(), &mut rng);
        assert_eq!(r.join(" "), "Movie is a excellent movie");
        // Insertion adds the nearest synonym of a word that has one.
        let i = insert(&s, 1, &syn(), &mut rng);
        assert_eq!(i.len(), 6);
        assert!(i.contains(&"movie".to_string()) || i.contains(&"excellent".to_string()));
        // A swap keeps the multiset of words.
        let mut w = swap(&s, 3, &mut rng);
        w.sort();
        let mut sorted = s.clone();
        sorted.sort();
        assert_eq!(w, sorted);
        // Deletion at p = 1 keeps one word; at 0 all of them.
        assert_eq!(delete(&s, 1.0, &mut rng).len(), 1);
        assert_eq!(delete(&s, 0.0, &mut rng), s);
        assert_eq!(delete(&words("one"), 1.0, &mut rng), words("one"));
    }

    #[test]
    fn n_sentences_from_the_enabled_operations_and_the_same_seed_gives_the_same() {
        let eda = Eda::default();
        let run = |seed| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            eda.augment("a great film about the sea", 9, &syn(), &mut rng)
        };
        assert_eq!(run(3).len(), 9);
        assert_eq!(run(3), run(3));
        let only_swap = Eda {
            alpha_sr: 0.0,
            alpha_ri: 0.0,
            p_rd: 0.0,
            alpha_rs: 0.5,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        // n / 4 + 1 per operation: one operation on gives at most 3 for n = 9.
        assert_eq!(only_swap.augment("a b c d", 9, &syn(), &mut rng).len(), 3);
        assert!(Eda::default().augment("", 4, &syn(), &mut rng).is_empty());
        let off = Eda {
            alpha_sr: 0.0,
            alpha_ri: 0.0,
            alpha_rs: 0.0,
            p_rd: 0.0,
        };
        assert!(off.validate().is_err());
        let bad = Eda {
            p_rd: 1.5,
            ..Eda::default()
        };
        assert!(bad.validate().unwrap_err().contains("p-rd"));
    }
}
