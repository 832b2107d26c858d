//! The SeqGAN oracle: a fixed, randomly initialised LSTM (vocab 5000, embedding 32, hidden 32)
//! that defines the synthetic benchmark's "true" distribution (Yu et al. 2017, §5.1).
//!
//! Its weights are the data set `seqgan-oracle` (`textgan data get seqgan-oracle`: float32
//! `.npy` arrays byte-identical to SeqGAN's `target_params.pkl`); `oracle-random` is the same
//! network with N(0, 1) weights drawn from a seed in code, as TextGAN-PyTorch makes its oracle,
//! and needs no download. Row vectors multiply on the left (`x @ W`), with separate gates, as
//! in SeqGAN's TensorFlow code.
use super::{Generator, State};
use crate::data::in_order;
use crate::error::{Error, Result};
use tch::{Device, Kind, Tensor};

/// The arrays in the order the cell reads them, by file stem.
const ARRAYS: [&str; 15] = [
    "embedding",
    "wi",
    "ui",
    "bi",
    "wf",
    "uf",
    "bf",
    "wog",
    "uog",
    "bog",
    "wc",
    "uc",
    "bc",
    "wo",
    "bo",
];

/// The seed of `oracle-random`'s weights (fixed, so every run draws the same oracle).
pub const RANDOM_ORACLE_SEED: i64 = 2017;

/// Parses a little-endian float32 `.npy` array (format 1.0 or 2.0, C order): shape and values.
pub fn npy_f32(bytes: &[u8]) -> Result<(Vec<i64>, Vec<f32>)> {
    let bad = |why: &str| Error::Data(format!("bad .npy data: {why}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("no NUMPY magic"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(&format!("unsupported version {v}"))),
    };
    let header = bytes
        .get(start..start + header_len)
        .ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    if !header.contains("'descr': '<f4'") {
        return Err(bad("only little-endian float32 is supported"));
    }
    if header.contains("'fortran_order': True") {
        return Err(bad("Fortran order is not supported"));
    }
    let shape_src = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let shape: Vec<i64> = shape_src
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<i64>().map_err(|_| bad("bad shape")))
        .collect::<Result<_>>()?;
    let n: i64 = shape.iter().product();
    let data = &bytes[start + header_len..];
    if data.len() != 4 * n as usize {
        return Err(bad(&format!(
            "expected {} bytes of data, found {}",
            4 * n,
            data.len()
        )));
    }
    let values = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((shape, values))
}

#[derive(Debug)]
pub struct Oracle {
    /// The 15 arrays in the order of `ARRAYS`.
    w: Vec<Tensor>,
    pub vocab_size: i64,
    pub hidden: i64,
}

impl Oracle {
    /// Start token fed to the first step.
    pub const START: i64 = 0;

