//! The stream schedule of a GEMM (docs/pe-array.md, "Stream schedule"): which beats `sta gemm` feeds the array, in
//! which order, with which padding.

use super::{ActBeat, ArrayShape, WeightBeat};
use crate::nm::Compressed;
use crate::{Matrix, ShapeError};

/// One output tile: the array computes `Y[o0 .. o0 + rows_used][t0 .. t0 + cols_used]` (the rest of its R × C results
/// is padding) from `beats` consecutive beats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub o0: usize,
    pub t0: usize,
    pub rows_used: usize,
    pub cols_used: usize,
    pub beats: usize,
}

/// Everything the host sends for one GEMM, and what it needs to rebuild Y from the result beats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub weights: Vec<WeightBeat>,
    pub acts: Vec<ActBeat>,
    /// In stream order: output-row tiles outer, column tiles inner.
    pub tiles: Vec<Tile>,
    pub dense: bool,
    /// O, the rows of Y.
    pub out_rows: usize,
    /// T, the columns of Y.
    pub out_cols: usize,
}

/// Sparse × dense: K/M beats per tile; beat g carries the canonical compressed group g of every tile row and the
/// M activations `X[g·M + j][t]` of every tile column. Padding rows are all-zero weight rows, sent in their canonical
/// compressed form (values 0, indices 0, 1, …, N−1); padding columns carry zero activations.
pub fn schedule_sparse(
    shape: &ArrayShape,
    c: &Compressed,
    x: &Matrix<i8>,
) -> Result<Schedule, ShapeError> {
    let pattern = shape.checked_pattern()?;
    if c.pattern() != pattern {
        return Err(ShapeError::PatternMismatch {
            found: c.pattern(),
            expected: pattern,
        });
    }
    check_reduction(shape, c.cols(), x)?;
    let m = shape.m;
    let weight = |o, g, s| {
        (
            c.value(o, g, s).unwrap_or(0),
            c.index(o, g, s).unwrap_or(s as u8),
        )
    };
    let act = |t, g, j| x.get(g * m + j, t).copied().unwrap_or(0);
    Ok(build(
        shape,
        (c.rows(), x.cols()),
        c.groups(),
        false,
        weight,
        act,
    ))
}

/// Dense × dense: ⌈K/N⌉ beats per tile; beat b carries `W[o][b·N + s]` (s < N) with indices 0 and activation lanes
/// s < N = `X[b·N + s][t]`; lanes s ≥ N, reduction positions past K, padding rows and padding columns are zero.
pub fn schedule_dense(
    shape: &ArrayShape,
    w: &Matrix<i8>,
    x: &Matrix<i8>,
) -> Result<Schedule, ShapeError> {
    shape.checked_pattern()?;
    check_reduction(shape, w.cols(), x)?;
    let n = shape.n;
    let weight = |o, b, s| (w.get(o, b * n + s).copied().unwrap_or(0), 0);
    let act = |t, b, j| {
        if j < n {
            x.get(b * n + j, t).copied().unwrap_or(0)
        } else {
            0
        }
    };
    Ok(build(
        shape,
        (w.rows(), x.cols()),
        w.cols().div_ceil(n),
        true,
        weight,
        act,
    ))
}

/// X must have K rows, and 1 ≤ K ≤ max_k (a tile needs a last beat; longer reductions could overflow).
fn check_reduction(shape: &ArrayShape, k: usize, x: &Matrix<i8>) -> Result<(), ShapeError> {
    if x.rows() != k {
        return Err(ShapeError::InnerMismatch {
            k,
            x_rows: x.rows(),
        });
    }
    if k == 0 {
        return Err(ShapeError::EmptyReduction);
    }
    if k > shape.max_k {
        return Err(ShapeError::ReductionTooLong {
            k,
            max_k: shape.max_k,
        });
    }
    Ok(())
}

/// Emits the tiles (column tile innermost) and their beats. `weight(o, beat, slot)` gives a weight lane's (value,
/// index) and `act(t, beat, lane)` an activation lane; both receive padding coordinates too (o ≥ O, t ≥ T) and must
/// answer zero values there.
fn build(
    shape: &ArrayShape,
    (out_rows, out_cols): (usize, usize),
    beats: usize,
    dense: bool,
    weight: impl Fn(usize, usize, usize) -> (i8, u8),
    act: impl Fn(usize, usize, usize) -> i8,
) -> Schedule {
    let tiles = tiles(shape, out_rows, out_cols, beats);
    let mut schedule = Schedule {
        weights: vec![],
        acts: vec![],
        tiles,
        dense,
        out_rows,
        out_cols,
    };
    for tile in &schedule.tiles {
        for b in 0..beats {
            let last = b + 1 == beats;
            let (values, indices) = (0..shape.rows * shape.n)
                .map(|lane| weight(tile.o0 + lane / shape.n, b, lane % shape.n))
                .unzip();
            schedule.weights.push(WeightBeat {
                values,
                indices,
                dense,
                last,
            });
            let values = (0..shape.cols * shape.m)
                .map(|lane| act(tile.t0 + lane / shape.m, b, lane % shape.m))
                .collect();
            schedule.acts.push(ActBeat { values, last });
        }
    }
    schedule
}

