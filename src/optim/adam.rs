//! Adam and AdamW with their moment estimates exposed, so checkpoints can save and restore them
//! (tch's built-in optimizers keep that state inside libtorch, out of reach).
use std::collections::HashMap;
use tch::{nn::VarStore, Kind, Tensor};

/// Which optimizer a phase uses (`train.optimizer`, `gan.optimizer`).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
}

/// Adam's settings (torch's defaults); `decoupled` makes it AdamW.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Decoupled weight decay (AdamW) instead of L2 added to the gradient.
    pub decoupled: bool,
    /// Lookahead (Zhang et al. 2019): every `lookahead_k` updates the slow weights move
    /// `lookahead_alpha` of the way to the fast ones and the fast ones restart from them;
    /// 0: off.
    pub lookahead_k: i64,
    pub lookahead_alpha: f64,
    /// After every update, divide each weight matrix (two or more dimensions, embedding
    /// tables excepted) by its largest singular value: spectral normalisation applied as a
    /// projection, so the network is 1-Lipschitz in its inputs layer by layer.
    pub spectral_norm: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            lookahead_k: 0,
            lookahead_alpha: 0.5,
            spectral_norm: false,
        }
    }
}

/// A scalar of the update: a host number, or a 0-d tensor on the device (CUDA-graph capture).
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Host(f64),
    Device(&'a Tensor),
}

impl Scalar<'_> {
    fn mul(self, t: &Tensor) -> Tensor {
        match self {
            Scalar::Host(x) => t * x,
            Scalar::Device(x) => t * x,
        }
    }

    fn div(self, t: &Tensor) -> Tensor {
        match self {
            Scalar::Host(x) => t / x,
            Scalar::Device(x) => t / x,
        }
    }
}

#[derive(Debug)]
pub struct Adam {
    names: Vec<String>,
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates taken so far (for bias correction).
    pub t: i64,
    /// `t` on the parameters' device, for [`Adam::step_on_device`] (created on first use).
    t_dev: Option<Tensor>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    /// What it updates, for messages about skipped updates.
    pub name: &'static str,
    /// The loss-spike guard, when on: a loss over this many times the median of the recent
    /// good ones is skipped like a non-finite one.
    pub spike_factor: f64,
    /// The recent good losses (at most [`SPIKE_WINDOW`]).
    pub(crate) recent: std::collections::VecDeque<f64>,
    /// Lookahead's period, rate and slow weights (empty when off).
    lookahead: (i64, f64),
    slow: Vec<Tensor>,
    /// The parameters spectral normalisation divides (indices), when it is on.
    spectral: Vec<usize>,
}

/// How many recent losses the spike guard's median looks at.
pub const SPIKE_WINDOW: usize = 50;

impl Adam {
    /// The same optimizer, named for messages ("generator", "discriminator").
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The gradients' global L2 norm and `loss`'s value, read from the device together (one
    /// wait for the device per update, whatever the number of parameters).
    pub fn grad_norm_and_loss(&self, loss: &Tensor) -> (f64, f64) {
        let _guard = tch::no_grad_guard();
        let total = self
            .grad_norm()
            .unwrap_or_else(|| Tensor::zeros([], (Kind::Float, loss.device())));
        let both = Tensor::stack(&[total, loss.detach().to_kind(Kind::Float).reshape([])], 0);
        let v: Vec<f32> = Vec::try_from(both.to_device(tch::Device::Cpu)).expect("two floats");
        (f64::from(v[0]), f64::from(v[1]))
    }

    /// The defined gradients.
    fn grads(&self) -> Vec<Tensor> {
        self.params
            .iter()
            .map(Tensor::grad)
            .filter(Tensor::defined)
            .collect()
    }

    /// The gradients' global L2 norm as a 0-d float tensor on their device; `None` when no
    /// parameter has a gradient.
    fn grad_norm(&self) -> Option<Tensor> {
        let norms: Vec<Tensor> = self
            .grads()
            .iter()
            .map(|g| g.norm().to_kind(Kind::Float))
            .collect();
        (!norms.is_empty()).then(|| Tensor::stack(&norms, 0).norm())
    }

    /// Scales the gradients so their global norm, `total`, is at most `max_norm`.
    pub fn scale_grads(&mut self, total: f64, max_norm: f64) {
        let _guard = tch::no_grad_guard();
        if max_norm > 0.0 && total > max_norm {
            let scale = max_norm / (total + 1e-6);
            for mut g in self.grads() {
                let _ = g.g_mul_scalar_(scale);
            }
        }
    }

    pub fn new(vs: &VarStore, cfg: &AdamConfig) -> Self {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let (names, params): (Vec<_>, Vec<_>) = vars.into_iter().unzip();
        let m = params.iter().map(Tensor::zeros_like).collect();
        let v = params.iter().map(Tensor::zeros_like).collect();
        let spectral = match cfg.spectral_norm {
            true => spectral_params(&names, &params),
            false => Vec::new(),
        };
        let slow = match cfg.lookahead_k {
            0 => Vec::new(),
            _ => params.iter().map(|p| p.detach().copy()).collect(),
        };
        Adam {
            names,
            params,
            m,
            v,
            t: 0,
            t_dev: None,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            weight_decay: cfg.weight_decay,
            decoupled: cfg.decoupled,
            name: "model",
            spike_factor: 0.0,
            recent: std::collections::VecDeque::new(),
            lookahead: (cfg.lookahead_k, cfg.lookahead_alpha),
            slow,
            spectral,
        }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// Scales gradients so their global L2 norm is at most `max_norm`; returns the norm before.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let total = {
            let _guard = tch::no_grad_guard();
            match self.grad_norm() {
                Some(t) => t.double_value(&[]),
                None => return 0.0,
            }
        };
        self.scale_grads(total, max_norm);
        total
    }

