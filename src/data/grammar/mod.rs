//! A probabilistic context-free grammar: the built-in benchmark's source of sentences, and an
//! exact judge of generated ones.
//!
//! Because the grammar is known, its metrics are exact where BLEU only approximates: the
//! probability of a sentence under the grammar (the inside algorithm), whether the grammar
//! derives it at all, and fresh samples to measure a model's coverage on.
//!
//! Format (docs/GRAMMAR.md): one rule a line, `Lhs -> alternative | alternative ...`, a line
//! starting with `|` continuing the rule above; `#` starts a comment. A symbol starting with an
//! upper-case letter is a nonterminal, anything else a word. An alternative may end in a
//! weight `[w]` (default 1); each nonterminal's weights are normalised (values all at most 1
//! are read as probabilities, and a warning names a nonterminal whose do not sum to one). The first rule's
//! left side is the start symbol. Empty alternatives and cycles of single-nonterminal rules
//! are refused, and so are nonterminals without rules or that derive no sentence.
mod inside;

use crate::error::{Error, Result};
use inside::{binarise, Inside};
use rand::Rng;
use std::collections::HashMap;

/// The built-in grammar of scene descriptions (`grammars/scenes.pcfg`).
pub const SCENES: &str = include_str!("../../../grammars/scenes.pcfg");

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Sym {
    N(usize),
    T(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub lhs: usize,
    pub rhs: Vec<Sym>,
    pub p: f64,
}

/// A parsed, checked grammar.
#[derive(Debug, Clone)]
pub struct Grammar {
    nonterminals: Vec<String>,
    words: Vec<String>,
    word_ids: HashMap<String, usize>,
    /// Rules by left side.
    rules: Vec<Vec<Rule>>,
    /// The binarised form for the inside algorithm.
    inside: Inside,
    /// Notes for the user (weights that were normalised).
    pub warnings: Vec<String>,
}

fn syntax(line: usize, msg: impl std::fmt::Display) -> Error {
    Error::Config(format!("grammar line {line}: {msg}"))
}

impl Grammar {
    /// Parses and checks `text`; `origin` names it in messages.
    pub fn parse(text: &str) -> Result<Grammar> {
        let mut nt: Vec<String> = Vec::new();
        let mut nt_ids: HashMap<String, usize> = HashMap::new();
        let mut words: Vec<String> = Vec::new();
        let mut word_ids: HashMap<String, usize> = HashMap::new();
        let mut raw: Vec<RawRule> = Vec::new();
        let mut used_at: HashMap<usize, usize> = HashMap::new();
        let mut current: Option<usize> = None;
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (lhs, body) = if let Some(rest) = line.strip_prefix('|') {
                let lhs = current.ok_or_else(|| syntax(n, "`|` continues no rule"))?;
                (lhs, rest)
            } else {
                let (l, r) = line
                    .split_once("->")
                    .ok_or_else(|| syntax(n, "expected `Nonterminal -> symbols`"))?;
                let l = l.trim();
                if l.is_empty() || l.contains(char::is_whitespace) || !is_nt(l) {
                    return Err(syntax(
                        n,
                        format!(
                            "`{l}` is not a nonterminal (they start with an upper-case letter)"
                        ),
                    ));
                }
                let id = intern(&mut nt, &mut nt_ids, l);
                current = Some(id);
                (id, r)
            };
            for alt in body.split('|') {
                let (rhs, weight, explicit) =
                    parse_alternative(alt, n, &mut nt, &mut nt_ids, &mut words, &mut word_ids)?;
                for s in &rhs {
                    if let Sym::N(id) = s {
                        used_at.entry(*id).or_insert(n);
                    }
                }
                raw.push((lhs, rhs, weight, explicit, n));
            }
        }
        if nt.is_empty() {
            return Err(Error::Config("grammar: no rules".into()));
        }
        let (rules, warnings) = normalise(&nt, &raw, &used_at)?;
        check_productive(&nt, &rules)?;
        let inside = binarise(&nt, &rules, words.len())?;
        Ok(Grammar {
            nonterminals: nt,
            words,
            word_ids,
            rules,
            inside,
            warnings,
        })
    }

    /// The words the grammar uses (its vocabulary).
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// Its nonterminals, the start symbol first.
    pub fn nonterminals(&self) -> &[String] {
        &self.nonterminals
    }

    /// How many rules (alternatives) it has.
    pub fn num_rules(&self) -> usize {
        self.rules.iter().map(Vec::len).sum()
    }

    /// One sentence drawn top-down from the start symbol; `None` past `max_words` words.
    pub fn sample(&self, rng: &mut impl Rng, max_words: usize) -> Option<Vec<&str>> {
        let mut out = Vec::new();
        let mut stack = vec![Sym::N(0)];
        while let Some(s) = stack.pop() {
            match s {
                Sym::T(w) => {
                    out.push(self.words[w].as_str());
                    if out.len() > max_words {
                        return None;
                    }
                }
                Sym::N(a) => {
                    let mut u: f64 = rng.gen();
                    let rules = &self.rules[a];
                    let mut pick = &rules[rules.len() - 1];
                    for r in rules {
                        if u < r.p {
                            pick = r;
                            break;
                        }
                        u -= r.p;
                    }
                    stack.extend(pick.rhs.iter().rev().copied());
                    if stack.len() > 4 * max_words + 64 {
                        return None;
                    }
                }
            }
        }
        Some(out)
    }

    /// `n` sentences of at most `max_words` words (longer draws are redrawn), as text. A
    /// grammar whose sentences are almost never that short is an error, not a hang.
    pub fn sample_lines(
        &self,
        rng: &mut impl Rng,
        n: usize,
        max_words: usize,
    ) -> Result<Vec<String>> {
        let mut out = Vec::with_capacity(n);
        let mut tries = 0usize;
        while out.len() < n {
            tries += 1;
            if tries > 1000 + 100 * n {
                return Err(Error::Data(format!(
                    "the grammar's sentences are longer than {max_words} words in all but {} of {tries} draws: raise data.max_len (or shorten the grammar's recursion)",
                    out.len()
                )));
            }
            if let Some(s) = self.sample(rng, max_words) {
                out.push(s.join(" "));
            }
        }
        Ok(out)
    }

    /// The probability that the grammar generates exactly `sentence` (the inside algorithm);
    /// 0 for a sentence it cannot derive (a word it does not know included).
    pub fn probability(&self, sentence: &[&str]) -> f64 {
        let ids: Option<Vec<usize>> = sentence
            .iter()
            .map(|w| self.word_ids.get(*w).copied())
            .collect();
        match ids {
            Some(ids) if !ids.is_empty() => self.inside.prob(&ids),
            _ => 0.0,
        }
    }

    /// Per-token negative log-probabilities of `sentences` under the grammar: the mean over
    /// the sentences it derives of -log P / (words + 1), the end counted as a token as a
    /// model's NLL counts `<eos>`; and the fraction it derives (validity). `None` for the
    /// mean when it derives none.
    pub fn score(&self, sentences: &[String]) -> (Option<f64>, f64) {
        let (mut sum, mut valid) = (0.0, 0usize);
        for s in sentences {
            let words: Vec<&str> = s.split_whitespace().collect();
            let p = self.probability(&words);
            if p > 0.0 {
                sum += -p.ln() / (words.len() + 1) as f64;
                valid += 1;
            }
        }
        let mean = (valid > 0).then(|| sum / valid as f64);
        (mean, valid as f64 / sentences.len().max(1) as f64)
    }
}

