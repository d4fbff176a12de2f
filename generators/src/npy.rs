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
    parse_i8_matrix(&bytes, &format!("{what} {}", path.display()))
}

/// [`read_i8_matrix`] on the file's bytes; `name` ("--weights w.npy") starts every error.
pub fn parse_i8_matrix(bytes: &[u8], name: &str) -> Result<Matrix<i8>> {
    let file = open_npy(bytes, name)?;
    check_int8(&file.dtype(), name)?;
    if file.order() != Order::C {
        return Err(StaError::Usage(format!(
            "{name}: Fortran-ordered arrays are not supported; save with numpy.ascontiguousarray"
        )));
    }
    let shape = file.shape().to_vec();
    let [rows, cols] = shape[..] else {
        return Err(StaError::Usage(format!(
            "{name}: expected a 2-D array, got shape {shape:?}"
        )));
    };
    if rows == 0 || cols == 0 {
        return Err(StaError::Usage(format!(
            "{name}: empty array of shape {shape:?}"
        )));
    }
    let data = array_data(file.into_inner(), &shape, 1, name)?;
    Matrix::new(
        rows as usize,
        cols as usize,
        data.iter().map(|&b| b as i8).collect(),
    )
    .map_err(usage)
}

/// The data of an array of `shape` with `item_bytes`-byte elements: `data` (what follows the header) is compared
/// with what the shape claims before anything is allocated, so a header claiming 2^40 elements is refused here.
pub fn array_data<'a>(
    data: &'a [u8],
    shape: &[u64],
    item_bytes: u64,
    name: &str,
) -> Result<&'a [u8]> {
    let needed = shape
        .iter()
        .try_fold(item_bytes, |n, &d| n.checked_mul(d))
        .and_then(|n| usize::try_from(n).ok());
    match needed {
        Some(n) if n <= data.len() => Ok(&data[..n]),
        _ => Err(StaError::Usage(format!(
            "{name}: truncated data: shape {shape:?} needs {} bytes, the file holds {} after its header",
            needed.map_or("more than 2^64".to_string(), |n| n.to_string()),
            data.len()
        ))),
    }
}

/// Reads the header of .npy `bytes`; `name` starts every error. The reader allocates the header length a file
/// claims (up to 4 GiB in formats 2.0 and 3.0) before reading it, so a claim beyond the file is refused first.
pub fn open_npy<'a>(bytes: &'a [u8], name: &str) -> Result<npyz::NpyFile<&'a [u8]>> {
    if let (Some(b"\x93NUMPY"), Some(&[major, _]), Some(&[a, b, c, d])) =
        (bytes.get(..6), bytes.get(6..8), bytes.get(8..12))
    {
        let claimed = u64::from(u32::from_le_bytes([a, b, c, d]));
        if major >= 2 && 12 + claimed > bytes.len() as u64 {
            return Err(StaError::Usage(format!(
                "{name}: not a valid .npy file: its header claims {claimed} bytes, the file holds {}",
                bytes.len()
            )));
        }
    }
    npyz::NpyFile::new(bytes).map_err(|e| {
        StaError::Usage(format!(
            "{name}: not a valid .npy file: {}",
            header_error(&e)
        ))
    })
}

/// A .npy header error on one line: the reader's syntax errors quote the header over several lines with a caret
/// under the column; keep the first line and the "expected …" note, and escape control characters.
pub fn header_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default().trim_end();
    let line = match lines.map(str::trim).find_map(|l| l.strip_prefix("= ")) {
        Some(note) => format!("{first} ({note})"),
        None => first.to_string(),
    };
    line.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn check_int8(dtype: &DType, name: &str) -> Result<()> {
    let ok = matches!(dtype, DType::Plain(ts) if ts.to_string() == "|i1" || ts.to_string() == "<i1" || ts.to_string() == ">i1");
    if ok {
        return Ok(());
    }
    let got = match dtype {
        DType::Plain(ts) => ts.to_string(),
        other => format!("{other:?}"),
    };
    Err(StaError::Usage(format!(
        "{name}: dtype must be int8 ('|i1'), got '{got}'"
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