    /// The parameters this optimizer updates, in its order.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// One update at learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        let _guard = tch::no_grad_guard();
        self.t += 1;
        if let Some(t) = &mut self.t_dev {
            let _ = t.fill_(self.t);
        }
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
        let keep = 1.0 - lr * self.weight_decay;
        self.update(
            Scalar::Host(lr / bc1),
            Scalar::Host(bc2.sqrt()),
            Scalar::Host(keep),
        );
        let (k, alpha) = self.lookahead;
        if k > 0 && self.t % k == 0 {
            for (p, slow) in self.params.iter_mut().zip(&mut self.slow) {
                let _ = slow.lerp_(p, alpha); // slow += alpha (fast - slow)
                p.copy_(slow);
            }
        }
        for &i in &self.spectral {
            let p = &mut self.params[i];
            let rows = p.size()[0];
            // The largest singular value, exactly (the matrices are small beside the update).
            let sigma = p.reshape([rows, -1]).svd(true, false).1.max();
            let _ = p.g_div_(&sigma.clamp_min(1e-12));
        }
    }

    /// The update of every parameter with a gradient: `step` = lr / (1 - beta1^t),
    /// `bc2_sqrt` = sqrt(1 - beta2^t), `keep` = 1 - lr * weight_decay (AdamW's shrink).
    fn update(&mut self, step: Scalar, bc2_sqrt: Scalar, keep: Scalar) {
        for ((p, m), v) in self.params.iter_mut().zip(&mut self.m).zip(&mut self.v) {
            let g = p.grad();
            if !g.defined() {
                continue;
            }
            let g = if self.weight_decay > 0.0 && !self.decoupled {
                &g + &*p * self.weight_decay
            } else {
                g
            };
            let _ = m.lerp_(&g, 1.0 - self.beta1); // m = b1 m + (1 - b1) g
            let _ = v.g_mul_scalar_(self.beta2);
            let _ = v.g_add_(&(&g * &g * (1.0 - self.beta2)));
            if self.weight_decay > 0.0 && self.decoupled {
                let _ = match keep {
                    Scalar::Host(k) => p.g_mul_scalar_(k),
                    Scalar::Device(k) => p.g_mul_(k),
                };
            }
            let denom = bc2_sqrt.div(&v.sqrt()) + self.eps;
            let _ = p.g_sub_(&step.mul(&(&*m / denom)));
        }
    }

    /// [`Adam::clip_grad_norm`] without reading the norm back to the host, so it can be
    /// captured in a CUDA graph: the scale `min(1, max_norm / (norm + 1e-6))` stays on the device.
    pub fn clip_grad_norm_on_device(&mut self, max_norm: f64) {
        let _guard = tch::no_grad_guard();
        let Some(total) = self.grad_norm().filter(|_| max_norm > 0.0) else {
            return;
        };
        let scale = (max_norm / (total + 1e-6)).clamp_max(1.0);
        for mut g in self.grads() {
            let _ = g.g_mul_(&scale);
        }
    }

    /// [`Adam::step`] with the step count and the learning rate (a 0-d float tensor) on the
    /// device, so it can be captured in a CUDA graph and replayed. It advances the device's
    /// count only: whoever replays it adds 1 to `t` per replay.
    pub fn step_on_device(&mut self, lr: &Tensor) {
        let _guard = tch::no_grad_guard();
        let mut t = self.device_count();
        let _ = t.g_add_scalar_(1.0);
        let bc1: Tensor = 1.0 - Tensor::pow_scalar(self.beta1, &t);
        let bc2: Tensor = 1.0 - Tensor::pow_scalar(self.beta2, &t);
        let step = lr / bc1;
        let bc2_sqrt = bc2.sqrt();
        let keep: Tensor = 1.0 - lr * self.weight_decay;
        self.update(
            Scalar::Device(&step),
            Scalar::Device(&bc2_sqrt),
            Scalar::Device(&keep),
        );
    }

    /// The device copy of `t`, created from `t` on first use.
    fn device_count(&mut self) -> Tensor {
        let t = self.t;
        let device = self.params.first().map_or(tch::Device::Cpu, Tensor::device);
        self.t_dev
            .get_or_insert_with(|| Tensor::from(t as f32).to_device(device))
            .shallow_clone()
    }

    /// Copies of the parameters, moments and step count, to undo updates made for a warm-up.
    pub fn snapshot(&mut self) -> AdamSnapshot {
        let _guard = tch::no_grad_guard();
        AdamSnapshot {
            params: self.params.iter().map(Tensor::copy).collect(),
            m: self.m.iter().map(Tensor::copy).collect(),
            v: self.v.iter().map(Tensor::copy).collect(),
            t: self.t,
        }
    }

    /// Puts back what [`Adam::snapshot`] took, in place (captured graphs keep their pointers).
    pub fn restore(&mut self, s: &AdamSnapshot) {
        let _guard = tch::no_grad_guard();
        for (dst, src) in self
            .params
            .iter_mut()
            .zip(&s.params)
            .chain(self.m.iter_mut().zip(&s.m))
            .chain(self.v.iter_mut().zip(&s.v))
        {
            dst.copy_(src);
        }
        self.t = s.t;
        let t = self.t;
        if let Some(td) = &mut self.t_dev {
            let _ = td.fill_(t);
        }
    }

    /// Moment estimates by name, for a checkpoint: `<prefix>m.<var>`, `<prefix>v.<var>`, and
    /// Lookahead's slow weights `<prefix>slow.<var>` when it is on.
    pub fn state_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, n) in self.names.iter().enumerate() {
            out.push((format!("{prefix}m.{n}"), self.m[i].shallow_clone()));
            out.push((format!("{prefix}v.{n}"), self.v[i].shallow_clone()));
            if let Some(slow) = self.slow.get(i) {
                out.push((format!("{prefix}slow.{n}"), slow.shallow_clone()));
            }
        }
        out
    }

    /// Restores moment estimates saved by [`Adam::state_tensors`]; `t` is restored by the caller.
    pub fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        prefix: &str,
    ) -> Result<(), String> {
        let _guard = tch::no_grad_guard();
        for (i, n) in self.names.iter().enumerate() {
            let mut parts = vec![("m", &mut self.m[i]), ("v", &mut self.v[i])];
            if let Some(slow) = self.slow.get_mut(i) {
                parts.push(("slow", slow));
            }
            for (which, dst) in parts {
                let key = format!("{prefix}{which}.{n}");
                let src = tensors
                    .get(&key)
                    .ok_or_else(|| format!("missing optimizer tensor {key}"))?;
                if src.size() != dst.size() {
                    return Err(format!(
                        "optimizer tensor {key} has shape {:?}, expected {:?}",
                        src.size(),
                        dst.size()
                    ));
                }
                dst.copy_(src);
            }
        }
        Ok(())
    }
}

