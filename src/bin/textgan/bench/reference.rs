//! The plain-PyTorch reference of `textgan bench --reference` (benches/reference), run in the
//! same process's environment, and the peak-memory readings both sides report.
use super::{name, BenchArgs};
use anyhow::{bail, Result};
use tch::Device;

/// Linux: restarts the process's peak resident set (VmHWM) from its current size, so that the
/// next reading is the peak of the work in between.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set of this process in MB (Linux), null elsewhere.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The plain-PyTorch yardstick, run as a child process (never in the product's path).
pub struct Reference {
    python: std::path::PathBuf,
    script: std::path::PathBuf,
}

impl Reference {
    const SCRIPT: &'static str = "benches/reference/torch_reference.py";

    pub fn find(python: Option<std::path::PathBuf>) -> Result<Self> {
        let script = std::path::PathBuf::from(Self::SCRIPT);
        if !script.is_file() {
            bail!(
                "--reference needs {} (run `textgan bench` from the repository root)",
                Self::SCRIPT
            );
        }
        let python = python.unwrap_or_else(|| ".venv/bin/python".into());
        if !python.exists() {
            bail!(
                "--reference needs a Python with torch: {} does not exist (pass --python PATH)",
                python.display()
            );
        }
        Ok(Reference { python, script })
    }

    /// Runs the reference on one step and size; its JSON line.
    pub fn run(
        &self,
        a: &BenchArgs,
        device: Device,
        (step, size): (&str, &str),
        reps: usize,
    ) -> Result<serde_json::Value> {
        let device = match device {
            Device::Cuda(i) => format!("cuda:{i}"),
            _ => "cpu".to_string(),
        };
        let out = std::process::Command::new(&self.python)
            .arg(&self.script)
            .args(["--step", step, "--size", size, "--device", &device])
            .args(["--reps", &reps.to_string()])
            .args(["--threads", &tch::get_num_threads().to_string()])
            .args(["--highway", &name(&a.highway)])
            .args(["--relgan-d-steps", &a.relgan_d_steps.to_string()])
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        match stdout.lines().rev().find(|l| l.starts_with('{')) {
            Some(l) if out.status.success() => Ok(serde_json::from_str(l)?),
            _ => bail!(
                "the PyTorch reference failed on {step}/{size}: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("no output")
            ),
        }
    }
}
