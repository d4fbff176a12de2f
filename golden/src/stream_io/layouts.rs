//! The field layouts of the designs that get an I/O wrapper, and their beats as [`Beat`]s.
//!
//! - PE array (docs/pe-array.md): one input beat = `s_w_tdata`, `s_w_tidx`, `s_w_tuser`, `s_w_tlast`, `s_a_tdata`,
//!   `s_a_tlast` (both streams of one joined beat); one output beat = `m_y_tdata`, `m_y_tlast`.
//! - Softmax unit (docs/softmax.md): `s_tdata` (P lanes of SW-bit scores), `s_tkeep`, `s_tlast` in, `m_tdata` (P lanes
//!   of OB-bit probabilities), `m_tkeep`, `m_tlast` out.
//!
//! These lists are the single definition of the field order: the wrapper's Verilog (`sta_hdl::stream_io`) is
//! generated from them.

use super::{Beat, Field, FieldSpec};
use crate::numerics::wrap;
use crate::pe_array::{ActBeat, ArrayShape, ResultBeat, WeightBeat};

/// Input fields of the PE array, in payload order.
pub fn pe_array_input_fields(shape: &ArrayShape) -> Vec<FieldSpec> {
    let weight_lanes = (shape.rows * shape.n) as u32;
    vec![
        FieldSpec {
            name: "s_w_tdata",
            bits: weight_lanes * 8,
        },
        FieldSpec {
            name: "s_w_tidx",
            bits: weight_lanes * shape.index_bits(),
        },
        FieldSpec {
            name: "s_w_tuser",
            bits: 1,
        },
        FieldSpec {
            name: "s_w_tlast",
            bits: 1,
        },
        FieldSpec {
            name: "s_a_tdata",
            bits: (shape.cols * shape.m * 8) as u32,
        },
        FieldSpec {
            name: "s_a_tlast",
            bits: 1,
        },
    ]
}

/// Output fields of the PE array.
pub fn pe_array_output_fields(shape: &ArrayShape) -> Vec<FieldSpec> {
    vec![
        FieldSpec {
            name: "m_y_tdata",
            bits: shape.cols as u32 * shape.acc_width,
        },
        FieldSpec {
            name: "m_y_tlast",
            bits: 1,
        },
    ]
}

/// One joined input beat. Lane counts are not checked here: a beat of the wrong shape gets a field of the wrong width,
/// which [`super::WordFormat::pack`] refuses.
pub fn pe_array_input_beat(shape: &ArrayShape, w: &WeightBeat, a: &ActBeat) -> Beat {
    vec![
        Field::from_lanes(w.values.iter().map(|&v| u64::from(v as u8)), 8),
        Field::from_lanes(w.indices.iter().map(|&i| u64::from(i)), shape.index_bits()),
        Field::flag(w.dense),
        Field::flag(w.last),
        Field::from_lanes(a.values.iter().map(|&v| u64::from(v as u8)), 8),
        Field::flag(a.last),
    ]
}

/// One result beat: lanes of `acc_width` bits, two's complement.
pub fn pe_array_output_beat(shape: &ArrayShape, r: &ResultBeat) -> Beat {
    vec![
        Field::from_lanes(r.values.iter().map(|&v| v as u64), shape.acc_width),
        Field::flag(r.last),
    ]
}

/// The result beat an output beat carries (lanes sign-extended from `acc_width` bits).
pub fn pe_array_result(shape: &ArrayShape, beat: &Beat) -> ResultBeat {
    let values = beat.first().map_or_else(Vec::new, |f| {
        f.lanes(shape.acc_width)
            .into_iter()
            .map(|v| wrap(i128::from(v), shape.acc_width))
            .collect()
    });
    ResultBeat {
        values,
        last: beat.get(1).is_some_and(|f| f.low_u64() == 1),
    }
}

/// Input fields of the softmax unit with `lanes` lanes of `score_bits`-bit scores (SW).
pub fn softmax_input_fields(lanes: usize, score_bits: u32) -> Vec<FieldSpec> {
    softmax_fields(lanes, score_bits, ["s_tdata", "s_tkeep", "s_tlast"])
}