/// The parameters spectral normalisation divides: weight matrices and convolution kernels
/// (read as [out, in * ...]), not biases, norms, or embedding and position tables.
fn spectral_params(names: &[String], params: &[Tensor]) -> Vec<usize> {
    const TABLES: [&str; 4] = ["embed", "wte", "wpe", "label"];
    (0..params.len())
        .filter(|&i| params[i].dim() >= 2 && !TABLES.iter().any(|t| names[i].contains(t)))
        .collect()
}

/// A saved copy of an [`Adam`]'s parameters and state.
#[derive(Debug)]
pub struct AdamSnapshot {
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    t: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device};

    /// Two Adam steps on f(w) = sum(w^2) / 2 from w = [1, -2], lr 0.1, against torch.optim.Adam:
    /// ```python
    /// w = torch.tensor([1., -2.], requires_grad=True); opt = torch.optim.Adam([w], lr=0.1)
    /// for _ in range(2): opt.zero_grad(); (w.pow(2).sum() / 2).backward(); opt.step()
    /// print(w.tolist())  # [0.8004122376441956, -1.8001664876937866]
    /// ```
    /// and torch.optim.AdamW(weight_decay=0.5): [0.7082484364509583, -1.6104121208190918].
    #[test]
    fn matches_torch_adam_and_adamw() {
        for (kind, wd, expect) in [
            (false, 0.0, [0.800_412_237_6, -1.800_166_487_7]),
            (true, 0.5, [0.708_248_436_4, -1.610_412_120_8]),
        ] {
            let vs = nn::VarStore::new(Device::Cpu);
            let w = vs
                .root()
                .var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
            let cfg = AdamConfig {
                decoupled: kind,
                weight_decay: wd,
                ..Default::default()
            };
            let mut opt = Adam::new(&vs, &cfg);
            for _ in 0..2 {
                opt.zero_grad();
                (w.pow_tensor_scalar(2).sum(Kind::Float) / 2).backward();
                opt.step(0.1);
            }
            let got: Vec<f32> = Vec::try_from(&w).unwrap();
            for (g, e) in got.iter().zip(expect) {
                assert!(
                    (*g as f64 - e).abs() < 1e-5,
                    "{kind:?}: {got:?} vs {expect:?}"
                );
            }
        }
    }

    /// Lookahead with k = 2, alpha = 0.5 equals plain Adam whose weights are set, after every
    /// second update, to the midpoint of where they were two updates before and where they
    /// are (moments kept); its slow weights are in the checkpoint's tensors.
    #[test]
    fn lookahead_moves_halfway_every_k_updates() {
        let make = |k: i64| {
            let vs = nn::VarStore::new(Device::Cpu);
            let w = vs
                .root()
                .var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
            let cfg = AdamConfig {
                lookahead_k: k,
                ..Default::default()
            };
            let opt = Adam::new(&vs, &cfg);
            (vs, w, opt)
        };
        let (_a, wa, mut la) = make(2);
        let (_b, wb, mut plain) = make(0);
        let mut slow = wb.detach().copy();
        let loss = |w: &Tensor| w.pow_tensor_scalar(4).sum(Kind::Float);
        for i in 1..=6 {
            for (w, opt) in [(&wa, &mut la), (&wb, &mut plain)] {
                opt.zero_grad();
                loss(w).backward();
                opt.step(0.1);
            }
            if i % 2 == 0 {
                tch::no_grad(|| {
                    slow = &slow + (wb.detach() - &slow) * 0.5;
                    let mut w = wb.shallow_clone();
                    w.copy_(&slow);
                });
            }
            let (a, b): (Vec<f32>, Vec<f32>) =
                (Vec::try_from(&wa).unwrap(), Vec::try_from(&wb).unwrap());
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-6, "update {i}: {a:?} vs {b:?}");
            }
        }
        assert!(la.state_tensors("g.").iter().any(|(n, _)| n == "g.slow.w"));
        assert!(!plain
            .state_tensors("g.")
            .iter()
            .any(|(n, _)| n.contains("slow")));
    }

    /// With spectral normalisation every weight matrix and kernel has largest singular value
    /// 1 after an update (a kernel read as [out, in * ...]); biases and embedding tables
    /// take the plain update.
    #[test]
    fn spectral_normalisation_leaves_unit_singular_values() {
        tch::manual_seed(3);
        let run = |on: bool| {
            let vs = nn::VarStore::new(Device::Cpu);
            let r = vs.root();
            let emb = (&r / "embed").var(
                "weight",
                &[5, 3],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 2.0,
                },
            );
            let w = (&r / "lin").var(
                "weight",
                &[4, 3],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 2.0,
                },
            );
            let b = (&r / "lin").var("bias", &[4], nn::Init::Const(0.3));
            let k = (&r / "conv").var(
                "weight",
                &[2, 1, 3, 4],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 2.0,
                },
            );
            let cfg = AdamConfig {
                spectral_norm: on,
                ..Default::default()
            };
            let mut opt = Adam::new(&vs, &cfg);
            let x = Tensor::ones([2, 3], (Kind::Float, Device::Cpu));
            let y = x.matmul(&emb.tr()).sum(Kind::Float)
                + (x.matmul(&w.tr()) + &b).square().sum(Kind::Float)
                + k.square().sum(Kind::Float);
            opt.zero_grad();
            y.backward();
            opt.step(0.01);
            let top = |t: &Tensor| {
                t.reshape([t.size()[0], -1])
                    .svd(true, false)
                    .1
                    .max()
                    .double_value(&[])
            };
            let copy = |t: &Tensor| t.detach().copy();
            (top(&w), top(&k), top(&emb), copy(&b), copy(&emb))
        };
        tch::manual_seed(3);
        let (w, k, emb, b, e) = run(true);
        tch::manual_seed(3);
        let (w0, k0, emb0, b0, e0) = run(false);
        assert!((w - 1.0).abs() < 1e-5 && (k - 1.0).abs() < 1e-5, "{w} {k}");
        assert!(
            w0 > 1.5 && k0 > 1.5,
            "the plain update leaves them large: {w0} {k0}"
        );
        assert!(
            (emb - emb0).abs() < 1e-6 && emb > 1.5,
            "tables untouched: {emb}"
        );
        assert!(b.equal(&b0) && e.equal(&e0));
    }

    #[test]
    fn clipping_scales_to_the_bound() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[3.0f32, 4.0]));
        let mut opt = Adam::new(&vs, &AdamConfig::default());
        (w.pow_tensor_scalar(2).sum(Kind::Float) / 2).backward(); // grad = [3, 4], norm 5
        let before = opt.clip_grad_norm(1.0);
        assert!((before - 5.0).abs() < 1e-5);
        let g: Vec<f32> = Vec::try_from(w.grad()).unwrap();
        assert!(
            (g[0] - 0.6).abs() < 1e-4 && (g[1] - 0.8).abs() < 1e-4,
            "{g:?}"
        );
    }

    /// The capturable update (device count, tensor learning rate, device-side clipping) takes
    /// the same steps as the host one, for Adam and AdamW, with clipping active and not, and
    /// snapshot/restore undoes updates exactly.
    #[test]
    fn device_side_step_and_clip_match_the_host_ones() {
        for kind in [false, true] {
            let cfg = AdamConfig {
                decoupled: kind,
                weight_decay: 0.1,
                ..Default::default()
            };
            let make = || {
                let vs = nn::VarStore::new(Device::Cpu);
                let w = vs
                    .root()
                    .var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0, 0.5]));
                (vs, w)
            };
            let (vs_a, wa) = make();
            let (vs_b, wb) = make();
            let mut host = Adam::new(&vs_a, &cfg);
            let mut dev = Adam::new(&vs_b, &cfg);
            let lr = Tensor::from(0.05f32);
            let loss = |w: &Tensor| w.pow_tensor_scalar(3).sum(Kind::Float) * 2.0;
            let before = dev.snapshot();
            for i in 0..5 {
                let clip = if i % 2 == 0 { 0.5 } else { 100.0 };
                host.zero_grad();
                loss(&wa).backward();
                host.clip_grad_norm(clip);
                host.step(0.05);
                dev.zero_grad();
                loss(&wb).backward();
                dev.clip_grad_norm_on_device(clip);
                dev.step_on_device(&lr);
                dev.t += 1;
                let (a, b): (Vec<f32>, Vec<f32>) =
                    (Vec::try_from(&wa).unwrap(), Vec::try_from(&wb).unwrap());
                for (x, y) in a.iter().zip(&b) {
                    assert!((x - y).abs() < 1e-5, "{kind:?} step {i}: {a:?} vs {b:?}");
                }
            }
            dev.restore(&before);
            let back: Vec<f32> = Vec::try_from(&wb).unwrap();
            assert_eq!(back, vec![1.0, -2.0, 0.5]);
            assert_eq!(dev.t, 0);
            assert_eq!(dev.device_count().double_value(&[]), 0.0);
        }
    }
}
