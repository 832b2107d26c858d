//! Beam search for every generator: `width` hypotheses per request row, kept in the decoding
//! [`State`] as `width` rows each (picked and reordered like rollouts), and the best finished
//! one by its log-probability over GNMT's length penalty `((5 + len) / 6)^alpha`.
//!
//! A hypothesis that has produced `<eos>` stays in its beam with its score frozen (it can only
//! be followed by `<eos>` at no cost), so finished and open hypotheses compete on their summed
//! log-probabilities; the length penalty chooses among the final beam. Search stops when every
//! beam has finished or at the length limit.
use super::{Condition, GenerateSpec, Generator};
use tch::{Device, Kind, Tensor};

/// Beam width and length penalty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beam {
    pub width: i64,
    /// alpha of GNMT's `((5 + len) / 6)^alpha` (0: raw log-probability).
    pub length_penalty: f64,
}

impl Default for Beam {
    fn default() -> Self {
        Beam {
            width: 5,
            length_penalty: 1.0,
        }
    }
}

/// The best hypothesis for each of `spec.count` rows (without `<bos>`, cut before `<eos>`).
pub fn beam_search(
    gen: &dyn Generator,
    spec: &GenerateSpec,
    beam: &Beam,
    device: Device,
) -> Vec<Vec<i64>> {
    let _guard = tch::no_grad_guard();
    let mut out = Vec::with_capacity(spec.count);
    let chunk = spec.batch_size.max(1);
    for start in (0..spec.count).step_by(chunk) {
        let b = chunk.min(spec.count - start) as i64;
        let cond = spec.cond.narrow(start as i64, b);
        out.extend(search_chunk(gen, spec, beam, (b, &cond), device));
    }
    out
}

