//! Device selection: `cpu`, `cuda`, `cuda:N` or `auto`, with a clear error when CUDA is asked for and absent.
use crate::error::{Error, Result};
use tch::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    Cpu,
    Cuda(usize),
    Auto,
}

pub fn parse_device(s: &str) -> Result<DeviceRequest> {
    match s.trim().to_ascii_lowercase().as_str() {
        "cpu" => Ok(DeviceRequest::Cpu),
        "auto" => Ok(DeviceRequest::Auto),
        "cuda" | "gpu" => Ok(DeviceRequest::Cuda(0)),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => Ok(DeviceRequest::Cuda(i)),
            _ => Err(Error::Device(format!(
                "unknown device `{s}` (expected cpu, cuda, cuda:N or auto)"
            ))),
        },
    }
}

/// Resolves a device request against the machine.
pub fn resolve(s: &str) -> Result<Device> {
    match parse_device(s)? {
        DeviceRequest::Cpu => Ok(Device::Cpu),
        DeviceRequest::Auto => Ok(Device::cuda_if_available()),
        DeviceRequest::Cuda(i) => {
            if !tch::Cuda::is_available() {
                return Err(Error::Device(
                    "CUDA was requested but no CUDA device is available on this machine".into(),
                )
                .with_fix(crate::error::Fix::UseCpu));
            }
            let n = tch::Cuda::device_count() as usize;
            if i >= n {
                return Err(Error::Device(format!(
                    "cuda:{i} was requested but this machine has {n} CUDA device(s)"
                )));
            }
            Ok(Device::Cuda(i))
        }
    }
}

pub fn describe(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(parse_device("CPU").unwrap(), DeviceRequest::Cpu);
        assert_eq!(parse_device("cuda:1").unwrap(), DeviceRequest::Cuda(1));
        assert!(parse_device("tpu").is_err());
        assert!(parse_device("cuda:x").is_err());
    }

    #[test]
    fn cuda_without_gpu_is_an_error_not_a_panic() {
        if !tch::Cuda::is_available() {
            let e = resolve("cuda").unwrap_err().to_string();
            assert!(e.contains("no CUDA device"), "{e}");
        }
    }
}
