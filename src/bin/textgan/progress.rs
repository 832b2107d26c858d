//! Progress bar and log lines for training, as [`textgan::train::Hooks`].
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

pub struct BarHooks {
    bar: Option<ProgressBar>,
}

impl BarHooks {
    pub fn new() -> Self {
        BarHooks { bar: None }
    }

    fn print(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn fmt(v: &Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.4}"),
        None => "-".into(),
    }
}

impl textgan::train::Hooks for BarHooks {
    fn on_start(&mut self, step: usize, total: usize) {
        if let Some(old) = self.bar.take() {
            old.finish_and_clear();
        }
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:32} {pos}/{len} steps  {msg}  (eta {eta})",
            )
            .expect("valid template"),
        );
        bar.set_position(step as u64);
        self.bar = Some(bar);
    }

    fn on_step(&mut self, step: usize, loss: f64, lr: f64) {
        if let Some(b) = &self.bar {
            b.set_position(step as u64);
            b.set_message(format!("loss {loss:.4}  lr {lr:.2e}"));
        }
    }

    fn on_eval(&mut self, m: &Value) {
        if m["phase"] == "adv" {
            let mut line = format!(
                "adv {:>6}  G {}  D {}  D acc real {} fake {}  test NLL {}",
                m["adv_step"],
                fmt(&m["g_loss"]),
                fmt(&m["d_loss"]),
                fmt(&m["d_real_acc"]),
                fmt(&m["d_fake_acc"]),
                fmt(&m["test_nll"])
            );
            if !m["beta"].is_null() {
                line += &format!("  beta {}", fmt(&m["beta"]));
            }
            if !m["bleu"].is_null() {
                line += &format!(
                    "  BLEU-4 {}  Self-BLEU-4 {}",
                    fmt(&m["bleu"][2]),
                    fmt(&m["self_bleu"][2])
                );
            }
            if !m["nll_oracle"].is_null() {
                line += &format!("  NLL-oracle {}", fmt(&m["nll_oracle"]));
            }
            self.print(&line);
            return;
        }
        let mut line = format!(
            "step {:>7}  epoch {:>3}  train {}  test NLL {}",
            m["step"],
            m["epoch"],
            fmt(&m["train_loss"]),
            fmt(&m["test_nll"])
        );
        if !m["nll_oracle"].is_null() {
            line += &format!("  NLL-oracle {}", fmt(&m["nll_oracle"]));
        }
        line += &format!("  {:.0} tok/s", m["tokens_per_s"].as_f64().unwrap_or(0.0));
        self.print(&line);
    }

    fn on_message(&mut self, msg: &str) {
        self.print(msg);
    }
}
