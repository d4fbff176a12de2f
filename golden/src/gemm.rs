//! Reference GEMMs with the accumulator semantics of numerics.md: sparse (compressed N:M) × dense and dense × dense.
//!
//! The hardware wraps its ACC_W-bit accumulator after every addition. Wrapping is reduction modulo 2^ACC_W followed by
//! choosing the representative in [−2^(ACC_W−1), 2^(ACC_W−1)), and addition modulo 2^ACC_W is associative and
//! commutative, so wrapping after every step gives the same value as summing exactly and wrapping once. The exact sum
//! is formed in i128, which no reduction can overflow (|product| ≤ 2^14, and 2^14 · usize::MAX < 2^127).

use crate::nm::Compressed;
use crate::numerics::wrap;
use crate::{Matrix, ShapeError};

/// `Y[o][t] = Σ_g Σ_{s<N} val[o][g][s] · X[g·M + idx[o][g][s]][t]`, wrapped to `acc_width` bits (1..=64).
pub fn gemm_sparse(
    c: &Compressed,
    x: &Matrix<i8>,
    acc_width: u32,
) -> Result<Matrix<i64>, ShapeError> {
    check_operands(c.cols(), x, acc_width)?;
    let m = c.pattern().m();
    let rows = (0..c.rows()).map(|o| {
        let mut acc = vec![0i128; x.cols()];
        for g in 0..c.groups() {
            for (value, index) in c.group_slots(o, g) {
                accumulate(&mut acc, value, x.row(g * m + usize::from(index)));
            }
        }
        acc
    });
    Ok(wrap_rows(rows, c.rows(), x.cols(), acc_width))
}

/// `Y[i][t] = Σ_k A[i][k] · B[k][t]`, wrapped to `acc_width` bits (1..=64).
pub fn gemm_dense(
    a: &Matrix<i8>,
    b: &Matrix<i8>,
    acc_width: u32,
) -> Result<Matrix<i64>, ShapeError> {
    check_operands(a.cols(), b, acc_width)?;
    let rows = (0..a.rows()).map(|i| {
        let mut acc = vec![0i128; b.cols()];
        for (k, &value) in a.row(i).iter().enumerate() {
            accumulate(&mut acc, value, b.row(k));
        }
        acc
    });
    Ok(wrap_rows(rows, a.rows(), b.cols(), acc_width))
}

fn check_operands(k: usize, x: &Matrix<i8>, acc_width: u32) -> Result<(), ShapeError> {
    if x.rows() != k {
        return Err(ShapeError::InnerMismatch {
            k,
            x_rows: x.rows(),
        });
    }
    if !(1..=64).contains(&acc_width) {
        return Err(ShapeError::AccWidth { acc_width });
    }
    Ok(())
}

/// acc[t] += w · x_row[t] for every column t; zero weights (most of a pruned matrix) are skipped.
fn accumulate(acc: &mut [i128], w: i8, x_row: &[i8]) {
    if w == 0 {
        return;
    }
    for (a, &x) in acc.iter_mut().zip(x_row) {
        *a += i128::from(w) * i128::from(x);
    }
}

fn wrap_rows(
    rows: impl Iterator<Item = Vec<i128>>,
    n_rows: usize,
    n_cols: usize,
    acc_width: u32,
) -> Matrix<i64> {
    let data: Vec<i64> = rows.flatten().map(|v| wrap(v, acc_width)).collect();
    Matrix::from_fn(n_rows, n_cols, |r, c| data[r * n_cols + c])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nm::{compress, NmPattern};

    fn matrix(rows: usize, cols: usize, data: &[i8]) -> Matrix<i8> {
        Matrix::new(rows, cols, data.to_vec()).expect("valid shape")
    }

    #[test]
    fn dense_small_example() {
        let a = matrix(2, 3, &[1, 2, 3, -128, 127, 0]);
        let b = matrix(3, 2, &[1, -1, 2, 0, -128, 127]);
        let y = gemm_dense(&a, &b, 32).expect("shapes agree");
        assert_eq!(y.data(), &[1 + 4 - 384, -1 + 381, -128 + 254, 128]);
    }

    #[test]
    fn sparse_equals_dense_on_the_decompressed_matrix() {
        let w = matrix(
            2,
            8,
            &[0, 5, 0, -3, 0, 0, 0, 0, -128, 0, 0, 127, 0, 0, 7, 0],
        );
        let x = Matrix::from_fn(8, 3, |k, t| [-128i8, 127, 1, -1][(k + t) % 4]);
        let c = compress(&w, NmPattern::new(2, 4).expect("pattern")).expect("legal");
        assert_eq!(gemm_sparse(&c, &x, 32), gemm_dense(&w, &x, 32));
    }

    #[test]
    fn accumulator_wraps() {
        // 6 · (−128)² = 98304 wraps in 17 bits to 98304 − 131072 = −32768.
        let a = matrix(1, 6, &[-128; 6]);
        let y = gemm_dense(&a, &a.transpose(), 17).expect("shapes agree");
        assert_eq!(y.data(), &[-32768]);
        let c = compress(&a, NmPattern::new(2, 2).expect("pattern")).expect("legal");
        assert_eq!(gemm_sparse(&c, &a.transpose(), 17), Ok(y));
    }

    #[test]
    fn shape_and_width_errors() {
        let a = matrix(1, 4, &[0; 4]);
        assert_eq!(
            gemm_dense(&a, &matrix(3, 1, &[0; 3]), 32),
            Err(ShapeError::InnerMismatch { k: 4, x_rows: 3 })
        );
        assert_eq!(
            gemm_dense(&a, &a.transpose(), 0),
            Err(ShapeError::AccWidth { acc_width: 0 })
        );
        assert_eq!(
            gemm_dense(&a, &a.transpose(), 65),
            Err(ShapeError::AccWidth { acc_width: 65 })
        );
        let c = compress(&a, NmPattern::new(1, 4).expect("pattern")).expect("legal");
        assert!(gemm_sparse(&c, &matrix(8, 1, &[0; 8]), 32).is_err());
    }
}