/// A rule as read: left side, right side, weight, whether the weight was written, line.
type RawRule = (usize, Vec<Sym>, f64, bool, usize);

/// One alternative of line `n`: its symbols (interned) and its weight.
fn parse_alternative(
    alt: &str,
    n: usize,
    nt: &mut Vec<String>,
    nt_ids: &mut HashMap<String, usize>,
    words: &mut Vec<String>,
    word_ids: &mut HashMap<String, usize>,
) -> Result<(Vec<Sym>, f64, bool)> {
    let alt = alt.trim();
    let (syms, weight, explicit) = match alt.rfind('[') {
        Some(b) if alt.ends_with(']') => {
            let w: f64 = alt[b + 1..alt.len() - 1]
                .trim()
                .parse()
                .map_err(|_| syntax(n, format!("bad weight `{}`", &alt[b..])))?;
            if !(w > 0.0 && w.is_finite()) {
                return Err(syntax(n, format!("weights must be positive, got {w}")));
            }
            (alt[..b].trim(), w, true)
        }
        _ => (alt, 1.0, false),
    };
    if syms.is_empty() {
        return Err(syntax(
            n,
            "an empty alternative (every alternative needs a symbol)",
        ));
    }
    let rhs = syms
        .split_whitespace()
        .map(|s| match is_nt(s) {
            true => Sym::N(intern(nt, nt_ids, s)),
            false => Sym::T(intern(words, word_ids, s)),
        })
        .collect();
    Ok((rhs, weight, explicit))
}

