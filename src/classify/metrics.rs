//! Accuracy, macro-F1 (as scikit-learn's `f1_score(average="macro")` computes it: over the
//! union of true and predicted labels, 0 where a label has no true or no predicted rows) and the
//! confusion matrix. A test label training never saw is kept, counted and scored as wrong.
use serde::Serialize;
use std::collections::BTreeMap;

/// A classifier's scores on labelled text.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scores {
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Test labels the classifier does not know, with how many rows have each (all wrong).
    pub unknown_labels: BTreeMap<String, usize>,
    /// Rows: the true labels (the classifier's, then the unknown ones); columns: the
    /// classifier's labels; each cell a count.
    pub confusion: Vec<Vec<usize>>,
    pub rows: Vec<String>,
    pub columns: Vec<String>,
}

/// The scores of predictions `predicted` (indices into `labels`) against true names `truth`.
pub fn score(labels: &[String], truth: &[String], predicted: &[usize]) -> Scores {
    assert_eq!(truth.len(), predicted.len(), "one prediction per row");
    let mut unknown_labels: BTreeMap<String, usize> = BTreeMap::new();
    for t in truth {
        if !labels.contains(t) {
            *unknown_labels.entry(t.clone()).or_default() += 1;
        }
    }
    let mut rows: Vec<String> = labels.to_vec();
    rows.extend(unknown_labels.keys().cloned());
    let row_of = |t: &String| {
        rows.iter()
            .position(|r| r == t)
            .expect("every label has a row")
    };
    let mut confusion = vec![vec![0usize; labels.len()]; rows.len()];
    let mut correct = 0;
    for (t, &p) in truth.iter().zip(predicted) {
        let r = row_of(t);
        confusion[r][p] += 1;
        correct += (r == p) as usize;
    }
    // scikit-learn's macro-F1: over every label that is true or predicted somewhere.
    let mut f1s = Vec::new();
    for (r, name) in rows.iter().enumerate() {
        let true_count: usize = confusion[r].iter().sum();
        let col = labels.iter().position(|l| l == name);
        let predicted_count: usize = col.map_or(0, |c| confusion.iter().map(|row| row[c]).sum());
        if true_count == 0 && predicted_count == 0 {
            continue;
        }
        let tp = col.map_or(0, |c| confusion[r][c]) as f64;
        let precision = if predicted_count > 0 {
            tp / predicted_count as f64
        } else {
            0.0
        };
        let recall = if true_count > 0 {
            tp / true_count as f64
        } else {
            0.0
        };
        f1s.push(match precision + recall {
            s if s > 0.0 => 2.0 * precision * recall / s,
            _ => 0.0,
        });
    }
    let n = truth.len();
    Scores {
        n,
        accuracy: if n > 0 {
            correct as f64 / n as f64
        } else {
            0.0
        },
        macro_f1: if f1s.is_empty() {
            0.0
        } else {
            f1s.iter().sum::<f64>() / f1s.len() as f64
        },
        unknown_labels,
        confusion,
        rows,
        columns: labels.to_vec(),
    }
}

impl Scores {
    /// The confusion matrix as CSV: a header of predicted labels, a row per true label.
    pub fn confusion_csv(&self) -> String {
        let quote = |s: &str| match s.contains([',', '"', '\n']) {
            true => format!("\"{}\"", s.replace('"', "\"\"")),
            false => s.to_string(),
        };
        let mut out = String::from("true\\predicted");
        for c in &self.columns {
            out.push(',');
            out.push_str(&quote(c));
        }
        out.push('\n');
        for (name, row) in self.rows.iter().zip(&self.confusion) {
            out.push_str(&quote(name));
            for x in row {
                out.push_str(&format!(",{x}"));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn equal_to_scikit_learn_by_hand() {
        // y_true = a a b b c, y_pred = a b b b a with labels a, b, c:
        // a: p 1/2 r 1/2 f 1/2; b: p 2/3 r 1 f 0.8; c: p 0 (none predicted) r 0 f 0.
        // sklearn f1_score(average="macro") = (0.5 + 0.8 + 0) / 3 = 0.43333.
        let labels = names(&["a", "b", "c"]);
        let s = score(
            &labels,
            &names(&["a", "a", "b", "b", "c"]),
            &[0, 1, 1, 1, 0],
        );
        assert_eq!(s.accuracy, 0.6);
        assert!((s.macro_f1 - 1.3 / 3.0).abs() < 1e-12, "{}", s.macro_f1);
        assert_eq!(
            s.confusion,
            vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 0]]
        );
    }

    #[test]
    fn unknown_labels_are_wrong_and_counted() {
        // y_true = a z z, y_pred = a a b: z is unknown; labels in the union a, b, z:
        // a: p 1/2 r 1 f 2/3; b: p 0 r - (no true b) f 0; z: p - r 0 f 0. Macro = 2/9.
        let labels = names(&["a", "b"]);
        let s = score(&labels, &names(&["a", "z", "z"]), &[0, 0, 1]);
        assert!((s.accuracy - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.macro_f1 - 2.0 / 9.0).abs() < 1e-12, "{}", s.macro_f1);
        assert_eq!(s.unknown_labels.get("z"), Some(&2));
        assert_eq!(s.rows, ["a", "b", "z"]);
        assert!(s.confusion_csv().contains("z,1,1\n"));
    }
}
