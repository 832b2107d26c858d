//! Progress bar and log lines for training, as [`textgan::train::Hooks`].
//!
//! On a terminal, a bar. When stderr is a file or a pipe (`nohup`, CI, a job scheduler) the bar
//! is hidden, so a plain progress line is printed instead at most every
//! `TEXTGAN_PROGRESS_SECS` seconds (default 60).
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use textgan::checkpoint::Phase;
use textgan::train::Metrics;

pub struct BarHooks {
    bar: Option<ProgressBar>,
    /// Set when stderr is not a terminal: print a line every `every`.
    plain: Option<Plain>,
    /// Set by a signal: stop after the current step.
    stop: Option<Arc<AtomicBool>>,
}

struct Plain {
    every: Duration,
    last: Instant,
    /// When and at which step the current phase started, and its length.
    start: (Instant, usize),
    total: usize,
}

impl BarHooks {
    pub fn new(stop: Option<Arc<AtomicBool>>) -> Self {
        let secs = std::env::var("TEXTGAN_PROGRESS_SECS")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(60.0);
        let now = Instant::now();
        BarHooks {
            bar: None,
            plain: (!std::io::stderr().is_terminal()).then(|| Plain {
                every: Duration::from_secs_f64(secs),
                last: now,
                start: (now, 0),
                total: 0,
            }),
            stop,
        }
    }

    fn print(&self, line: &str) {
        // A hidden bar (stderr not a terminal) drops what it is asked to print.
        match &self.bar {
            Some(b) if !b.is_hidden() => b.println(line),
            _ => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Plain {
    /// "step 12/50 (24%), 5m10s elapsed, eta 10m45s" for the current phase.
    fn line(&self, step: usize) -> String {
        let elapsed = self.start.0.elapsed().as_secs_f64();
        let done = step.saturating_sub(self.start.1);
        let left = self.total.saturating_sub(step);
        let eta = match done {
            0 => "-".to_string(),
            _ => clock(elapsed / done as f64 * left as f64),
        };
        let pct = 100.0 * step as f64 / self.total.max(1) as f64;
        format!(
            "step {step}/{} ({pct:.0}%), {} elapsed, eta {eta}",
            self.total,
            clock(elapsed)
        )
    }
}

/// Seconds as "1h02m", "5m10s" or "42s".
fn clock(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

fn fmt(v: Option<f64>) -> String {
    match v {
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
        if let Some(p) = &mut self.plain {
            let now = Instant::now();
            (p.last, p.start, p.total) = (now, (now, step), total);
        }
    }

    fn on_step(&mut self, step: usize, loss: f64, lr: f64) {
        if let Some(b) = &self.bar {
            b.set_position(step as u64);
            b.set_message(format!("loss {loss:.4}  lr {lr:.2e}"));
        }
        if let Some(p) = &mut self.plain {
            if p.last.elapsed() >= p.every {
                p.last = Instant::now();
                eprintln!("{}  loss {loss:.4}  lr {lr:.2e}", p.line(step));
            }
        }
    }

    fn on_eval(&mut self, m: &Metrics) {
        if m.phase == Phase::Adv {
            let mut line = format!(
                "adv {:>6}  G {}  D {}  D acc real {} fake {}  test NLL {}",
                m.adv_step.unwrap_or(0),
                fmt(m.adv.g_loss),
                fmt(m.adv.d_loss),
                fmt(m.adv.d_real_acc),
                fmt(m.adv.d_fake_acc),
                fmt(m.test_nll)
            );
            if m.adv.beta.is_some() {
                line += &format!("  beta {}", fmt(m.adv.beta));
            }
            if let Some((b, sb)) = m.bleu4() {
                line += &format!("  BLEU-4 {}  Self-BLEU-4 {}", fmt(Some(b)), fmt(Some(sb)));
            }
            if m.nll_oracle.is_some() {
                line += &format!("  NLL-oracle {}", fmt(m.nll_oracle));
            }
            line += &translation(m);
            self.print(&line);
            return;
        }
        let mut line = format!(
            "step {:>7}  epoch {:>3}  train {}  test NLL {}",
            m.step,
            m.epoch,
            fmt(m.train_loss),
            fmt(m.test_nll)
        );
        if m.nll_oracle.is_some() {
            line += &format!("  NLL-oracle {}", fmt(m.nll_oracle));
        }
        line += &translation(m);
        line += &format!("  {:.0} tok/s", m.tokens_per_s.unwrap_or(0.0));
        self.print(&line);
    }

    fn should_stop(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    fn on_message(&mut self, msg: &str) {
        self.print(msg);
    }
}

/// sacreBLEU and chrF of a parallel corpus's evaluation (nothing for other runs).
fn translation(m: &Metrics) -> String {
    match (m.sacrebleu, m.chrf) {
        (Some(b), Some(c)) => format!("  sacreBLEU {b:.2}  chrF {c:.2}"),
        _ => String::new(),
    }
}

/// A bar of `total` items labelled `what` on a terminal; hidden when stderr is a file or pipe.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:32} {pos}/{len} {per_sec} ETA {eta}")
            .expect("template"),
    );
    bar.set_message(what.to_string());
    bar
}
