//! A language model that an algorithm trains beside the generator, with its own optimizer:
//! CoT's mediator, DPGAN's discriminator. Built from a generator config, checkpointed under a
//! prefix with its optimizer's moments and count.
use super::Parts;
use crate::error::{Error, Result};
use crate::models::{GeneratorConfig, GeneratorModel};
use crate::optim::Adam;
use std::collections::HashMap;
use std::path::Path;
use tch::Tensor;

pub struct LmSide {
    pub model: GeneratorModel,
    pub opt: Adam,
    /// Checkpoint names start with it ("cot.mediator").
    prefix: &'static str,
}

impl LmSide {
    /// A fresh model of `cfg` at the run's shapes and condition, with Adam as D's (`gan.d_beta1`).
    pub fn new(cfg: &GeneratorConfig, p: &Parts, prefix: &'static str, name: &'static str) -> Self {
        let s = &p.shapes;
        let model = GeneratorModel::conditional(cfg, s.vocab_size, s.gen_len, p.cond, p.device);
        let opt = Adam::new(&model.vs, &p.adv.d_adam()).named(name);
        LmSide { model, opt, prefix }
    }

    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        let p = self.prefix;
        let mut t = crate::models::vars::named_vars(&self.model.vs, &format!("{p}."));
        t.extend(self.opt.state_tensors(&format!("{p}_opt.")));
        t.push((format!("{p}_opt_t"), Tensor::from(self.opt.t)));
        t
    }

    pub fn load(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        let p = self.prefix;
        crate::models::vars::restore_vars(&mut self.model.vs, tensors, &format!("{p}."), path)?;
        self.opt
            .load_state(tensors, &format!("{p}_opt."))
            .map_err(|e| Error::checkpoint(path, e))?;
        let t = tensors
            .get(&format!("{p}_opt_t"))
            .ok_or_else(|| Error::checkpoint(path, format!("missing tensor {p}_opt_t")))?;
        self.opt.t = t.int64_value(&[]);
        Ok(())
    }
}
