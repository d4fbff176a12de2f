//! The array seen from the hardware: beats in, result rows out. Written independently of the GEMM references so that
//! `assemble(run_array(schedule(..)))` against `gemm_*` checks the schedule, the PE datapath and the drain order.

use super::{ActBeat, ArrayShape, ResultBeat, Schedule, WeightBeat};
use crate::numerics::wrap;
use crate::{Matrix, StreamError};

/// Runs the beat streams through an R × C array of PEs. Per beat, PE(r, c) adds Σ_{s<N} value[r·N+s] ·
/// act[c·M + sel] to its accumulator (sel = s on dense beats, the weight index on sparse ones), wrapping to
/// `acc_width` bits. A `last` beat emits the R accumulator rows (row 0 first, `last` on row R−1) and clears them.
pub fn run_array(
    shape: &ArrayShape,
    weights: &[WeightBeat],
    acts: &[ActBeat],
) -> Result<Vec<ResultBeat>, StreamError> {
    shape.checked_pattern()?;
    if weights.len() != acts.len() {
        return Err(StreamError::BeatCount {
            weights: weights.len(),
            acts: acts.len(),
        });
    }
    let mut acc = vec![0i64; shape.rows * shape.cols];
    let mut results = Vec::new();
    let mut open_beats = 0;
    for (beat, (w, a)) in weights.iter().zip(acts).enumerate() {
        check_beat(shape, beat, w, a)?;
        for (pe, value) in acc.iter_mut().enumerate() {
            let sum = pe_products(shape, w, a, pe / shape.cols, pe % shape.cols);
            *value = wrap(i128::from(*value) + sum, shape.acc_width);
        }
        open_beats += 1;
        if w.last {
            results.extend(
                acc.chunks(shape.cols)
                    .enumerate()
                    .map(|(r, row)| ResultBeat {
                        values: row.to_vec(),
                        last: r + 1 == shape.rows,
                    }),
            );
            acc.fill(0);
            open_beats = 0;
        }
    }
    if open_beats > 0 {
        return Err(StreamError::IncompleteTile { beats: open_beats });
    }
    Ok(results)
}

/// What the bus can carry: fixed lane counts, matching `tlast`s, and (on sparse beats) indices below M.
fn check_beat(
    shape: &ArrayShape,
    beat: usize,
    w: &WeightBeat,
    a: &ActBeat,
) -> Result<(), StreamError> {
    let lanes = |stream, found, expected| {
        (found == expected).then_some(()).ok_or(StreamError::Lanes {
            beat,
            stream,
            found,
            expected,
        })
    };
    lanes("s_w_tdata", w.values.len(), shape.rows * shape.n)?;
    lanes("s_w_tidx", w.indices.len(), shape.rows * shape.n)?;
    lanes("s_a_tdata", a.values.len(), shape.cols * shape.m)?;
    if w.last != a.last {
        return Err(StreamError::LastMismatch {
            beat,
            w_last: w.last,
            a_last: a.last,
        });
    }
    let bad_index = w
        .indices
        .iter()
        .position(|&i| usize::from(i) >= shape.m)
        .filter(|_| !w.dense);
    if let Some(lane) = bad_index {
        return Err(StreamError::IndexOutOfRange {
            beat,
            lane,
            index: w.indices[lane],
            m: shape.m,
        });
    }
    Ok(())
}

/// The N products of PE(r, c) for one (validated) beat: the M:1 select, bypassed on dense beats.
fn pe_products(shape: &ArrayShape, w: &WeightBeat, a: &ActBeat, r: usize, c: usize) -> i128 {
    (0..shape.n)
        .map(|s| {
            let lane = r * shape.n + s;
            let select = if w.dense {
                s
            } else {
                usize::from(w.indices[lane])
            };
            i128::from(w.values[lane]) * i128::from(a.values[c * shape.m + select])
        })
        .sum()
}

