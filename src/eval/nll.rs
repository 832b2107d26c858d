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
    data: (&[Vec<i64>], Conds),
    vocab: &Vocab,
    batch_size: usize,
    temperature: f64,
    device: Device,
) -> f64 {
    let (total, tokens) = corpus_nll_total(gen, data, vocab, batch_size, temperature, device);
    mean(total, tokens)
}

/// The summed NLL of sequences under their conditions and the tokens it counts (each
/// sequence's tokens and its `<eos>`): [`corpus_nll_given`] is their quotient.
pub fn corpus_nll_total(
    gen: &dyn Generator,
    data: (&[Vec<i64>], Conds),
    vocab: &Vocab,
    batch_size: usize,
    temperature: f64,
    device: Device,
) -> (f64, i64) {
    let rows = 0..data.0.len();
    nll_sum(gen, data, rows, vocab, (batch_size, temperature), device)
}

/// [`corpus_nll_given`] with the sequences split between the processes of a job
/// ([`crate::dist::my_rows`]): each sums the NLL of its rows, and the sums are added up.
pub fn corpus_nll_shared(
    gen: &dyn Generator,
    data: (&[Vec<i64>], Conds),
    vocab: &Vocab,
    batch_size: usize,
    device: Device,
) -> f64 {
    let n = data.0.len();
    let Some((lo, hi, _)) = crate::dist::my_rows(n) else {
        return corpus_nll_given(gen, data, vocab, batch_size, 1.0, device);
    };
    let (total, tokens) = nll_sum(gen, data, lo..hi, vocab, (batch_size, 1.0), device);
    let [total, tokens] = crate::dist::sum_all([total, tokens as f64]);
    mean(total, tokens as i64)
}

fn mean(total: f64, tokens: i64) -> f64 {
    if tokens == 0 {
        f64::NAN
    } else {
        total / tokens as f64
    }
}

/// The summed NLL and the tokens of rows `rows` of the sequences.
fn nll_sum(
    gen: &dyn Generator,
    (seqs, conds): (&[Vec<i64>], Conds),
    rows: std::ops::Range<usize>,
    vocab: &Vocab,
    (batch_size, temperature): (usize, f64),
    device: Device,
) -> (f64, i64) {
    let _guard = tch::no_grad_guard();
    let (mut total, mut tokens) = (0.0, 0i64);
    for r in in_order(rows.len(), batch_size) {
        let r = r.start + rows.start..r.end + rows.start;
        let rows: Vec<&[i64]> = seqs[r.clone()].iter().map(Vec::as_slice).collect();
        let cond = conds.pick(r, device);
        let batch = Batch::new(&rows, vocab, device);
        let logits = gen.forward_given(&batch.input, &cond, false) / temperature; // [B, T, V]
        let sum = token_cross_entropy(&logits, &batch.target, tch::Reduction::Sum);
        total += sum.double_value(&[]);
        tokens += batch.tokens;
    }
    (total, tokens)
}