/// Each nonterminal's rules with their weights normalised to probabilities, and warnings for
/// probabilities that did not sum to one. A nonterminal without rules is refused.
fn normalise(
    nt: &[String],
    raw: &[RawRule],
    used_at: &HashMap<usize, usize>,
) -> Result<(Vec<Vec<Rule>>, Vec<String>)> {
    let mut rules: Vec<Vec<Rule>> = vec![Vec::new(); nt.len()];
    let mut warnings = Vec::new();
    for (a, name) in nt.iter().enumerate() {
        let mine: Vec<&RawRule> = raw.iter().filter(|r| r.0 == a).collect();
        if mine.is_empty() {
            let line = used_at.get(&a).copied().unwrap_or(0);
            return Err(syntax(line, format!("nonterminal {name} has no rules")));
        }
        let total: f64 = mine.iter().map(|r| r.2).sum();
        // Values all at most 1 read as probabilities: say so when they do not sum to one.
        // Larger ones are weights, normalised silently.
        let probabilities = mine.iter().all(|r| r.3 && r.2 <= 1.0);
        if probabilities && (total - 1.0).abs() > 1e-6 && mine.len() > 1 {
            warnings.push(format!(
                "the probabilities of {name} sum to {total}; normalised"
            ));
        }
        rules[a] = mine
            .iter()
            .map(|r| Rule {
                lhs: a,
                rhs: r.1.clone(),
                p: r.2 / total,
            })
            .collect();
    }
    Ok((rules, warnings))
}