/// Output fields of the softmax unit with `lanes` lanes of `output_bits`-bit probabilities (OB).
pub fn softmax_output_fields(lanes: usize, output_bits: u32) -> Vec<FieldSpec> {
    softmax_fields(lanes, output_bits, ["m_tdata", "m_tkeep", "m_tlast"])
}

fn softmax_fields(
    lanes: usize,
    lane_bits: u32,
    [data, keep, last]: [&'static str; 3],
) -> Vec<FieldSpec> {
    let lanes = lanes as u32;
    vec![
        FieldSpec {
            name: data,
            bits: lanes * lane_bits,
        },
        FieldSpec {
            name: keep,
            bits: lanes,
        },
        FieldSpec {
            name: last,
            bits: 1,
        },
    ]
}

/// The beats of one row of `lane_bits`-bit codes (`row.len()` ≥ 1; each lane keeps its low `lane_bits` bits, so
/// signed values go in as two's complement): ⌈len/P⌉ beats, lane i of beat b = element b·P + i, lanes past the row 0;
/// keep is all ones except on the last beat, where it marks the row's lanes; last on the last beat.
fn softmax_beats(lanes: usize, lane_bits: u32, row: &[u64]) -> Vec<Beat> {
    let beats = row.len().div_ceil(lanes);
    (0..beats)
        .map(|b| {
            let part = &row[b * lanes..row.len().min((b + 1) * lanes)];
            let data = (0..lanes).map(|i| part.get(i).copied().unwrap_or(0));
            let keep = (0..lanes).map(|i| u64::from(i < part.len()));
            vec![
                Field::from_lanes(data, lane_bits),
                Field::from_lanes(keep, 1),
                Field::flag(b + 1 == beats),
            ]
        })
        .collect()
}

/// The input beats of one row of signed `score_bits`-bit scores (a score outside that range loses its high bits: check
/// the row with `SoftmaxNumerics::check_scores` first).
pub fn softmax_row_beats<S: Copy + Into<i64>>(
    lanes: usize,
    score_bits: u32,
    scores: &[S],
) -> Vec<Beat> {
    let codes: Vec<u64> = scores.iter().map(|&s| s.into() as u64).collect();
    softmax_beats(lanes, score_bits, &codes)
}

/// The output beats of one row of `output_bits`-bit probabilities: the input row's beats, keep and last, lanes
/// outside the row 0.
pub fn softmax_output_beats(lanes: usize, output_bits: u32, y: &[u8]) -> Vec<Beat> {
    let codes: Vec<u64> = y.iter().map(|&v| u64::from(v)).collect();
    softmax_beats(lanes, output_bits, &codes)
}

#[cfg(test)]
mod tests {
    use super::super::WordFormat;
    use super::*;

    fn shape(n: usize, m: usize, rows: usize, cols: usize) -> ArrayShape {
        ArrayShape::new(n, m, rows, cols, 32, ArrayShape::DEFAULT_MAX_K).unwrap()
    }

    #[test]
    fn pe_array_widths_follow_the_port_table() {
        let s = shape(2, 8, 2, 3);
        let bits: Vec<u32> = pe_array_input_fields(&s).iter().map(|f| f.bits).collect();
        assert_eq!(bits, vec![32, 12, 1, 1, 192, 1]);
        let out: Vec<u32> = pe_array_output_fields(&s).iter().map(|f| f.bits).collect();
        assert_eq!(out, vec![96, 1]);
    }

    #[test]
    fn pe_array_beats_pack_in_field_order() {
        // 1:4 1×1: s_w_tdata 8, s_w_tidx 2, tuser, tlast, s_a_tdata 32, s_a_tlast = 45 bits, 3 words of 16
        let s = shape(1, 4, 1, 1);
        let w = WeightBeat {
            values: vec![-128],
            indices: vec![3],
            dense: false,
            last: true,
        };
        let a = ActBeat {
            values: vec![127, -1, 0, 1],
            last: true,
        };
        let format = WordFormat::new(16, pe_array_input_fields(&s)).unwrap();
        let words = format.pack(&[pe_array_input_beat(&s, &w, &a)]).unwrap();
        // bits: 0x80 | 3 << 8 | 0 << 10 | 1 << 11 | 0x0100ff7f << 12 | 1 << 44
        let beat: u64 = 0x80 | (3 << 8) | (1 << 11) | (0x0100_ff7f << 12) | (1 << 44);
        assert_eq!(
            words,
            vec![beat & 0xffff, (beat >> 16) & 0xffff, beat >> 32]
        );
    }

    #[test]
    fn pe_array_results_round_trip() {
        let s = shape(2, 8, 2, 3);
        let r = ResultBeat {
            values: vec![-(1 << 31), (1 << 31) - 1, -5],
            last: true,
        };
        let format = WordFormat::new(8, pe_array_output_fields(&s)).unwrap();
        let words = format.pack(&[pe_array_output_beat(&s, &r)]).unwrap();
        assert_eq!(words.len(), 13, "97 bits in bytes");
        assert_eq!(words[12], 1, "m_y_tlast is bit 96");
        let beats = format.unpack(&words).unwrap();
        assert_eq!(pe_array_result(&s, &beats[0]), r);
    }

    #[test]
    fn softmax_rows_split_into_beats_with_keep_and_last() {
        let beats = softmax_row_beats(4, 8, &[-128i8, 127, 1, 2, 3, 4]);
        assert_eq!(beats.len(), 2);
        assert_eq!(beats[0][0].limbs, vec![0x0201_7f80]);
        assert_eq!((beats[0][1].low_u64(), beats[0][2].low_u64()), (0xf, 0));
        assert_eq!(beats[1][0].limbs, vec![0x0403]);
        assert_eq!((beats[1][1].low_u64(), beats[1][2].low_u64()), (0x3, 1));
        let one = softmax_output_beats(4, 8, &[255]);
        assert_eq!(one.len(), 1);
        assert_eq!(
            (
                one[0][0].low_u64(),
                one[0][1].low_u64(),
                one[0][2].low_u64()
            ),
            (0xff, 1, 1)
        );
        let format = WordFormat::new(8, softmax_input_fields(4, 8)).unwrap();
        assert_eq!(format.beat_bits(), 37);
        assert_eq!(format.words_per_beat(), 5);
    }

    #[test]
    fn wide_scores_and_seven_bit_outputs_pack_in_their_widths() {
        // SW = 16: lanes of 16 bits, two's complement; a 12-bit unit keeps the low 12 bits of each lane.
        let beats = softmax_row_beats(2, 16, &[-32768i16, 32767, -1]);
        assert_eq!(beats.len(), 2);
        assert_eq!(beats[0][0], Field::from_u64(0x7fff_8000, 32));
        assert_eq!(beats[1][0], Field::from_u64(0xffff, 32));
        assert_eq!((beats[1][1].low_u64(), beats[1][2].low_u64()), (0x1, 1));
        let twelve = softmax_row_beats(3, 12, &[-2048i32, 2047, -1]);
        assert_eq!(twelve[0][0], Field::from_u64(0xfff_7ff_800, 36));
        // OB = 7: 7-bit lanes
        let out = softmax_output_beats(3, 7, &[127, 1, 64]);
        assert_eq!(out[0][0], Field::from_u64(127 | (1 << 7) | (64 << 14), 21));
        // P = 4, SW = 16 in: 64 + 4 + 1 = 69 bits, 9 bytes; OB = 7 out: 28 + 4 + 1 = 33 bits, 5 bytes
        let input = WordFormat::new(8, softmax_input_fields(4, 16)).unwrap();
        assert_eq!((input.beat_bits(), input.words_per_beat()), (69, 9));
        let output = WordFormat::new(8, softmax_output_fields(4, 7)).unwrap();
        assert_eq!((output.beat_bits(), output.words_per_beat()), (33, 5));
        let words = input
            .pack(&softmax_row_beats(4, 16, &[-2i16, 300]))
            .unwrap();
        assert_eq!(&words[..4], &[0xfe, 0xff, 0x2c, 0x01]);
        assert_eq!(
            input.unpack(&words).unwrap(),
            softmax_row_beats(4, 16, &[-2i16, 300])
        );
    }
}