fn search_chunk(
    gen: &dyn Generator,
    spec: &GenerateSpec,
    beam: &Beam,
    (b, cond): (i64, &Condition),
    device: Device,
) -> Vec<Vec<i64>> {
    let (w, v) = (beam.width.max(1), gen.vocab_size());
    // The start and any prefix are the same for every hypothesis: decoded once per row, then
    // copied to the beam.
    let mut state = gen.initial_state_given(b, cond);
    let ids = |x: i64| Tensor::full([b], x, (Kind::Int64, device));
    let mut logits = gen.step(&ids(spec.bos), &mut state);
    for &p in &spec.prefix {
        logits = gen.step(&ids(p), &mut state);
    }
    let mut state = state.repeat_interleave(w);
    let mut logits = logits.repeat_interleave_self_int(w, 0, None);
    let mut ban = vec![0f32; v as usize];
    for &t in &spec.banned {
        ban[t as usize] = f32::NEG_INFINITY;
    }
    let ban = Tensor::from_slice(&ban).to_device(device);
    // Only the first hypothesis of each row is alive at the start (the others are copies).
    let mut first = vec![f32::NEG_INFINITY; (b * w) as usize];
    first.iter_mut().step_by(w as usize).for_each(|x| *x = 0.0);
    let mut scores = Tensor::from_slice(&first).to_device(device); // [B*W]
    let mut seqs = Tensor::zeros([b * w, 0], (Kind::Int64, device));
    let mut done = Tensor::zeros([b * w], (Kind::Bool, device));
    let mut lengths = Tensor::zeros([b * w], (Kind::Float, device));
    let eos = spec.eos;
    let base = Tensor::arange(b, (Kind::Int64, device)).unsqueeze(1) * w; // [B, 1]
    for step in 0..spec.max_len.saturating_sub(spec.prefix.len()) {
        let mut logp = (logits.log_softmax(-1, Kind::Float) + &ban).to_kind(Kind::Float); // [B*W, V]
        if let Some(e) = eos {
            // A finished hypothesis continues with <eos> alone, at no cost.
            let only_eos = Tensor::full([v], f64::NEG_INFINITY, (Kind::Float, device)).index_fill(
                0,
                &Tensor::from(e).to_device(device),
                0.0,
            );
            logp = logp.where_self(&done.logical_not().unsqueeze(1), &only_eos.unsqueeze(0));
        }
        let total = (scores.unsqueeze(1) + logp).view([b, w * v]);
        let (top, idx) = total.topk(w, -1, true, true); // [B, W]
        let from = (idx.divide_scalar_mode(v, "floor") + &base).view([-1]); // rows [B*W]
        let tok = idx.remainder(v).view([-1]);
        scores = top.view([-1]);
        seqs = Tensor::cat(&[seqs.index_select(0, &from), tok.unsqueeze(1)], 1);
        let was_done = done.index_select(0, &from);
        lengths = lengths.index_select(0, &from) + was_done.logical_not().to_kind(Kind::Float);
        done = match eos {
            Some(e) => was_done.logical_or(&tok.eq(e)),
            None => was_done,
        };
        if bool::try_from(done.all()).unwrap_or(false)
            || step + 1 + spec.prefix.len() >= spec.max_len
        {
            break;
        }
        state = state.select_in_groups(&from);
        logits = gen.step(&tok, &mut state);
    }
    // The best of each row's beam after the length penalty.
    let lp = ((lengths + 5.0) / 6.0).pow_tensor_scalar(beam.length_penalty);
    let best = (scores / lp).view([b, w]).argmax(-1, false) + base.squeeze_dim(1); // [B]
    let chosen = seqs.index_select(0, &best);
    let rows: Vec<Vec<i64>> = (0..b)
        .map(|i| Vec::<i64>::try_from(chosen.get(i)).expect("ids"))
        .collect();
    rows.into_iter()
        .map(|r| {
            let mut r: Vec<i64> = spec.prefix.iter().copied().chain(r).collect();
            if let Some(e) = eos {
                if let Some(p) = r.iter().position(|&t| t == e) {
                    r.truncate(p);
                }
            }
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{generate, GeneratorConfig, GeneratorModel, LstmConfig, Sampling, State};

    /// Width 1 is greedy decoding, and a beam as wide as every prefix is exact search: it
    /// finds the most likely sequence that exhaustive enumeration finds, on a random LSTM.
    #[test]
    fn width_one_is_greedy_and_a_full_beam_is_exact() {
        tch::manual_seed(7);
        let cfg = GeneratorConfig::Lstm(LstmConfig {
            embed_dim: 8,
            hidden_dim: 16,
            num_layers: 1,
            dropout: 0.0,
        });
        let m = GeneratorModel::new(&cfg, 6, 10, Device::Cpu); // 0 pad, 1 bos, 2 eos, 3-5 words
        let spec = GenerateSpec {
            count: 5,
            max_len: 4,
            batch_size: 2,
            bos: 1,
            eos: Some(2),
            banned: vec![0, 1],
            prefix: vec![],
            cond: Condition::None,
        };
        let greedy = Sampling {
            greedy: true,
            ..Default::default()
        };
        let want = generate(m.net.as_ref(), &spec, &greedy, Device::Cpu);
        let one = Beam {
            width: 1,
            length_penalty: 0.0,
        };
        assert_eq!(beam_search(m.net.as_ref(), &spec, &one, Device::Cpu), want);
        // Log-probability of words then <eos> (none at the length limit), <pad> and <bos> banned.
        let logp = |s: &[i64]| {
            let _g = tch::no_grad_guard();
            let mut st: State = m.net.initial_state(1);
            let ban = Tensor::from_slice(&[f32::NEG_INFINITY, f32::NEG_INFINITY, 0., 0., 0., 0.]);
            let (mut tok, mut sum) = (1i64, 0.0);
            let end: &[i64] = if s.len() < 4 { &[2] } else { &[] };
            for &t in s.iter().chain(end) {
                let l = (m.net.step(&Tensor::from_slice(&[tok]), &mut st) + &ban)
                    .log_softmax(-1, Kind::Float);
                sum += l.double_value(&[0, t]);
                tok = t;
            }
            sum
        };
        let mut all: Vec<Vec<i64>> = vec![vec![]];
        for len in 1..=4 {
            let prev: Vec<Vec<i64>> = all.iter().filter(|s| s.len() == len - 1).cloned().collect();
            for p in prev {
                for w in 3..6 {
                    all.push(p.iter().copied().chain([w]).collect());
                }
            }
        }
        let best = all
            .iter()
            .max_by(|a, b| logp(a).total_cmp(&logp(b)))
            .unwrap()
            .clone();
        let full = Beam {
            width: 64,
            length_penalty: 0.0,
        };
        for got in beam_search(m.net.as_ref(), &spec, &full, Device::Cpu) {
            assert_eq!(got, best, "{} vs {}", logp(&got), logp(&best));
        }
    }
}