fn is_nt(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

fn intern(list: &mut Vec<String>, ids: &mut HashMap<String, usize>, s: &str) -> usize {
    *ids.entry(s.to_string()).or_insert_with(|| {
        list.push(s.to_string());
        list.len() - 1
    })
}

/// Every nonterminal must derive some sentence (a rule set that never terminates is refused).
fn check_productive(nt: &[String], rules: &[Vec<Rule>]) -> Result<()> {
    let mut productive = vec![false; nt.len()];
    loop {
        let mut changed = false;
        for (a, rs) in rules.iter().enumerate() {
            if !productive[a]
                && rs.iter().any(|r| {
                    r.rhs.iter().all(|s| match s {
                        Sym::T(_) => true,
                        Sym::N(b) => productive[*b],
                    })
                })
            {
                productive[a] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    match productive.iter().position(|p| !p) {
        Some(a) => Err(Error::Config(format!(
            "grammar: the rules of {} never terminate (it derives no sentence)",
            nt[a]
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Every derivation of a tiny ambiguous grammar, enumerated by hand: the inside
    /// probability of each sentence is the sum over its derivations.
    #[test]
    fn inside_probabilities_equal_the_sum_over_derivations() {
        let g = Grammar::parse(
            "S -> A B [0.5] | A [0.3] | a b c [0.2]\n\
             A -> a [0.6] | a b [0.4]\n\
             B -> b c [0.7] | c [0.3]\n",
        )
        .unwrap();
        let p = |s: &str| g.probability(&s.split_whitespace().collect::<Vec<_>>());
        // "a b c": S -> A B with A -> a, B -> b c (.5 .6 .7); S -> A B with A -> a b, B -> c
        // (.5 .4 .3); S -> a b c (.2).
        let want = 0.5 * 0.6 * 0.7 + 0.5 * 0.4 * 0.3 + 0.2;
        assert!((p("a b c") - want).abs() < 1e-12, "{}", p("a b c"));
        assert!((p("a") - 0.3 * 0.6).abs() < 1e-12);
        assert!((p("a b") - 0.3 * 0.4).abs() < 1e-12);
        assert!((p("a c") - 0.5 * 0.6 * 0.3).abs() < 1e-12);
        assert_eq!(p("b"), 0.0);
        assert_eq!(p("a zebra"), 0.0);
        // The probabilities of every sentence sum to one (the language is finite).
        let all = ["a b c", "a", "a b", "a c", "a b b c"];
        let total: f64 = all.iter().map(|s| p(s)).sum::<f64>();
        assert!((total - 1.0).abs() < 1e-12, "{total}");
    }

    /// Every derivation of `symbols` (a finite grammar), as (words, probability).
    fn derivations(g: &Grammar, symbols: &[Sym]) -> Vec<(Vec<usize>, f64)> {
        let Some(i) = symbols.iter().position(|s| matches!(s, Sym::N(_))) else {
            let words = symbols.iter().map(|s| match s {
                Sym::T(w) => *w,
                Sym::N(_) => unreachable!(),
            });
            return vec![(words.collect(), 1.0)];
        };
        let Sym::N(a) = symbols[i] else {
            unreachable!()
        };
        let mut out = Vec::new();
        for r in &g.rules[a] {
            let mut next = symbols[..i].to_vec();
            next.extend(&r.rhs);
            next.extend(&symbols[i + 1..]);
            out.extend(derivations(g, &next).into_iter().map(|(w, p)| (w, p * r.p)));
        }
        out
    }

    /// Brute force: the probability of each sentence, summed over every derivation that
    /// yields it, equals the inside algorithm's, for a grammar with ambiguity, unit rules,
    /// long rules and words inside longer rules.
    #[test]
    fn inside_equals_brute_force_enumeration() {
        let g = Grammar::parse(
            "S -> Np Vp [0.6] | Np [0.1] | Np and Np Vp [0.3]\n\
             Np -> Det N [0.4] | N [0.2] | Det Adj N [0.2] | Adj N [0.1] | Det Nom [0.1]\n\
             Nom -> Adj N\n\
             Vp -> V [0.5] | V Np [0.3] | V with N [0.2]\n\
             Det -> the [0.7] | a [0.3]\n\
             Adj -> Col [0.5] | big [0.5]\n\
             Col -> red | blue\n\
             N -> dog [0.5] | cat [0.5]\n\
             V -> runs [0.5] | sees [0.5]\n",
        )
        .unwrap();
        let mut by_sentence: HashMap<Vec<usize>, f64> = HashMap::new();
        let mut count: HashMap<Vec<usize>, usize> = HashMap::new();
        for (w, p) in derivations(&g, &[Sym::N(0)]) {
            *by_sentence.entry(w.clone()).or_insert(0.0) += p;
            *count.entry(w).or_insert(0) += 1;
        }
        // "the red dog": Np -> Det Adj N, or Np -> Det Nom and Nom -> Adj N.
        assert!(count.values().filter(|&&c| c > 1).count() > 100);
        assert!(by_sentence.len() > 1000, "{}", by_sentence.len());
        let total: f64 = by_sentence.values().sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        for (w, p) in &by_sentence {
            let words: Vec<&str> = w.iter().map(|&i| g.words[i].as_str()).collect();
            let inside = g.probability(&words);
            assert!(
                (inside - p).abs() <= 1e-12 * p,
                "{words:?}: {inside} vs {p}"
            );
        }
        assert_eq!(g.probability(&["the", "dog", "runs", "runs"]), 0.0);
    }

    /// The built-in grammar: its size, samples it derives, and Monte Carlo agreement between
    /// sampling frequencies and inside probabilities on a frequent sentence shape.
    #[test]
    fn the_scene_grammar_derives_its_own_samples() {
        let g = Grammar::parse(SCENES).unwrap();
        assert!(g.warnings.is_empty(), "{:?}", g.warnings);
        assert!(
            (1000..=2000).contains(&g.words().len()),
            "{}",
            g.words().len()
        );
        assert!(g.num_rules() > 300, "{}", g.num_rules());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let lines = g.sample_lines(&mut rng, 200, 40).unwrap();
        let (nll, valid) = g.score(&lines);
        assert_eq!(valid, 1.0);
        assert!(nll.unwrap() > 0.5 && nll.unwrap() < 20.0, "{nll:?}");
        let mut broken: Vec<String> = lines.iter().map(|l| format!("{l} the")).collect();
        broken.push("the the the".into());
        assert_eq!(g.score(&broken).1, 0.0, "no sentence ends with `the`");
    }

    #[test]
    fn bad_grammars_are_refused_with_their_reason() {
        let e = |t: &str| Grammar::parse(t).unwrap_err().to_string();
        assert!(e("S -> a\nB b\n").contains("line 2"));
        assert!(e("S -> A b\n").contains("A has no rules"));
        assert!(e("S -> a | S S\nB -> B c\nS -> B\n").contains("B never terminate"));
        assert!(e("S -> A | a\nA -> S\n").contains("cycle"));
        assert!(e("S -> a [zero]\n").contains("bad weight"));
        assert!(e("S -> a |\n").contains("empty alternative"));
        let g = Grammar::parse("S -> a [0.5] | b [0.7]\n").unwrap();
        assert!(g.warnings[0].contains("sum to 1.2"), "{:?}", g.warnings);
        assert!((g.probability(&["b"]) - 0.7 / 1.2).abs() < 1e-12);
    }
}
