//! Feature matrices of texts ([n, d], f32, one row a text) in NumPy's `.npy` format, as
//! `numpy.save` writes and `numpy.load` reads them: what MAUVE and FED compare.
use crate::error::{Error, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Writes `x` ([n, d], any float kind) as a little-endian f32 `.npy` file, atomically.
pub fn save_npy(path: &Path, x: &Tensor) -> Result<()> {
    let shape = x.size();
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // The magic, version and length take 10 bytes; the header ends in a newline, padded so
    // that the data starts on a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    let flat = x
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
        .reshape([-1]);
    let values =
        Vec::<f32>::try_from(&flat).map_err(|e: tch::TchError| Error::Data(e.to_string()))?;
    for v in values {
        bytes.extend(v.to_le_bytes());
    }
    crate::fsutil::write_atomic(path, &bytes)
}

/// Reads an f32 `.npy` matrix ([n, d]) of features.
pub fn load_npy(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (shape, values) = crate::models::npy_f32(&bytes)
        .map_err(|e| Error::Data(format!("{}: {e}", path.display())))?;
    if shape.len() != 2 {
        return Err(Error::Data(format!(
            "{}: features are a matrix [texts, width]; this array has shape {shape:?}",
            path.display()
        )));
    }
    Ok(Tensor::from_slice(&values).reshape(shape.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let x = Tensor::randn([7, 3], (Kind::Float, Device::Cpu));
        let p = dir.path().join("f.npy");
        save_npy(&p, &x).unwrap();
        assert!(load_npy(&p).unwrap().equal(&x));
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!((bytes.len() - 7 * 3 * 4) % 64, 0, "the data starts aligned");
    }
}