    /// SeqGAN's oracle, from the data set `seqgan-oracle` in the data directory.
    pub fn load(device: Device) -> Result<Self> {
        let dir = crate::datasets::set("seqgan-oracle")?.locate()?;
        let w = ARRAYS
            .iter()
            .map(|name| {
                let path = dir.join(format!("{name}.npy"));
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                let (shape, values) = npy_f32(&bytes)
                    .map_err(|e| Error::Data(format!("oracle array {name}: {e}")))?;
                Ok(Tensor::from_slice(&values)
                    .view(shape.as_slice())
                    .to_device(device))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::from_arrays(w))
    }

    /// An oracle of SeqGAN's shape (vocabulary 5,000, 32/32) with N(0, 1) weights drawn from
    /// [`RANDOM_ORACLE_SEED`].
    pub fn random(device: Device) -> Self {
        let (v, e, h) = (5000, 32, 32);
        // The embedding, then w, u and b of the four gates (the order of [`ARRAYS`]), then
        // the output layer.
        let gate: [Vec<i64>; 3] = [vec![e, h], vec![h, h], vec![h]];
        let shapes: Vec<Vec<i64>> = std::iter::once(vec![v, e])
            .chain(gate.iter().cycle().take(12).cloned())
            .chain([vec![h, v], vec![v]])
            .collect();
        // Drawn in Rust from a ChaCha stream (Box-Muller), not from torch's shared generator,
        // so the oracle is the same whatever else draws random numbers.
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(RANDOM_ORACLE_SEED as u64);
        let w = shapes
            .iter()
            .map(|s| {
                let n: i64 = s.iter().product();
                let values: Vec<f32> = (0..n)
                    .map(|_| {
                        let (u1, u2): (f64, f64) = (rng.gen(), rng.gen());
                        let r = (-2.0 * (1.0 - u1).ln()).sqrt();
                        (r * (std::f64::consts::TAU * u2).cos()) as f32
                    })
                    .collect();
                Tensor::from_slice(&values)
                    .view(s.as_slice())
                    .to_device(device)
            })
            .collect();
        Self::from_arrays(w)
    }

    fn from_arrays(w: Vec<Tensor>) -> Self {
        let (vocab_size, hidden) = w[0].size2().expect("embedding is 2-D");
        Oracle {
            w,
            vocab_size,
            hidden,
        }
    }

    fn cell(&self, x: &Tensor, h: &Tensor, c: &Tensor) -> (Tensor, Tensor) {
        let w = &self.w;
        let gate = |k: usize| x.matmul(&w[k]) + h.matmul(&w[k + 1]) + &w[k + 2];
        let i = gate(1).sigmoid();
        let f = gate(4).sigmoid();
        let o = gate(7).sigmoid();
        let c_tilde = gate(10).tanh();
        let c = f * c + i * c_tilde;
        let h = o * c.tanh();
        (h, c)
    }

    fn out(&self, h: &Tensor) -> Tensor {
        h.matmul(&self.w[13]) + &self.w[14]
    }

    /// Mean per-token negative log-likelihood (nats) of `seqs` ([N, T] ids, no start token).
    pub fn nll(&self, seqs: &Tensor) -> f64 {
        let _guard = tch::no_grad_guard();
        let seqs = seqs.to_device(self.w[0].device());
        let (n, t) = seqs.size2().expect("[N, T]");
        let mut total = 0.0;
        for r in in_order(n as usize, 2048) {
            let target = seqs.narrow(0, r.start as i64, (r.end - r.start) as i64); // [b, T]
            let start = Tensor::full(
                [target.size()[0], 1],
                Self::START,
                (Kind::Int64, target.device()),
            );
            let input = Tensor::cat(&[&start, &target.narrow(1, 0, t - 1)], 1);
            let logits = self.forward(&input, false); // [b, T, V]
            let loss = logits
                .view([-1, self.vocab_size])
                .cross_entropy_loss::<Tensor>(
                    &target.reshape([-1]),
                    None,
                    tch::Reduction::Sum,
                    -100,
                    0.0,
                );
            total += loss.double_value(&[]);
        }
        total / (n * t) as f64
    }
}

impl Generator for Oracle {
    fn vocab_size(&self) -> i64 {
        self.vocab_size
    }

    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.w[0].index_select(0, &tokens.reshape([-1])).view_(
            tokens
                .size()
                .into_iter()
                .chain([self.hidden])
                .collect::<Vec<_>>(),
        )
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        probs.matmul(&self.w[0])
    }

    fn forward_embedded(&self, emb: &Tensor, _train: bool) -> Tensor {
        super::forward_stepwise(self, emb)
    }

    fn initial_state(&self, batch: i64) -> State {
        let z = Tensor::zeros([batch, self.hidden], (Kind::Float, self.w[0].device()));
        State::new(vec![(z.shallow_clone(), 0), (z, 0)])
    }

