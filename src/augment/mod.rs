//! Text data augmentation that keeps labels: EDA's cheap edits ([`eda`]), back-translation
//! through two translation runs ([`backtranslate`]) and new examples from a label-conditional
//! run, optionally filtered by a classifier ([`generate`]).
//!
//! Every method returns only new rows: a row equal to its source, to a training row or to a row
//! already made is dropped and counted, so that the output can be mixed with the training data
//! (`classify train --augment`) without repeating it.
pub mod backtranslate;
pub mod eda;
pub mod generate;
pub mod synonyms;

use crate::data::Lines;
use crate::error::{Error, Result};
use std::collections::HashSet;
use std::path::Path;

/// The most new rows asked per input row.
pub const MAX_PER_EXAMPLE: usize = 64;

/// What an augmentation wrote and dropped.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Report {
    /// New rows kept.
    pub written: usize,
    /// Rows equal to the row they came from (an edit that changed nothing, a translation that
    /// came back unchanged).
    pub unchanged: usize,
    /// Rows equal to a training row or to a new row kept before them.
    pub duplicates: usize,
    /// Rows the classifier filter refused (wrong label or too unsure).
    pub filtered: usize,
    /// Rows that came out empty.
    pub empty: usize,
    /// Rows with a token the run could not name (`<unk>`).
    pub unknown: usize,
}

/// New labelled rows and what was dropped on the way.
#[derive(Debug, Clone, Default)]
pub struct Augmented {
    pub lines: Lines,
    pub report: Report,
}

/// `text`'s words joined by single spaces: how a new row is written.
fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A text compared for duplicates: normalised, lower-cased.
fn key(text: &str) -> String {
    normalise(text).to_lowercase()
}

/// Collects new rows, dropping those that are empty, unchanged or seen.
pub struct Collector {
    seen: HashSet<String>,
    out: Augmented,
}

impl Collector {
    /// A collector that counts the rows of `training` as already seen.
    pub fn new(training: &Lines) -> Collector {
        Collector {
            seen: training.text.iter().map(|t| key(t)).collect(),
            out: Augmented::default(),
        }
    }

    /// Offers `text` with `label`, made from `source` (None: made from nothing).
    pub fn offer(&mut self, label: &str, text: &str, source: Option<&str>) {
        let written = normalise(text);
        let k = written.to_lowercase();
        let r = &mut self.out.report;
        if k.is_empty() {
            r.empty += 1;
        } else if source.is_some_and(|s| key(s) == k) {
            r.unchanged += 1;
        } else if !self.seen.insert(k) {
            r.duplicates += 1;
        } else {
            r.written += 1;
            self.out.lines.text.push(written);
            self.out.lines.labels.push(label.to_string());
        }
    }

    /// Counts a row with an unknown token in it.
    pub fn unknown(&mut self) {
        self.out.report.unknown += 1;
    }

    /// Counts a row the filter refused.
    pub fn refuse(&mut self) {
        self.out.report.filtered += 1;
    }

    pub fn written(&self) -> usize {
        self.out.report.written
    }

    pub fn finish(self) -> Augmented {
        self.out
    }
}

/// Refuses a per-example count outside 1..=[`MAX_PER_EXAMPLE`].
pub fn check_per_example(n: usize) -> Result<()> {
    if !(1..=MAX_PER_EXAMPLE).contains(&n) {
        return Err(Error::Config(format!(
            "--per-example {n}: give 1 to {MAX_PER_EXAMPLE} new rows per input row"
        )));
    }
    Ok(())
}

/// Writes `lines` as `label<TAB>text` to `path`, all of it or nothing.
pub fn write_tab(path: &Path, lines: &Lines) -> Result<()> {
    crate::fsutil::write_atomic_with(path, |f| write_tab_to(f, lines))
}

/// Writes `lines` as `label<TAB>text` lines to `w`.
pub fn write_tab_to(w: &mut dyn std::io::Write, lines: &Lines) -> std::io::Result<()> {
    for (label, text) in lines.labels.iter().zip(&lines.text) {
        writeln!(w, "{label}\t{text}")?;
    }
    Ok(())
}

/// The distinct lower-cased words of `lines` that EDA may replace (sorted).
pub fn replaceable_words(lines: &Lines) -> Vec<String> {
    let mut words: Vec<String> = lines
        .text
        .iter()
        .flat_map(|t| t.split_whitespace())
        .filter(|w| eda::replaceable(w))
        .map(|w| w.to_lowercase())
        .collect();
    words.sort();
    words.dedup();
    words
}

/// EDA over every row of `input`: `n` edits each, from a generator seeded with `seed`.
pub fn eda(
    input: &Lines,
    n: usize,
    settings: &eda::Eda,
    syn: &synonyms::Synonyms,
    seed: u64,
    progress: &mut dyn FnMut(usize),
) -> Result<Augmented> {
    use rand::SeedableRng;
    check_per_example(n)?;
    settings.validate().map_err(Error::Config)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Collector::new(input);
    for (i, (text, label)) in input.text.iter().zip(&input.labels).enumerate() {
        for new in settings.augment(text, n, syn, &mut rng) {
            out.offer(label, &new, Some(text));
        }
        if (i + 1) % 1000 == 0 {
            progress(1000);
        }
    }
    progress(input.text.len() % 1000);
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collector_drops_and_counts_what_is_not_new() {
        let training = Lines {
            text: vec!["a b".into()],
            labels: vec!["x".into()],
            sources: vec![],
        };
        let mut c = Collector::new(&training);
        c.offer("x", "A  b", None); // a training row, spaced and cased otherwise
        c.offer("x", "c d", Some("c d")); // unchanged
        c.offer("x", " ", None);
        c.offer("y", "e f", None);
        c.offer("y", "e f", None);
        c.refuse();
        let a = c.finish();
        assert_eq!(a.lines.text, vec!["e f"]);
        assert_eq!(a.lines.labels, vec!["y"]);
        let r = a.report;
        assert_eq!(
            (r.written, r.unchanged, r.duplicates, r.empty, r.filtered),
            (1, 1, 2, 1, 1)
        );
        assert!(check_per_example(0).is_err() && check_per_example(65).is_err());
    }
}
