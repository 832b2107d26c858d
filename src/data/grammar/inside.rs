//! The inside algorithm: the grammar in a binarised form (lexical, binary and unary rules
//! with the same sentence probabilities) and the chart of inside probabilities over spans.
use super::{Rule, Sym};
use crate::error::{Error, Result};
use std::collections::HashMap;

/// Chomsky-style rules over nonterminals 0..n (the grammar's, then helpers).
#[derive(Debug, Clone, Default)]
pub(crate) struct Inside {
    n: usize,
    /// word -> [(A, p)] for A -> word.
    lexical: Vec<Vec<(usize, f64)>>,
    /// (A, B, C, p) for A -> B C.
    binary: Vec<(usize, usize, usize, f64)>,
    /// (A, B, p) for A -> B, ordered so that B's total is final before A reads it.
    unary: Vec<(usize, usize, f64)>,
}

/// Binary, unary and lexical rules with the same sentence probabilities: words inside longer
/// rules get a helper nonterminal, long rules are cut into a chain of binary ones.
pub(crate) fn binarise(nt: &[String], rules: &[Vec<Rule>], n_words: usize) -> Result<Inside> {
    let mut ins = Inside {
        n: nt.len(),
        lexical: vec![Vec::new(); n_words],
        ..Default::default()
    };
    let mut word_nt: HashMap<usize, usize> = HashMap::new();
    let mut unary: Vec<(usize, usize, f64)> = Vec::new();
    for r in rules.iter().flatten() {
        match r.rhs.as_slice() {
            [Sym::T(w)] => ins.lexical[*w].push((r.lhs, r.p)),
            [Sym::N(b)] => unary.push((r.lhs, *b, r.p)),
            rhs => {
                let mut syms: Vec<usize> = rhs
                    .iter()
                    .map(|s| match s {
                        Sym::N(b) => *b,
                        Sym::T(w) => *word_nt.entry(*w).or_insert_with(|| {
                            ins.n += 1;
                            ins.lexical[*w].push((ins.n - 1, 1.0));
                            ins.n - 1
                        }),
                    })
                    .collect();
                // A -> X1 X2 ... Xk as A -> X1 H1, H1 -> X2 H2, ..., H(k-2) -> X(k-1) Xk.
                let mut lhs = r.lhs;
                let mut p = r.p;
                while syms.len() > 2 {
                    let first = syms.remove(0);
                    ins.n += 1;
                    ins.binary.push((lhs, first, ins.n - 1, p));
                    lhs = ins.n - 1;
                    p = 1.0;
                }
                ins.binary.push((lhs, syms[0], syms[1], p));
            }
        }
    }
    // Order the unary rules children first; a cycle is refused.
    let mut state = vec![0u8; ins.n]; // 0 new, 1 on the path, 2 done
    let mut order: Vec<(usize, usize, f64)> = Vec::new();
    fn visit(
        a: usize,
        unary: &[(usize, usize, f64)],
        state: &mut [u8],
        order: &mut Vec<(usize, usize, f64)>,
        nt: &[String],
    ) -> Result<()> {
        match state[a] {
            2 => return Ok(()),
            1 => {
                return Err(Error::Config(format!(
                    "grammar: a cycle of single-nonterminal rules through {}",
                    nt.get(a).map_or("a helper", String::as_str)
                )))
            }
            _ => {}
        }
        state[a] = 1;
        for &(l, b, p) in unary.iter().filter(|u| u.0 == a) {
            visit(b, unary, state, order, nt)?;
            order.push((l, b, p));
        }
        state[a] = 2;
        Ok(())
    }
    for a in 0..nt.len() {
        visit(a, &unary, &mut state, &mut order, nt)?;
    }
    ins.unary = order;
    Ok(ins)
}

impl Inside {
    /// P(start =>* ids): the chart of inside probabilities over spans.
    pub fn prob(&self, ids: &[usize]) -> f64 {
        let len = ids.len();
        let n = self.n;
        // chart[i][j] for the span i..i+j+1, a vector over nonterminals.
        let mut chart: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(len); len];
        for (i, &w) in ids.iter().enumerate() {
            let mut cell = vec![0.0; n];
            for &(a, p) in &self.lexical[w] {
                cell[a] += p;
            }
            self.close_unary(&mut cell);
            chart[i].push(cell);
        }
        for width in 2..=len {
            for i in 0..=len - width {
                let mut cell = vec![0.0; n];
                for split in 1..width {
                    let (left, right) =
                        (&chart[i][split - 1], &chart[i + split][width - split - 1]);
                    for &(a, b, c, p) in &self.binary {
                        let (x, y) = (left[b], right[c]);
                        if x > 0.0 && y > 0.0 {
                            cell[a] += p * x * y;
                        }
                    }
                }
                self.close_unary(&mut cell);
                chart[i].push(cell);
            }
        }
        chart[0][len - 1][0]
    }

    fn close_unary(&self, cell: &mut [f64]) {
        for &(a, b, p) in &self.unary {
            if cell[b] > 0.0 {
                cell[a] += p * cell[b];
            }
        }
    }
}
