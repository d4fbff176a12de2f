//! NumPy `.npy` input and output for the matrices `sta` consumes and produces.

use std::path::Path;

use npyz::{DType, Order, WriterBuilder};
use sta_golden::matrix::Matrix;

use crate::error::{io_context, usage, Result, StaError};

/// Reads a 2-D INT8 matrix (`dtype int8`, C order). `what` names the argument in errors, e.g. "--weights".
pub fn read_i8_matrix(path: &Path, what: &str) -> Result<Matrix<i8>> {
    let bytes = std::fs::read(path).map_err(|e| {
        StaError::Usage(format!("{what} {}: cannot read file: {e}", path.display()))
    })?;
    let file = npyz::NpyFile::new(&bytes[..]).map_err(|e| {
        StaError::Usage(format!(
            "{what} {}: not a valid .npy file: {e}",
            path.display()
        ))
    })?;
    check_int8(&file.dtype(), path, what)?;
    if file.order() != Order::C {
        return Err(StaError::Usage(format!(
            "{what} {}: Fortran-ordered arrays are not supported; save with numpy.ascontiguousarray",
            path.display()
        )));
    }
    let shape = file.shape().to_vec();
    let [rows, cols] = shape[..] else {
        return Err(StaError::Usage(format!(
            "{what} {}: expected a 2-D array, got shape {shape:?}",
            path.display()
        )));
    };
    if rows == 0 || cols == 0 {
        return Err(StaError::Usage(format!(
            "{what} {}: empty array of shape {shape:?}",
            path.display()
        )));
    }
    let data: Vec<i8> = file.into_vec().map_err(|e| {
        StaError::Usage(format!(
            "{what} {}: truncated or unreadable data: {e}",
            path.display()
        ))
    })?;
    Matrix::new(rows as usize, cols as usize, data).map_err(usage)
}

fn check_int8(dtype: &DType, path: &Path, what: &str) -> Result<()> {
    let ok = matches!(dtype, DType::Plain(ts) if ts.to_string() == "|i1" || ts.to_string() == "<i1" || ts.to_string() == ">i1");
    if ok {
        return Ok(());
    }
    let got = match dtype {
        DType::Plain(ts) => ts.to_string(),
        other => format!("{other:?}"),
    };
    Err(StaError::Usage(format!(
        "{what} {}: dtype must be int8 ('|i1'), got '{got}'",
        path.display()
    )))
}

/// Encodes any array of a NumPy-native element type (`i8` → `|i1`, `i32` → `<i4`, `i64` → `<i8`) as `.npy` bytes.
pub fn encode_npy<T: npyz::AutoSerialize + Copy>(
    shape: &[u64],
    data: &[T],
) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut writer = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut bytes)
        .begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()?;
    Ok(bytes)
}

/// Serialises a result matrix as `.npy` bytes: int32 for accumulators of at most 32 bits, else int64.
pub fn matrix_to_npy(y: &Matrix<i64>, acc_width: u32) -> Result<Vec<u8>> {
    let shape = [y.rows() as u64, y.cols() as u64];
    let encoded = if acc_width <= 32 {
        let narrow: Vec<i32> = y.data().iter().map(|&v| v as i32).collect();
        encode_npy(&shape, &narrow)
    } else {
        encode_npy(&shape, y.data())
    };
    encoded.map_err(io_context("encoding the result as .npy"))
}

/// Serialises an INT8 matrix as `.npy` bytes (dtype int8), e.g. the demo's W and X.
pub fn i8_matrix_to_npy(m: &Matrix<i8>) -> Result<Vec<u8>> {
    encode_npy(&[m.rows() as u64, m.cols() as u64], m.data())
        .map_err(io_context("encoding an int8 matrix as .npy"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], data: &[T]) {
        std::fs::write(path, encode_npy(shape, data).unwrap()).unwrap();
    }

    #[test]
    fn reads_int8_and_rejects_other_dtypes_and_ranks() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("w.npy");
        write_npy(&good, &[2, 3], &[-128i8, 127, 0, 1, -1, 5]);
        let m = read_i8_matrix(&good, "--weights").unwrap();
        assert_eq!((m.rows(), m.cols()), (2, 3));
        assert_eq!(m.data(), &[-128, 127, 0, 1, -1, 5]);

        let wide = dir.path().join("w32.npy");
        write_npy(&wide, &[2, 2], &[1i32, 2, 3, 4]);
        let err = read_i8_matrix(&wide, "--weights").unwrap_err().to_string();
        assert!(
            err.contains("dtype must be int8") && err.contains("<i4"),
            "{err}"
        );

        let flat = dir.path().join("flat.npy");
        write_npy(&flat, &[4], &[1i8, 2, 3, 4]);
        let err = read_i8_matrix(&flat, "--activations")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected a 2-D array"), "{err}");

        let missing = dir.path().join("missing.npy");
        assert!(read_i8_matrix(&missing, "--weights")
            .unwrap_err()
            .to_string()
            .contains("cannot read"));

        let junk = dir.path().join("junk.npy");
        std::fs::write(&junk, b"not numpy").unwrap();
        assert!(read_i8_matrix(&junk, "--weights")
            .unwrap_err()
            .to_string()
            .contains("not a valid .npy"));
    }

    #[test]
    fn writes_int32_results_readable_back() {
        let y = Matrix::new(2, 2, vec![i32::MIN as i64, -1, 0, i32::MAX as i64]).unwrap();
        let bytes = matrix_to_npy(&y, 32).unwrap();
        let file = npyz::NpyFile::new(&bytes[..]).unwrap();
        assert_eq!(file.shape(), &[2, 2]);
        assert_eq!(
            file.into_vec::<i32>().unwrap(),
            vec![i32::MIN, -1, 0, i32::MAX]
        );
    }
}
