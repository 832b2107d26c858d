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
}

impl State {
    pub fn new(tensors: Vec<(Tensor, i64)>) -> Self {
        State { tensors, pos: 0 }
    }

    /// A copy that shares no storage with `self`.
    pub fn deep_clone(&self) -> Self {
        State {
            tensors: self.tensors.iter().map(|(t, d)| (t.copy(), *d)).collect(),
            pos: self.pos,
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
        }
    }
}