    fn step_embedded(&self, x: &Tensor, state: &mut State) -> Tensor {
        let (h, c) = self.cell(x, &state.tensors[0].0, &state.tensors[1].0);
        let logits = self.out(&h);
        state.tensors = vec![(h, 0), (c, 0)];
        state.pos += 1;
        logits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SeqGAN's oracle, when the data set is in the data directory (CI points it at the
    /// copies beside the checkout); `None` (the test says it skipped) elsewhere.
    fn seqgan_oracle() -> Option<Oracle> {
        match crate::datasets::set("seqgan-oracle").unwrap().locate() {
            Ok(_) => Some(Oracle::load(Device::Cpu).unwrap()),
            Err(e) => {
                eprintln!("skipped: {e}");
                None
            }
        }
    }

    #[test]
    fn parses_every_array_with_the_documented_shapes() {
        assert!(npy_f32(b"not numpy").is_err());
        let r = Oracle::random(Device::Cpu);
        assert_eq!(r.w[0].size(), vec![5000, 32]);
        assert_eq!(r.w[3].size(), vec![32]);
        let std = r.w[13].std(true).double_value(&[]);
        assert!((std - 1.0).abs() < 0.02, "N(0, 1) weights: std {std}");
        let again = Oracle::random(Device::Cpu);
        assert!(r.w[13].equal(&again.w[13]), "the same oracle every time");
        let Some(o) = seqgan_oracle() else { return };
        assert_eq!(o.w[0].size(), vec![5000, 32]);
        assert_eq!(o.w[13].size(), vec![32, 5000]);
        assert_eq!(o.w[14].size(), vec![5000]);
        let dir = crate::datasets::set("seqgan-oracle")
            .unwrap()
            .locate()
            .unwrap();
        let bytes = std::fs::read(dir.join("bi.npy")).unwrap();
        assert!(npy_f32(&bytes[..bytes.len() - 4]).is_err());
    }

    /// Log-probabilities checked against an independent float64 numpy implementation of the
    /// formulas of the data set's README:
    /// ```python
    /// d = {k: np.load(f"{DATA}/oracle-seqgan/{k}.npy") for k in "embedding wi ui bi ...".split()}
    /// def logprob(seq):
    ///     h = c = np.zeros(32); prev = 0; lp = 0.0
    ///     for tok in seq:
    ///         x = d["embedding"][prev]
    ///         i = sig(x@d["wi"]+h@d["ui"]+d["bi"]); f = sig(x@d["wf"]+h@d["uf"]+d["bf"])
    ///         o = sig(x@d["wog"]+h@d["uog"]+d["bog"]); ct = np.tanh(x@d["wc"]+h@d["uc"]+d["bc"])
    ///         c = f*c + i*ct; h = o*np.tanh(c); z = h@d["wo"]+d["bo"]
    ///         lp += (z - logsumexp(z))[tok]; prev = tok
    ///     return lp
    /// logprob(range(1, 21))  -> -237.30144892027442
    /// logprob([0] * 20)      -> -279.48461599198214
    /// logprob(SEQ3)          -> -253.1008897762396
    /// ```
    #[test]
    fn log_probabilities_match_numpy() {
        let Some(o) = seqgan_oracle() else { return };
        let seq3 = [
            4999i64, 17, 2500, 3, 3, 3, 42, 1000, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
        ];
        let cases: [(Vec<i64>, f64); 3] = [
            ((1..=20).collect(), -237.30144892027442),
            (vec![0; 20], -279.48461599198214),
            (seq3.to_vec(), -253.1008897762396),
        ];
        for (seq, lp) in &cases {
            let nll = o.nll(&Tensor::from_slice(seq).view([1, 20]));
            assert!(
                (nll * 20.0 + lp).abs() < 2e-3,
                "{seq:?}: {} vs {lp}",
                -nll * 20.0
            );
        }
        let all: Vec<i64> = cases.iter().flat_map(|(s, _)| s.clone()).collect();
        let mean = o.nll(&Tensor::from_slice(&all).view([3, 20]));
        assert!((mean - 12.831449244808267).abs() < 1e-4, "{mean}");
    }
}