fn tiles(shape: &ArrayShape, out_rows: usize, out_cols: usize, beats: usize) -> Vec<Tile> {
    let mut tiles = Vec::new();
    for o0 in (0..out_rows).step_by(shape.rows) {
        for t0 in (0..out_cols).step_by(shape.cols) {
            let rows_used = shape.rows.min(out_rows - o0);
            let cols_used = shape.cols.min(out_cols - t0);
            tiles.push(Tile {
                o0,
                t0,
                rows_used,
                cols_used,
                beats,
            });
        }
    }
    tiles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nm::{compress, NmPattern};

    fn shape(n: usize, m: usize, rows: usize, cols: usize) -> ArrayShape {
        ArrayShape::new(n, m, rows, cols, 32, ArrayShape::DEFAULT_MAX_K).expect("legal shape")
    }

    #[test]
    fn sparse_schedule_tiles_and_pads() {
        // O = 3 on 2 rows, T = 1 on 2 columns, K = 4 (one 2:4 group per row).
        let w = Matrix::new(3, 4, vec![0, 5, 0, -3, -128, 0, 0, 0, 0, 0, 0, 0]).expect("shape");
        let c = compress(&w, NmPattern::new(2, 4).expect("pattern")).expect("legal");
        let x = Matrix::new(4, 1, vec![1, 2, 3, 4]).expect("shape");
        let s = schedule_sparse(&shape(2, 4, 2, 2), &c, &x).expect("fits");
        assert_eq!(
            s.tiles,
            vec![
                Tile {
                    o0: 0,
                    t0: 0,
                    rows_used: 2,
                    cols_used: 1,
                    beats: 1
                },
                Tile {
                    o0: 2,
                    t0: 0,
                    rows_used: 1,
                    cols_used: 1,
                    beats: 1
                },
            ]
        );
        assert_eq!((s.out_rows, s.out_cols, s.dense), (3, 1, false));
        assert_eq!(
            s.weights[0],
            WeightBeat {
                values: vec![5, -3, -128, 0],
                indices: vec![1, 3, 0, 1],
                dense: false,
                last: true
            }
        );
        // Row 2 is all zero; the padding row 3 looks exactly like it.
        assert_eq!(s.weights[1].values, vec![0; 4]);
        assert_eq!(s.weights[1].indices, vec![0, 1, 0, 1]);
        assert_eq!(
            s.acts[0],
            ActBeat {
                values: vec![1, 2, 3, 4, 0, 0, 0, 0],
                last: true
            }
        );
    }

    #[test]
    fn dense_schedule_uses_n_lanes_and_pads_past_k() {
        // K = 5 with N = 2: three beats, the last one half past K.
        let w = Matrix::new(1, 5, vec![1, 2, 3, 4, -128]).expect("shape");
        let x = Matrix::new(5, 1, vec![10, 20, 30, 40, 127]).expect("shape");
        let s = schedule_dense(&shape(2, 4, 1, 1), &w, &x).expect("fits");
        assert_eq!(
            s.tiles,
            vec![Tile {
                o0: 0,
                t0: 0,
                rows_used: 1,
                cols_used: 1,
                beats: 3
            }]
        );
        let values: Vec<_> = s.weights.iter().map(|b| b.values.clone()).collect();
        assert_eq!(values, vec![vec![1, 2], vec![3, 4], vec![-128, 0]]);
        assert!(s.weights.iter().all(|b| b.dense && b.indices == [0, 0]));
        let acts: Vec<_> = s.acts.iter().map(|b| b.values.clone()).collect();
        assert_eq!(
            acts,
            vec![vec![10, 20, 0, 0], vec![30, 40, 0, 0], vec![127, 0, 0, 0]]
        );
        let lasts: Vec<_> = s.weights.iter().map(|b| b.last).collect();
        assert_eq!(lasts, vec![false, false, true]);
    }

    #[test]
    fn column_tile_is_innermost() {
        let w = Matrix::new(3, 2, vec![1; 6]).expect("shape");
        let x = Matrix::new(2, 3, vec![1; 6]).expect("shape");
        let s = schedule_dense(&shape(1, 2, 2, 2), &w, &x).expect("fits");
        let origins: Vec<_> = s.tiles.iter().map(|t| (t.o0, t.t0)).collect();
        assert_eq!(origins, vec![(0, 0), (0, 2), (2, 0), (2, 2)]);
    }

    #[test]
    fn rejects_mismatches() {
        let p24 = NmPattern::new(2, 4).expect("pattern");
        let c = compress(&Matrix::zeros(1, 8), p24).expect("legal");
        let x = Matrix::zeros(8, 1);
        assert_eq!(
            schedule_sparse(&shape(1, 4, 1, 1), &c, &x),
            Err(ShapeError::PatternMismatch {
                found: p24,
                expected: NmPattern::new(1, 4).expect("pattern")
            })
        );
        assert_eq!(
            schedule_sparse(&shape(2, 4, 1, 1), &c, &Matrix::zeros(4, 1)),
            Err(ShapeError::InnerMismatch { k: 8, x_rows: 4 })
        );
        let small = ArrayShape::new(2, 4, 1, 1, 32, 4).expect("legal");
        assert_eq!(
            schedule_sparse(&small, &c, &x),
            Err(ShapeError::ReductionTooLong { k: 8, max_k: 4 })
        );
        let empty = Matrix::zeros(1, 0);
        assert_eq!(
            schedule_dense(&small, &empty, &Matrix::zeros(0, 1)),
            Err(ShapeError::EmptyReduction)
        );
        let broken = ArrayShape { rows: 0, ..small };
        assert!(matches!(
            schedule_dense(&broken, &empty, &Matrix::zeros(0, 1)),
            Err(ShapeError::Param(_))
        ));
    }
}
