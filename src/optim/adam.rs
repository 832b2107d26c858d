//! Adam and AdamW with their moment estimates exposed, so checkpoints can save and restore them
//! (tch's built-in optimizers keep that state inside libtorch, out of reach).
use crate::config::{OptimizerKind, TrainConfig};
use std::collections::HashMap;
use tch::{nn::VarStore, Kind, Tensor};

#[derive(Debug)]
pub struct Adam {
    names: Vec<String>,
    params: Vec<Tensor>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates taken so far (for bias correction).
    pub t: i64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
}

impl Adam {
    pub fn new(vs: &VarStore, cfg: &TrainConfig) -> Self {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let (names, params): (Vec<_>, Vec<_>) = vars.into_iter().unzip();
        let m = params.iter().map(Tensor::zeros_like).collect();
        let v = params.iter().map(Tensor::zeros_like).collect();
        Adam {
            names,
            params,
            m,
            v,
            t: 0,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            eps: cfg.eps,
            weight_decay: cfg.weight_decay,
            decoupled: cfg.optimizer == OptimizerKind::Adamw,
        }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// Scales gradients so their global L2 norm is at most `max_norm`; returns the norm before.
    pub fn clip_grad_norm(&mut self, max_norm: f64) -> f64 {
        let _guard = tch::no_grad_guard();
        let grads: Vec<Tensor> = self
            .params
            .iter()
            .map(Tensor::grad)
            .filter(Tensor::defined)
            .collect();
        if grads.is_empty() {
            return 0.0;
        }
        let norms: Vec<Tensor> = grads
            .iter()
            .map(|g| g.norm().to_kind(Kind::Float))
            .collect();
        let total = Tensor::stack(&norms, 0).norm().double_value(&[]);
        if max_norm > 0.0 && total > max_norm {
            let scale = max_norm / (total + 1e-6);
            for mut g in grads {
                let _ = g.g_mul_scalar_(scale);
            }
        }
        total
    }

    /// One update at learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        let _guard = tch::no_grad_guard();
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t as i32);
        let bc2 = 1.0 - self.beta2.powi(self.t as i32);
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
                let _ = p.g_mul_scalar_(1.0 - lr * self.weight_decay);
            }
            let denom = (v.sqrt() / bc2.sqrt()) + self.eps;
            let _ = p.g_sub_(&(&*m / denom * (lr / bc1)));
        }
    }

    /// Moment estimates by name, for a checkpoint: `<prefix>m.<var>`, `<prefix>v.<var>`.
    pub fn state_tensors(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, n) in self.names.iter().enumerate() {
            out.push((format!("{prefix}m.{n}"), self.m[i].shallow_clone()));
            out.push((format!("{prefix}v.{n}"), self.v[i].shallow_clone()));
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
            for (which, dst) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
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
            (
                OptimizerKind::Adam,
                0.0,
                [0.800_412_237_6, -1.800_166_487_7],
            ),
            (
                OptimizerKind::Adamw,
                0.5,
                [0.708_248_436_4, -1.610_412_120_8],
            ),
        ] {
            let vs = nn::VarStore::new(Device::Cpu);
            let w = vs
                .root()
                .var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
            let cfg = TrainConfig {
                optimizer: kind,
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

    #[test]
    fn clipping_scales_to_the_bound() {
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[3.0f32, 4.0]));
        let mut opt = Adam::new(&vs, &TrainConfig::default());
        (w.pow_tensor_scalar(2).sum(Kind::Float) / 2).backward(); // grad = [3, 4], norm 5
        let before = opt.clip_grad_norm(1.0);
        assert!((before - 5.0).abs() < 1e-5);
        let g: Vec<f32> = Vec::try_from(w.grad()).unwrap();
        assert!(
            (g[0] - 0.6).abs() < 1e-4 && (g[1] - 0.8).abs() < 1e-4,
            "{g:?}"
        );
    }
}
