//! What a sequence is generated or judged under: nothing, a class label, or a source sequence.
//!
//! A [`Batch`](super::Batch) and a sampling request may carry one; the generator and
//! discriminator traits take it in their `*_given` entry points and unconditional networks
//! ignore it. The forms are the ones conditional text GANs need: a label embedding (SentiGAN,
//! CatGAN, style transfer), an encoder-decoder reading a source sentence (translation,
//! dialogue), and a decoder-only model reading the source as a prefix (pretrained LMs).
use tch::{Device, Tensor};

#[derive(Debug, Default)]
pub enum Condition {
    /// Unconditional.
    #[default]
    None,
    /// A class per row: [B] int64 ids.
    Label(Tensor),
    /// A source sequence per row: [B, S] int64 ids, right-padded with `pad`.
    Source { ids: Tensor, pad: i64 },
}

/// The conditions of a corpus's rows, to pick batches' conditions from: none, a label per
/// row, or a source sequence per row (right-padded with `pad` when picked).
#[derive(Debug, Clone, Copy, Default)]
pub enum Conds<'a> {
    #[default]
    None,
    Labels(&'a [i64]),
    Sources(&'a [Vec<i64>], i64),
}

impl Conds<'_> {
    /// The conditions of rows `idx`.
    pub fn pick(&self, idx: impl IntoIterator<Item = usize>, device: Device) -> Condition {
        match *self {
            Conds::None => Condition::None,
            Conds::Labels(l) => Condition::labels_of(l, idx, device),
            Conds::Sources(s, pad) => {
                let rows: Vec<&[i64]> = idx.into_iter().map(|i| s[i].as_slice()).collect();
                let w = rows.iter().map(|r| r.len()).max().unwrap_or(1).max(1);
                let mut ids = vec![pad; rows.len() * w];
                for (r, row) in rows.iter().enumerate() {
                    ids[r * w..r * w + row.len()].copy_from_slice(row);
                }
                let t = Tensor::from_slice(&ids).view([rows.len() as i64, w as i64]);
                Condition::Source {
                    ids: t.to_device(device),
                    pad,
                }
            }
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Conds::None)
    }

    /// Rows it holds (0 when none).
    pub fn len(&self) -> usize {
        match self {
            Conds::None => 0,
            Conds::Labels(l) => l.len(),
            Conds::Sources(s, _) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Clone for Condition {
    /// Shares the tensors (conditions are read, never written in place).
    fn clone(&self) -> Self {
        self.map(Tensor::shallow_clone)
    }
}

impl Condition {
    /// The labels of rows `idx` of a corpus whose labels are `labels` (none when the corpus
    /// is unlabelled).
    pub fn labels_of(labels: &[i64], idx: impl IntoIterator<Item = usize>, device: Device) -> Self {
        if labels.is_empty() {
            return Condition::None;
        }
        let picked: Vec<i64> = idx.into_iter().map(|i| labels[i]).collect();
        Condition::Label(Tensor::from_slice(&picked).to_device(device))
    }

    /// `n` rows cycling through `classes` labels (0, 1, .., k-1, 0, ..): equal counts per class
    /// for sampling a labelled model (none when `classes` is 0).
    pub fn cycling(classes: usize, n: usize, device: Device) -> Self {
        if classes == 0 {
            return Condition::None;
        }
        let ids: Vec<i64> = (0..n).map(|i| (i % classes) as i64).collect();
        Condition::Label(Tensor::from_slice(&ids).to_device(device))
    }

    pub fn is_none(&self) -> bool {
        matches!(self, Condition::None)
    }

    /// Rows it conditions (None when unconditional).
    pub fn rows(&self) -> Option<i64> {
        match self {
            Condition::None => None,
            Condition::Label(t) | Condition::Source { ids: t, .. } => Some(t.size()[0]),
        }
    }

    /// The same condition with `f` applied to its tensor (rows are dimension 0).
    pub fn map(&self, f: impl Fn(&Tensor) -> Tensor) -> Condition {
        match self {
            Condition::None => Condition::None,
            Condition::Label(t) => Condition::Label(f(t)),
            Condition::Source { ids, pad } => Condition::Source {
                ids: f(ids),
                pad: *pad,
            },
        }
    }

    /// Rows `start .. start + len` (a chunk of a larger request).
    pub fn narrow(&self, start: i64, len: i64) -> Condition {
        self.map(|t| t.narrow(0, start, len))
    }

    /// The whole batch repeated `n` times, one copy after another: B -> n * B.
    pub fn tile(&self, n: i64) -> Condition {
        self.map(|t| {
            let mut reps = vec![1i64; t.dim()];
            reps[0] = n;
            t.repeat(reps.as_slice())
        })
    }

    /// Each row repeated `n` times in a row (rollouts, beams): B -> B * n.
    pub fn repeat_interleave(&self, n: i64) -> Condition {
        self.map(|t| t.repeat_interleave_self_int(n, 0, None))
    }

    /// The rows at `index` [K].
    pub fn index_select(&self, index: &Tensor) -> Condition {
        self.map(|t| t.index_select(0, index))
    }

    pub fn to_device(&self, device: Device) -> Condition {
        self.map(|t| t.to_device(device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_batch_dimension() {
        let c = Condition::Source {
            ids: Tensor::from_slice(&[4i64, 5, 0, 6, 0, 0]).view([2, 3]),
            pad: 0,
        };
        assert_eq!(c.rows(), Some(2));
        let r = c.repeat_interleave(2);
        assert_eq!(r.rows(), Some(4));
        let Condition::Source { ids, pad } = r.narrow(2, 2) else {
            panic!("still a source")
        };
        assert_eq!(pad, 0);
        assert_eq!(
            Vec::<i64>::try_from(ids.view([-1])).unwrap(),
            [6, 0, 0, 6, 0, 0]
        );
        assert!(Condition::None.narrow(0, 1).is_none());
        let l = Condition::Label(Tensor::from_slice(&[1i64, 0, 1]));
        let Condition::Label(t) = l.index_select(&Tensor::from_slice(&[2i64, 1])) else {
            panic!("still a label")
        };
        assert_eq!(Vec::<i64>::try_from(t).unwrap(), [1, 0]);
    }
}
