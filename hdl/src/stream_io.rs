//! The narrow-stream I/O wrapper (`templates/sta_stream_io.v`, docs/stream-io.md): a generated design behind one
//! W-bit valid/ready word stream in and one out, so that a design with hundreds of ports fits an FPGA package.
//!
//! [`StreamIoSpec`] says what to wrap: the inner module, the payload fields of its input and output beats (in the
//! order of `sta_golden::stream_io::layouts`, which defines the word format), its valid/ready ports and its error
//! output. [`emit_stream_io`] renders the wrapper `<inner>_io<W>`; [`pe_array_io_spec`] and [`softmax_io_spec`] are
//! the specs of the two generated designs.

use askama::Template;
use sta_golden::pe_array::ArrayShape;
use sta_golden::stream_io::layouts::{
    pe_array_input_fields, pe_array_output_fields, softmax_input_fields, softmax_output_fields,
};
use sta_golden::stream_io::{FieldSpec, WordFormat};

use crate::array_ctrl::PERF_COUNTER_BITS;
use crate::emit::{
    config_hash, parameter_line, regenerate_command, render, standard_header, EmitError,
    GeneratedModule,
};
use crate::softmax::SoftmaxUnit;

/// Word widths the wrapper is generated for.
pub const WORD_BITS: [u32; 3] = [8, 16, 32];
/// The word width when none is asked for.
pub const DEFAULT_WORD_BITS: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum StreamIoRtlError {
    #[error("io word width = {0} is not supported: the I/O word width must be 8, 16 or 32")]
    WordBits(u32),
    #[error("{inner}: the {side} payload has no fields of at least one bit")]
    EmptyPayload { inner: String, side: &'static str },
    #[error("{inner}: {reason}")]
    Ports { inner: String, reason: &'static str },
    #[error(transparent)]
    Render(#[from] EmitError),
}

/// What to wrap and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamIoSpec {
    /// The wrapped module.
    pub inner: String,
    /// W, one of [`WORD_BITS`].
    pub word_bits: u32,
    /// Input payload fields (inner input ports), first field at bit 0 of the beat.
    pub inputs: Vec<FieldSpec>,
    /// Output payload fields (inner output ports), first field at bit 0 of the beat.
    pub outputs: Vec<FieldSpec>,
    /// Inner valid inputs: all driven by the one assembled input beat.
    pub in_valid: Vec<&'static str>,
    /// Inner ready outputs: the beat is handed over in a cycle where all of them are high.
    pub in_ready: Vec<&'static str>,
    pub out_valid: &'static str,
    pub out_ready: &'static str,
    /// The inner output that drives `err`; `None` ties `err` to 0.
    pub err: Option<&'static str>,
    /// Inner outputs that are not brought out (wired to an `_unused` reduction, which synthesis removes).
    pub unused_outputs: Vec<FieldSpec>,
    /// Why they are not, for the comment in the Verilog.
    pub unused_reason: &'static str,
    /// Header lines after the generator line: the inner design's configuration and how to regenerate the wrapper.
    pub header_lines: Vec<String>,
}

/// `<inner>_io<W>`.
pub fn stream_io_module_name(inner: &str, word_bits: u32) -> String {
    format!("{inner}_io{word_bits}")
}

/// The wrapper of the PE array. The two input streams are joined by the controller (`hdl/src/array_ctrl.rs`):
/// `s_w_tready = s_a_tvalid && !stall`, `s_a_tready = s_w_tvalid && !stall`, and a beat enters exactly when
/// `s_w_tvalid && s_a_tvalid && !stall`. With both valids driven by the same assembled beat, each ready equals
/// `valid && !stall`, so "all readys high while valid" is exactly the controller's transfer condition. The performance
/// counters stay inside; `err` is `err_last`.
pub fn pe_array_io_spec(shape: &ArrayShape, word_bits: u32) -> StreamIoSpec {
    let perf = |name| FieldSpec {
        name,
        bits: PERF_COUNTER_BITS as u32,
    };
    let array = regenerate_command(shape);
    let regenerate = match array.strip_suffix(" --out DIR") {
        Some(flags) => format!("{flags} --io-width {word_bits} --out DIR"),
        None => format!("{array} --io-width {word_bits}"),
    };
    StreamIoSpec {
        inner: shape.array_module_name(),
        word_bits,
        inputs: pe_array_input_fields(shape),
        outputs: pe_array_output_fields(shape),
        in_valid: vec!["s_w_tvalid", "s_a_tvalid"],
        in_ready: vec!["s_w_tready", "s_a_tready"],
        out_valid: "m_y_tvalid",
        out_ready: "m_y_tready",
        err: Some("err_last"),
        unused_outputs: vec![perf("perf_cycles"), perf("perf_busy"), perf("perf_stall")],
        unused_reason: "the performance counters (144 pins a package cannot spare; the host counts cycles and beats itself)",
        header_lines: vec![
            format!(
                "Design {}, configuration {}: {} io_word_bits={word_bits}",
                shape.array_module_name(),
                config_hash(shape),
                parameter_line(shape)
            ),
            format!("Regenerate: {regenerate}"),
        ],
    }
}

/// The wrapper of the softmax unit. The unit has no error output, so `err` is 0.
pub fn softmax_io_spec(unit: &SoftmaxUnit, word_bits: u32) -> StreamIoSpec {
    StreamIoSpec {
        inner: unit.module_name(),
        word_bits,
        inputs: softmax_input_fields(unit.lanes, unit.score_bits),
        outputs: softmax_output_fields(unit.lanes, unit.output_bits),
        in_valid: vec!["s_tvalid"],
        in_ready: vec!["s_tready"],
        out_valid: "m_tvalid",
        out_ready: "m_tready",
        err: None,
        unused_outputs: Vec::new(),
        unused_reason: "",
        header_lines: vec![
            format!(
                "Softmax unit {}, config {}: {} io_word_bits={word_bits}",
                unit.module_name(),
                unit.content_hash(),
                unit.parameter_line()
            ),
            format!(
                "Regenerate: sta softmax generate --lanes {} --max-len {} --input-frac-bits {}{} --io-width {word_bits} \
                 --out DIR (plus --exp-params/--reci-params for tables other than the defaults)",
                unit.lanes,
                unit.max_len,
                unit.score_frac_bits,
                unit.width_flags()
            ),
        ],
    }
}

/// One payload field for the comment block: its bit offset, width and port.
struct FieldLine {
    lo: u64,
    bits: u32,
    name: &'static str,
}

#[derive(Template)]
#[template(path = "sta_stream_io.v", escape = "none")]
struct StreamIoTemplate<'a> {
    header: &'a str,
    name: &'a str,
    inner: &'a str,
    word_bits: u32,
    in_bits: u64,
    out_bits: u64,
    k_in: usize,
    k_out: usize,
    k_max: usize,
    in_pad_note: String,
    out_pad_note: String,
    in_fields: Vec<FieldLine>,
    out_fields: Vec<FieldLine>,
    in_valid_list: String,
    in_ready_count: usize,
    out_count_bits: u32,
    out_first_left: String,
    ser_load: String,
    err_comment: &'a str,
    err_source: bool,
    declarations: Vec<String>,
    connections: Vec<String>,
    unused: Vec<String>,
    unused_reason: String,
}

fn clog2(v: usize) -> u32 {
    if v <= 1 {
        0
    } else {
        usize::BITS - (v - 1).leading_zeros()
    }
}

/// A part-select of `bus`: `bus[lo]` for one bit, `bus[lo +: bits]` otherwise.
fn slice(bus: &str, lo: u64, bits: u32) -> String {
    if bits == 1 {
        format!("{bus}[{lo}]")
    } else {
        format!("{bus}[{lo} +: {bits}]")
    }
}

/// "The top n bit(s) of the last word (above the beat) are <what>.", or nothing without pad bits.
fn pad_note(pad: u64, what: &str) -> String {
    match pad {
        0 => String::new(),
        1 => format!(
            "The top bit of the last word (above the beat) is {}.",
            what.replace("them", "it")
        ),
        _ => format!("The top {pad} bits of the last word (above the beat) are {what}."),
    }
}

/// The format of one side, refusing a payload without bits (a wrapper of nothing).
fn side_format(
    spec: &StreamIoSpec,
    fields: &[FieldSpec],
    side: &'static str,
) -> Result<WordFormat, StreamIoRtlError> {
    WordFormat::new(spec.word_bits, fields.to_vec()).map_err(|_| StreamIoRtlError::EmptyPayload {
        inner: spec.inner.clone(),
        side,
    })
}

/// Field lines and `.port(bus[...])` connections of one side; zero-width fields have no port and are skipped.
fn payload(format: &WordFormat, bus: &str) -> (Vec<FieldLine>, Vec<String>) {
    format
        .fields()
        .iter()
        .zip(format.offsets())
        .filter(|(f, _)| f.bits > 0)
        .map(|(f, lo)| {
            (
                FieldLine {
                    lo,
                    bits: f.bits,
                    name: f.name,
                },
                format!(".{}({})", f.name, slice(bus, lo, f.bits)),
            )
        })
        .unzip()
}

/// Renders the wrapper `<inner>_io<W>` (one module, one file) for `spec`.
pub fn emit_stream_io(spec: &StreamIoSpec) -> Result<GeneratedModule, StreamIoRtlError> {
    if !WORD_BITS.contains(&spec.word_bits) {
        return Err(StreamIoRtlError::WordBits(spec.word_bits));
    }
    if spec.in_valid.is_empty() || spec.in_ready.is_empty() {
        return Err(StreamIoRtlError::Ports {
            inner: spec.inner.clone(),
            reason: "the input side needs at least one valid and one ready port",
        });
    }
    let name = stream_io_module_name(&spec.inner, spec.word_bits);
    let input = side_format(spec, &spec.inputs, "input")?;
    let output = side_format(spec, &spec.outputs, "output")?;
    let w = u64::from(spec.word_bits);
    let (k_in, k_out) = (input.words_per_beat(), output.words_per_beat());
    let (in_bits, out_bits) = (input.beat_bits(), output.beat_bits());
    let in_pad = k_in as u64 * w - in_bits;
    let out_pad = k_out as u64 * w - out_bits;
    let (in_fields, in_conn) = payload(&input, "in_beat");
    let (out_fields, out_conn) = payload(&output, "out_beat");

    let mut connections = vec![".clk(clk)".to_string(), ".rst(rst)".to_string()];
    connections.extend(in_conn);
    connections.extend(spec.in_valid.iter().map(|v| format!(".{v}(des_full)")));
    connections.extend(
        spec.in_ready
            .iter()
            .enumerate()
            .map(|(i, r)| format!(".{r}(in_ready[{i}])")),
    );
    connections.extend(out_conn);
    connections.push(format!(".{}(out_valid)", spec.out_valid));
    connections.push(format!(".{}(out_ready)", spec.out_ready));
    let declarations: Vec<String> = spec
        .unused_outputs
        .iter()
        .map(|f| format!("wire [{}:0] {};", f.bits - 1, f.name))
        .collect();
    connections.extend(
        spec.unused_outputs
            .iter()
            .map(|f| format!(".{0}({0})", f.name)),
    );
    if let Some(err) = spec.err {
        connections.push(format!(".{err}(err)"));
    }

    let mut unused: Vec<String> = spec
        .unused_outputs
        .iter()
        .map(|f| f.name.to_string())
        .collect();
    let mut reasons: Vec<String> = Vec::new();
    if !spec.unused_outputs.is_empty() {
        reasons.push(spec.unused_reason.to_string());
    }
    // with several words per beat des_data has no pad bits (the last slot keeps only the beat's bits); with one word
    // per beat the pad bits of des_data go nowhere
    if k_in == 1 && in_pad > 0 {
        unused.push(format!("des_data[W-1:{in_bits}]"));
        reasons.push("the pad bits of the input word (ignored)".to_string());
    }
    let ser_load = if out_pad > 0 {
        format!("{{{{{out_pad}{{1'b0}}}}, hold_valid ? hold_data : out_beat}}")
    } else {
        "hold_valid ? hold_data : out_beat".to_string()
    };
    let out_count_bits = clog2(k_out).max(1);
    let header = standard_header(&name, &spec.header_lines);
    let err_comment = match spec.err {
        Some(source) => format!("the inner design's {source}"),
        None => "always 0: the inner design has no error output".to_string(),
    };
    let template = StreamIoTemplate {
        header: &header,
        name: &name,
        inner: &spec.inner,
        word_bits: spec.word_bits,
        in_bits,
        out_bits,
        k_in,
        k_out,
        k_max: k_in.max(k_out),
        in_pad_note: pad_note(in_pad, "ignored (send them as 0)"),
        out_pad_note: pad_note(out_pad, "0"),
        in_fields,
        out_fields,
        in_valid_list: match spec.in_valid.as_slice() {
            [one] => one.to_string(),
            many => format!("{} together", many.join(" and ")),
        },
        in_ready_count: spec.in_ready.len(),
        out_count_bits,
        out_first_left: format!("{out_count_bits}'d{}", k_out.saturating_sub(1)),
        ser_load,
        err_comment: &err_comment,
        err_source: spec.err.is_some(),
        declarations,
        connections,
        unused,
        unused_reason: reasons.join("; "),
    };
    Ok(render(&name, &template)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(n: usize, m: usize, rows: usize, cols: usize) -> ArrayShape {
        ArrayShape::new(n, m, rows, cols, 32, ArrayShape::DEFAULT_MAX_K).unwrap()
    }

    #[test]
    fn pe_array_wrapper_has_the_contract_ports_and_layout() {
        let s = shape(2, 8, 2, 3);
        let m = emit_stream_io(&pe_array_io_spec(&s, 8)).unwrap();
        assert_eq!(m.name, "sta_pe_array_n2m8_r2c3_a32_io8");
        let t = &m.text;
        assert_eq!(t.matches("\nmodule ").count(), 1);
        assert!(t.contains("`default_nettype none") && t.contains("generated by sta "));
        assert!(t.contains("n=2 m=8 rows=2 cols=3") && t.contains("--io-width 8 --out DIR"));
        // 32 + 12 + 1 + 1 + 192 + 1 = 239 bits in 30 bytes; 96 + 1 = 97 bits in 13
        assert!(t.contains("localparam IN_BITS = 239;") && t.contains("localparam K_IN = 30;"));
        assert!(t.contains("localparam OUT_BITS = 97;") && t.contains("localparam K_OUT = 13;"));
        for port in [
            ".s_w_tdata(in_beat[0 +: 32])",
            ".s_w_tidx(in_beat[32 +: 12])",
            ".s_w_tuser(in_beat[44])",
            ".s_w_tlast(in_beat[45])",
            ".s_a_tdata(in_beat[46 +: 192])",
            ".s_a_tlast(in_beat[238])",
            ".s_w_tvalid(des_full)",
            ".s_a_tvalid(des_full)",
            ".s_w_tready(in_ready[0])",
            ".s_a_tready(in_ready[1])",
            ".m_y_tdata(out_beat[0 +: 96])",
            ".m_y_tlast(out_beat[96])",
            ".err_last(err)",
        ] {
            assert!(t.contains(port), "{port}");
        }
        let declared: Vec<&str> = t
            .lines()
            .filter(|l| l.starts_with("    input ") || l.starts_with("    output "))
            .filter_map(|l| l.split("//").next()?.split_whitespace().last())
            .map(|p| p.trim_end_matches(','))
            .collect();
        assert_eq!(
            declared,
            [
                "clk", "rst", "s_tdata", "s_tvalid", "s_tready", "m_tdata", "m_tlast", "m_tvalid",
                "m_tready", "err"
            ]
        );
        assert!(t.contains("wire _unused = &{1'b0, perf_cycles, perf_busy, perf_stall};"));
        std::fs::write("/tmp/sio/pe.v", t).ok();
    }

    /// A small EXP and 1/x table pair the softmax unit accepts.
    fn softmax_tables() -> (sta_golden::pwl::PwlTable, sta_golden::pwl::PwlTable) {
        let exp = sta_golden::pwl::PwlTable {
            format: sta_golden::pwl::PwlFormat {
                input_frac_bits: 4,
                coeff_bits: 8,
                coeff_frac_bits: 6,
                output_bits: 8,
                output_frac_bits: 7,
            },
            breakpoints: vec![-64],
            slopes: vec![0, 16],
            intercepts: vec![1, 64],
        };
        let mut reci = exp.clone();
        reci.format.input_frac_bits = 5;
        reci.format.output_bits = 10;
        reci.format.output_frac_bits = 8;
        (exp, reci)
    }

    #[test]
    fn softmax_wrapper_ties_err_and_pads_single_words() {
        let (exp, reci) = softmax_tables();
        let unit = SoftmaxUnit::new(1, 8, 4, &exp, &reci).unwrap();
        // P = 1: 8 + 1 + 1 = 10 bits, one 16-bit word each way with 6 pad bits
        let m = emit_stream_io(&softmax_io_spec(&unit, 16)).unwrap();
        let t = &m.text;
        assert_eq!(m.name, "sta_softmax_p1_l8_s4_io16");
        assert!(t.contains("assign err = 1'b0;"));
        assert!(t.contains("localparam K_IN = 1;") && t.contains("localparam K_OUT = 1;"));
        assert!(t.contains("wire _unused = &{1'b0, des_data[W-1:10]};"));
        assert!(t.contains("ser_data <= {{6{1'b0}}, hold_valid ? hold_data : out_beat};"));
        assert!(t.contains("wire ser_word_last = 1'b1;"));
        assert!(!t.contains("des_cnt") && !t.contains("ser_cnt"));
        assert!(t.contains("--io-width 16"));
    }

    #[test]
    fn wide_softmax_wrapper_carries_sw_bit_scores_and_ob_bit_outputs() {
        let (exp, reci) = softmax_tables();
        let unit = SoftmaxUnit::with_widths(1, 8, 16, 8, 7, &exp, &reci).unwrap();
        // P = 1: 16 + 1 + 1 = 18 bits in (two 16-bit words), 7 + 1 + 1 = 9 bits out (one word)
        let m = emit_stream_io(&softmax_io_spec(&unit, 16)).unwrap();
        let t = &m.text;
        assert_eq!(m.name, "sta_softmax_p1_l8_s8_sw16_o7_io16");
        assert!(t.contains("localparam K_IN = 2;") && t.contains("localparam K_OUT = 1;"));
        assert!(t.contains("--input-frac-bits 8 --score-bits 16 --output-bits 7 --io-width 16"));
        assert!(t.contains("score_bits=16 output_bits=7"));
    }

    #[test]
    fn unsupported_word_widths_are_refused() {
        let s = shape(1, 4, 1, 1);
        for w in [0, 4, 12, 64] {
            let err = emit_stream_io(&pe_array_io_spec(&s, w)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "io word width = {w} is not supported: the I/O word width must be 8, 16 or 32"
                )
            );
        }
    }
}