/// Rebuilds `Y[out_rows][out_cols]` from the result beats of `schedule`, dropping padding rows and columns. Every tile
/// must return the same number of rows (R), the last one flagged.
pub fn assemble(schedule: &Schedule, results: &[ResultBeat]) -> Result<Matrix<i64>, StreamError> {
    let per_tile = rows_per_tile(schedule.tiles.len(), results)?;
    let mut y = Matrix::zeros(schedule.out_rows, schedule.out_cols);
    for (index, (tile, rows)) in schedule
        .tiles
        .iter()
        .zip(results.chunks(per_tile))
        .enumerate()
    {
        if per_tile < tile.rows_used {
            let needed = tile.rows_used;
            return Err(StreamError::ResultTooSmall {
                tile: index,
                name: "rows per tile",
                found: per_tile,
                needed,
            });
        }
        for (r, beat) in rows.iter().enumerate() {
            if beat.last != (r + 1 == per_tile) {
                return Err(StreamError::ResultLast {
                    beat: index * per_tile + r,
                    last: beat.last,
                });
            }
        }
        for (r, beat) in rows.iter().take(tile.rows_used).enumerate() {
            if beat.values.len() < tile.cols_used {
                let (found, needed) = (beat.values.len(), tile.cols_used);
                return Err(StreamError::ResultTooSmall {
                    tile: index,
                    name: "result lanes",
                    found,
                    needed,
                });
            }
            for (c, &value) in beat.values.iter().take(tile.cols_used).enumerate() {
                y.set(tile.o0 + r, tile.t0 + c, value)?;
            }
        }
    }
    Ok(y)
}

/// R, recovered from the stream: the results must split evenly into one non-empty chunk per tile (always ≥ 1, so
/// it can size `chunks`).
fn rows_per_tile(tiles: usize, results: &[ResultBeat]) -> Result<usize, StreamError> {
    let even = match tiles {
        0 => results.is_empty(),
        _ => !results.is_empty() && results.len().is_multiple_of(tiles),
    };
    if !even {
        return Err(StreamError::ResultCount {
            found: results.len(),
            tiles,
        });
    }
    Ok((results.len() / tiles.max(1)).max(1))
}

