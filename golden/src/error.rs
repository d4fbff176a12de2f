//! The crate's error types. Every `Display` is one line that names the offending parameter, its value and what
//! would have been allowed, so the CLI can print it unchanged.

use thiserror::Error;

use crate::nm::NmPattern;

/// An illegal configuration parameter (N:M pattern, array shape, accumulator width, requantization constants).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParamError {
    #[error("m = {m} is not supported: M must be one of 2, 4, 8, 16")]
    UnsupportedM { m: usize },
    #[error("n = 0 is smaller than 1: N must satisfy 1 ≤ N ≤ M (m = {m})")]
    ZeroN { m: usize },
    #[error("n = {n} is larger than m = {m}: N must satisfy 1 ≤ N ≤ M")]
    NLargerThanM { n: usize, m: usize },
    #[error("{name} = {value} is outside {min}..={max}: the array must have between {min} and {max} {name}")]
    Dimension {
        name: &'static str,
        value: usize,
        min: usize,
        max: usize,
    },
    #[error("acc_width = {acc_width} is outside {min}..={max}: the accumulator width must lie in that range")]
    AccWidth { acc_width: u32, min: u32, max: u32 },
    #[error("max_k = {max_k} is not a positive multiple of m = {m}: the longest reduction must be whole groups of M")]
    MaxKNotMultiple { max_k: usize, m: usize },
    #[error(
        "max_k = {max_k} can overflow a {acc_width}-bit accumulator (max_k · 16384 > 2^{} − 1): \
         use max_k ≤ {largest_max_k} or acc_width ≥ {smallest_acc_width}",
        acc_width - 1
    )]
    AccumulatorOverflow {
        max_k: usize,
        acc_width: u32,
        largest_max_k: usize,
        smallest_acc_width: u32,
    },
    #[error(
        "acc_width = {acc_width} is too narrow for any reduction of whole groups of m = {m}: \
         max_k = {max_k} needs acc_width ≥ {smallest_acc_width}"
    )]
    AccWidthTooNarrow {
        acc_width: u32,
        m: usize,
        max_k: usize,
        smallest_acc_width: u32,
    },
    #[error("mult = {mult} is too large: the requantization multiplier must satisfy 0 ≤ mult < 32768 (2^15)")]
    Mult { mult: u32 },
    #[error("shift = {shift} is too large: the requantization shift must satisfy 0 ≤ shift ≤ 47")]
    Shift { shift: u32 },
}

/// Matrix dimensions that do not fit together (or cannot run on the given array).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShapeError {
    #[error("data has {len} elements but rows × cols = {rows} × {cols}: the length must equal rows × cols")]
    DataLength {
        rows: usize,
        cols: usize,
        len: usize,
    },
    #[error("element ({row}, {col}) is outside the {rows} × {cols} matrix: row < {rows} and col < {cols} required")]
    OutOfRange {
        row: usize,
        col: usize,
        rows: usize,
        cols: usize,
    },
    #[error(
        "X has {x_rows} rows but the weights have K = {k} columns: X must have exactly K rows"
    )]
    InnerMismatch { k: usize, x_rows: usize },
    #[error("acc_width = {acc_width} is outside 1..=64: the accumulator must fit in an i64")]
    AccWidth { acc_width: u32 },
    #[error("K = 0: a GEMM on the array needs a reduction length of at least 1 (a tile must end with a last beat)")]
    EmptyReduction,
    #[error(
        "K = {k} exceeds the array's max_k = {max_k}: the reduction could overflow its accumulator"
    )]
    ReductionTooLong { k: usize, max_k: usize },
    #[error("the weights are {found} but the array is built for {expected}: the N:M patterns must match")]
    PatternMismatch {
        found: NmPattern,
        expected: NmPattern,
    },
    #[error(transparent)]
    Param(#[from] ParamError),
}

/// A weight matrix that is not legal N:M.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NmError {
    #[error("K = {k} (weight columns) is not a multiple of m = {m}: K must be a whole number of groups of M")]
    KNotMultiple { k: usize, m: usize },
    #[error(
        "row {row}, group {group} (columns {first_col}..{end_col}) has {count} non-zeros but {pattern} allows at most \
         {} ({violating} violating groups in total): magnitude-prune the weights first (--prune)",
        pattern.n()
    )]
    TooManyNonZeros {
        row: usize,
        group: usize,
        first_col: usize,
        end_col: usize,
        count: usize,
        pattern: NmPattern,
        violating: usize,
    },
}

