//! NLL of a corpus under a generator: mean negative log-likelihood per token (nats), `<eos>` included.
use crate::data::{in_order, Batch, Conds, Vocab};
use crate::models::{token_cross_entropy, Generator};
use tch::Device;

/// Mean per-token NLL of `seqs` (ids without `<bos>`/`<eos>`) under `gen` with its logits
/// divided by `temperature` (1 = the model itself); NaN for no tokens.
pub fn corpus_nll(
    gen: &dyn Generator,
    seqs: &[Vec<i64>],
    vocab: &Vocab,
    batch_size: usize,
    temperature: f64,
    device: Device,
) -> f64 {
    corpus_nll_given(
        gen,
        (seqs, Conds::None),
        vocab,
        batch_size,
        temperature,
        device,
    )
}

/// [`corpus_nll`] of sequences under their conditions (labels, sources).
pub fn corpus_nll_given(
    gen: &dyn Generator,
    (seqs, conds): (&[Vec<i64>], Conds),
    vocab: &Vocab,
    batch_size: usize,
    temperature: f64,
    device: Device,
) -> f64 {
    let _guard = tch::no_grad_guard();
    let (mut total, mut tokens) = (0.0, 0i64);
    for r in in_order(seqs.len(), batch_size) {
        let rows: Vec<&[i64]> = seqs[r.clone()].iter().map(Vec::as_slice).collect();
        let cond = conds.pick(r, device);
        let batch = Batch::new(&rows, vocab, device);
        let logits = gen.forward_given(&batch.input, &cond, false) / temperature; // [B, T, V]
        let sum = token_cross_entropy(&logits, &batch.target, tch::Reduction::Sum);
        total += sum.double_value(&[]);
        tokens += batch.tokens;
    }
    if tokens == 0 {
        f64::NAN
    } else {
        total / tokens as f64
    }
}