/// Useful PE-beats over available PE-cycles: Σ_tiles beats · rows_used · cols_used / (R · C · total_cycles).
/// Padding PEs and stall or drain cycles count as idle; 0 when there are no cycles.
pub fn utilisation(shape: &ArrayShape, schedule: &Schedule, total_cycles: u64) -> f64 {
    let useful: u64 = schedule
        .tiles
        .iter()
        .map(|t| (t.beats * t.rows_used * t.cols_used) as u64)
        .sum();
    let available = (shape.rows * shape.cols) as f64 * total_cycles as f64;
    if available > 0.0 {
        useful as f64 / available
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pe_array::Tile;

    fn shape(n: usize, m: usize, rows: usize, cols: usize) -> ArrayShape {
        ArrayShape::new(n, m, rows, cols, 32, ArrayShape::DEFAULT_MAX_K).expect("legal shape")
    }

    fn beats(
        values: Vec<i8>,
        indices: Vec<u8>,
        acts: Vec<i8>,
        dense: bool,
        last: bool,
    ) -> (WeightBeat, ActBeat) {
        (
            WeightBeat {
                values,
                indices,
                dense,
                last,
            },
            ActBeat { values: acts, last },
        )
    }

    fn run(
        shape: &ArrayShape,
        pairs: Vec<(WeightBeat, ActBeat)>,
    ) -> Result<Vec<ResultBeat>, StreamError> {
        let (w, a): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
        run_array(shape, &w, &a)
    }

    #[test]
    fn sparse_beat_selects_by_index() {
        // One PE, 2:4: slots pick activations 3 and 1.
        let out = run(
            &shape(2, 4, 1, 1),
            vec![beats(
                vec![2, -128],
                vec![1, 3],
                vec![10, 20, 30, -128],
                false,
                true,
            )],
        );
        assert_eq!(
            out,
            Ok(vec![ResultBeat {
                values: vec![2 * 20 + 16384],
                last: true
            }])
        );
    }

    #[test]
    fn dense_beat_bypasses_the_select() {
        let out = run(
            &shape(2, 4, 1, 1),
            vec![beats(
                vec![2, 3],
                vec![3, 3],
                vec![10, 20, 99, 99],
                true,
                true,
            )],
        );
        assert_eq!(
            out,
            Ok(vec![ResultBeat {
                values: vec![80],
                last: true
            }])
        );
    }

    #[test]
    fn rows_drain_in_order_and_accumulators_restart() {
        // 2 × 1 array of 1:2 PEs; two tiles of one beat each.
        let s = shape(1, 2, 2, 1);
        let tile = |a: i8| beats(vec![1, 2], vec![0, 0], vec![a, 0], false, true);
        let out = run(&s, vec![tile(3), tile(5)]).expect("well-formed");
        let rows: Vec<_> = out.iter().map(|b| (b.values[0], b.last)).collect();
        assert_eq!(rows, vec![(3, false), (6, true), (5, false), (10, true)]);
    }

    #[test]
    fn accumulator_wraps_after_every_beat() {
        let narrow = ArrayShape {
            acc_width: 17,
            ..shape(1, 2, 1, 1)
        };
        let beat = |last| beats(vec![-128], vec![0], vec![-128, 0], false, last);
        let out = run(
            &narrow,
            vec![
                beat(false),
                beat(false),
                beat(false),
                beat(false),
                beat(false),
                beat(true),
            ],
        );
        assert_eq!(
            out,
            Ok(vec![ResultBeat {
                values: vec![-32768],
                last: true
            }])
        );
    }

    #[test]
    fn stream_errors() {
        let s = shape(2, 4, 1, 1);
        let ok = || beats(vec![0, 0], vec![0, 1], vec![0; 4], false, true);
        assert_eq!(
            run_array(&s, &[ok().0], &[]),
            Err(StreamError::BeatCount {
                weights: 1,
                acts: 0
            })
        );
        let short = beats(vec![0], vec![0, 1], vec![0; 4], false, true);
        assert!(matches!(
            run(&s, vec![short]),
            Err(StreamError::Lanes {
                stream: "s_w_tdata",
                ..
            })
        ));
        let acts = beats(vec![0, 0], vec![0, 1], vec![0; 3], false, true);
        assert!(matches!(
            run(&s, vec![acts]),
            Err(StreamError::Lanes {
                stream: "s_a_tdata",
                ..
            })
        ));
        let (w, mut a) = ok();
        a.last = false;
        assert_eq!(
            run(&s, vec![(w, a)]),
            Err(StreamError::LastMismatch {
                beat: 0,
                w_last: true,
                a_last: false
            })
        );
        let index = beats(vec![0, 0], vec![0, 4], vec![0; 4], false, true);
        assert_eq!(
            run(&s, vec![index]),
            Err(StreamError::IndexOutOfRange {
                beat: 0,
                lane: 1,
                index: 4,
                m: 4
            })
        );
        assert!(run(
            &s,
            vec![beats(vec![0, 0], vec![0, 4], vec![0; 4], true, true)]
        )
        .is_ok());
        let open = beats(vec![0, 0], vec![0, 1], vec![0; 4], false, false);
        assert_eq!(
            run(&s, vec![ok(), open.clone(), open]),
            Err(StreamError::IncompleteTile { beats: 2 })
        );
    }

    fn one_tile_schedule(rows_used: usize, cols_used: usize) -> Schedule {
        let tile = Tile {
            o0: 0,
            t0: 0,
            rows_used,
            cols_used,
            beats: 3,
        };
        Schedule {
            weights: vec![],
            acts: vec![],
            tiles: vec![tile],
            dense: false,
            out_rows: rows_used,
            out_cols: cols_used,
        }
    }

    fn result(values: Vec<i64>, last: bool) -> ResultBeat {
        ResultBeat { values, last }
    }

    #[test]
    fn assemble_drops_padding_and_checks_framing() {
        let s = one_tile_schedule(1, 1);
        let rows = [result(vec![7, 99], false), result(vec![99, 99], true)];
        assert_eq!(assemble(&s, &rows).map(Matrix::into_data), Ok(vec![7]));
        let misplaced = [result(vec![7, 99], true), result(vec![99, 99], true)];
        assert_eq!(
            assemble(&s, &misplaced),
            Err(StreamError::ResultLast {
                beat: 0,
                last: true
            })
        );
        assert_eq!(
            assemble(&s, &[]),
            Err(StreamError::ResultCount { found: 0, tiles: 1 })
        );
        let narrow = [result(vec![], true)];
        assert!(matches!(
            assemble(&s, &narrow),
            Err(StreamError::ResultTooSmall {
                name: "result lanes",
                ..
            })
        ));
        let few = [result(vec![1], true)];
        assert!(matches!(
            assemble(&one_tile_schedule(2, 1), &few),
            Err(StreamError::ResultTooSmall { .. })
        ));
        let empty = Schedule {
            tiles: vec![],
            out_rows: 0,
            ..s
        };
        assert_eq!(assemble(&empty, &[]).map(|y| y.rows()), Ok(0));
        assert_eq!(
            assemble(&empty, &rows),
            Err(StreamError::ResultCount { found: 2, tiles: 0 })
        );
    }

    #[test]
    fn utilisation_counts_useful_pe_beats() {
        let s = one_tile_schedule(1, 2);
        // 3 beats · 1 · 2 useful of a 2 × 2 array over 6 cycles.
        assert!((utilisation(&shape(1, 2, 2, 2), &s, 6) - 0.25).abs() < 1e-12);
        assert_eq!(utilisation(&shape(1, 2, 2, 2), &s, 0), 0.0);
    }
}
