//! Decoding state shared by all generators: a list of tensors, each with its batch dimension.
use tch::Tensor;

/// The cached state of step-by-step decoding (LSTM `h`/`c`, or a Transformer's keys and values).
///
/// Each tensor records which of its dimensions is the batch, so algorithms can pick or repeat
/// sequences (Monte Carlo rollouts) without knowing the architecture.
#[derive(Debug)]
pub struct State {
    pub tensors: Vec<(Tensor, i64)>,
    /// Positions consumed so far.
    pub pos: i64,
    /// The last `fixed` tensors depend on the request row alone (a source's encoding, a
    /// label), not on what was decoded: the copies of a row that `repeat_interleave` makes
    /// keep them equal, so reordering hypotheses within a row's copies
    /// ([`State::select_in_groups`], beam search) leaves them be.
    pub fixed: usize,
}

impl State {
    pub fn new(tensors: Vec<(Tensor, i64)>) -> Self {
        State {
            tensors,
            pos: 0,
            fixed: 0,
        }
    }

    /// A copy that shares no storage with `self`.
    pub fn deep_clone(&self) -> Self {
        State {
            tensors: self.tensors.iter().map(|(t, d)| (t.copy(), *d)).collect(),
            pos: self.pos,
            fixed: self.fixed,
        }
    }

    /// Each sequence repeated `n` times in a row: batch B -> B * n.
    pub fn repeat_interleave(&self, n: i64) -> Self {
        let tensors = self
            .tensors
            .iter()
            .map(|(t, d)| (t.repeat_interleave_self_int(n, *d, None), *d))
            .collect();
        State {
            tensors,
            pos: self.pos,
            fixed: self.fixed,
        }
    }

    /// The sequences at `index`, each taken from among the copies of its own request row
    /// (`index[i]` and `i` in the same group of `repeat_interleave`'s copies): the fixed
    /// tensors need no reordering and are kept as they are.
    pub fn select_in_groups(&self, index: &Tensor) -> Self {
        let moving = self.tensors.len() - self.fixed;
        let tensors = self
            .tensors
            .iter()
            .enumerate()
            .map(|(i, (t, d))| match i < moving {
                true => (t.index_select(*d, index), *d),
                false => (t.shallow_clone(), *d),
            })
            .collect();
        State {
            tensors,
            pos: self.pos,
            fixed: self.fixed,
        }
    }

    /// The sequences at `index` ([K] ids): batch B -> K.
    pub fn select(&self, index: &Tensor) -> Self {
        let tensors = self
            .tensors
            .iter()
            .map(|(t, d)| (t.index_select(*d, index), *d))
            .collect();
        State {
            tensors,
            pos: self.pos,
            fixed: self.fixed,
        }
    }
}