/// A compressed N:M file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FormatError {
    #[error("file length = {len} bytes is too short: the fixed preamble (magic, version, header length) needs 12")]
    TooShort { len: usize },
    #[error("magic = {found:02x?} is wrong: a compressed N:M file starts with \"STANM\\0\"")]
    BadMagic { found: Vec<u8> },
    #[error("format version = {version} is not supported: only version 1 is")]
    Version { version: u16 },
    #[error("header is not valid: {reason}")]
    Header { reason: String },
    #[error("header field {field} = {value} is inconsistent: expected {expected}")]
    HeaderField {
        field: &'static str,
        value: usize,
        expected: usize,
    },
    #[error("header describes a matrix too large to address: rows · groups · n overflows")]
    SizeOverflow,
    #[error("file length = {len} bytes does not match the header: expected {expected} bytes")]
    Length { len: usize, expected: usize },
    #[error("row {row}, group {group}, slot {slot}: index = {index} is out of range: indices must be < m = {m}")]
    IndexOutOfRange {
        row: usize,
        group: usize,
        slot: usize,
        index: u8,
        m: usize,
    },
    #[error("row {row}, group {group}: indices {found:?} are not canonical: expected {expected:?} (numerics.md)")]
    NotCanonical {
        row: usize,
        group: usize,
        found: Vec<u8>,
        expected: Vec<u8>,
    },
    #[error("padding bits of the last index byte = {bits:#04x} are set: they must be zero")]
    PaddingBits { bits: u8 },
    #[error(transparent)]
    Param(#[from] ParamError),
}

/// Beat streams that the PE array would reject or that do not match the schedule they claim to answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StreamError {
    #[error("weight beats = {weights} but activation beats = {acts}: the joined streams must carry the same count")]
    BeatCount { weights: usize, acts: usize },
    #[error("beat {beat}: {stream} has {found} lanes but the array needs {expected}: lane counts are fixed by the shape")]
    Lanes {
        beat: usize,
        stream: &'static str,
        found: usize,
        expected: usize,
    },
    #[error("beat {beat}: s_w_tlast = {w_last} but s_a_tlast = {a_last}: both streams must mark the same last beat")]
    LastMismatch {
        beat: usize,
        w_last: bool,
        a_last: bool,
    },
    #[error("beat {beat}, weight lane {lane}: index = {index} is out of range: indices must be < m = {m}")]
    IndexOutOfRange {
        beat: usize,
        lane: usize,
        index: u8,
        m: usize,
    },
    #[error("trailing beats = {beats} after the last tlast: every tile must end with a last beat")]
    IncompleteTile { beats: usize },
    #[error("result beats = {found} cannot be split into {tiles} equal, non-empty tiles: every tile returns R rows")]
    ResultCount { found: usize, tiles: usize },
    #[error("result beat {beat}: m_y_tlast = {last} is misplaced: only every tile's final row may carry last")]
    ResultLast { beat: usize, last: bool },
    #[error("tile {tile}: {name} = {found} is smaller than the {needed} the tile uses")]
    ResultTooSmall {
        tile: usize,
        name: &'static str,
        found: usize,
        needed: usize,
    },
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error(transparent)]
    Shape(#[from] ShapeError),
}

/// An illegal PWL approximator: bad function, range, formats, table or parameter file. One line, like the others.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PwlError {
    #[error("function = {name:?} is unknown: use one of {allowed}")]
    UnknownFunction { name: String, allowed: String },
    #[error("range = [{lo}, {hi}) is {what}: the range must be finite with lo < hi")]
    Range {
        lo: f64,
        hi: f64,
        what: &'static str,
    },
    #[error(
        "range = [{lo}, {hi}) does not fit INT8 codes at input_frac_bits = {input_frac_bits}: \
         x·2^{input_frac_bits} must lie in [−128, 128){hint}"
    )]
    RangeNotInt8 {
        lo: f64,
        hi: f64,
        input_frac_bits: u32,
        hint: String,
    },
    #[error(
        "entries = {entries} is outside 4..=32: an approximator has between 4 and 32 segments"
    )]
    Entries { entries: usize },
    #[error("{field} = {value} is not allowed: {allowed}")]
    Format {
        field: &'static str,
        value: i64,
        allowed: String,
    },
    #[error("{field} has {found} values but entries = {entries} needs {expected}")]
    Count {
        field: &'static str,
        found: usize,
        entries: usize,
        expected: usize,
    },
    #[error(
        "breakpoints[{index}] = {value} is smaller than breakpoints[{}] = {previous}: breakpoints must be non-decreasing",
        index - 1
    )]
    NotMonotonic {
        index: usize,
        value: i64,
        previous: i64,
    },
    #[error(
        "breakpoints[{index}] = {value} is not an INT8 code: breakpoints must lie in −128..=127"
    )]
    BreakpointCode { index: usize, value: i64 },
    #[error(
        "{field}[{index}] = {value} does not fit coeff_bits = {bits} (signed, {min}..={max}){hint}"
    )]
    Coefficient {
        field: &'static str,
        index: usize,
        value: i64,
        bits: u32,
        min: i64,
        max: i64,
        hint: String,
    },
    #[error("parameter file is not valid: {reason}")]
    File { reason: String },
    #[error("reference file is not valid: {reason}")]
    Reference { reason: String },
}
