//! Text metrics that need no model: distinct-n, mean length, and copies of training sentences.
use rustc_hash::FxHashSet;
use std::collections::HashSet;

/// Distinct-n (Li et al. 2016): distinct n-grams over all n-grams of all samples; NaN if none.
pub fn distinct_n(samples: &[Vec<u32>], n: usize) -> f64 {
    let mut seen: FxHashSet<&[u32]> = FxHashSet::default();
    let mut total = 0usize;
    for s in samples {
        if s.len() >= n {
            for g in s.windows(n) {
                seen.insert(g);
                total += 1;
            }
        }
    }
    if total == 0 {
        f64::NAN
    } else {
        seen.len() as f64 / total as f64
    }
}

/// Mean number of whitespace tokens per sample.
pub fn mean_length(samples: &[Vec<u32>]) -> f64 {
    samples.iter().map(Vec::len).sum::<usize>() as f64 / samples.len().max(1) as f64
}

/// Fraction of samples that equal a training sentence token for token.
pub fn copied_fraction(samples: &[String], train: &[String]) -> f64 {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let train: HashSet<String> = train.iter().map(|s| norm(s)).collect();
    let copies = samples.iter().filter(|s| train.contains(&norm(s))).count();
    copies as f64 / samples.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_length_and_copies() {
        let s = vec![vec![1, 2, 3], vec![1, 2, 4], vec![]];
        assert_eq!(distinct_n(&s, 1), 4.0 / 6.0);
        assert_eq!(distinct_n(&s, 2), 3.0 / 4.0);
        assert!(distinct_n(&s, 4).is_nan());
        assert_eq!(mean_length(&s), 2.0);
        let samples = vec![
            "a  b c".to_string(),
            "a b".to_string(),
            "x".to_string(),
            "a b c".to_string(),
        ];
        let train = vec!["a b c".to_string(), "y".to_string()];
        assert_eq!(copied_fraction(&samples, &train), 0.5);
    }
}
