{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * The accelerator's epilogue: one PE-array result beat, L accumulators that all belong to ONE output channel (lane l
 * = token l of the tile), turned into L results in one pass with that channel's constants. in_mode:
 *   0 REQ8   y = sat_8(round_shift((a + bias) * mult, shift))
 *   1 GELU   y = sat_8(T_gsel(REQ8))                  T_g: the {{ tables }} GELU PWL tables baked in at generation
 *   2 RESID  y = sat_24((skip << rshift) + round_shift((a + bias) * mult, shift))
 *   3 REQS   y = sat_SW(round_shift((a + bias) * mult, shift))
 * with a the lane's ACC_W-bit accumulator, round_shift(v, s) = floor((v + 2^(s-1)) / 2^s) for s >= 1 (round half
 * up) and v for s = 0, sat_W a clamp into the signed W-bit range (docs/numerics.md, golden model
 * sta_golden::accel::epilogue_beat). out_data lane l is the signed 24-bit result (INT8 and SW-bit results
 * sign-extended).
 *
 * The contract's constants are mult 0..2^15-1, shift 0..47, rshift 0..24; the results are exact for every value of
 * the ports (shift up to 63, rshift up to 31) except a GELU gsel of {{ tables }} or more, which reads table 0 (defined, but
 * not a contract).
 *
 * Pipeline (fixed latency {{ latency }} cycles in every mode, one beat accepted every cycle, no back-pressure):
 *   stage 1: b = a + bias                          SUM_W = max(ACC_W, 32) + 1 bits: exact
 *   stage 2: p = b * mult                          PROD_W = SUM_W + 16 bits (mult as a signed 16-bit operand)
 *   stage 3: h = (2 p) >>> shift                   the variable shift alone (HALF_W = PROD_W + 1 bits)
 *   stage 4: r = (h >>> 1) + h[0]                  = round_shift(p, shift); also skip << rshift
 *   stage 5: by mode: sat_8(r), sat_SW(r), sat_24((skip << rshift) + r)
 *   stages 6-{{ gelu_stage }}: the GELU PWL units ({{ pwl_latency }} cycles) on sat_8(r); every other result waits beside them
 *   stage {{ out_stage }}: GELU: the selected table's output, saturated to 8 bits; otherwise the stage 5 result
 * The rounding: h = floor(p / 2^(s-1)), so ceil(h / 2) = (h >>> 1) + h[0] = floor((p + 2^(s-1)) / 2^s) for s >= 1,
 * and for s = 0 h = 2p, h[0] = 0 and r = p: one datapath for every shift, no special case and no wide 2^(s-1)
 * constant. r fits PROD_W bits: for s = 0 it is p, for s >= 1 |r| <= 2^(PROD_W-2) + 1.
 * Saturation compares bits, not signed constants: a W-bit x fits N bits iff x[W-1:N-1] are all equal to the sign.
 *
 * A beat presented with in_valid high in cycle t appears on out_data with out_valid high in cycle t + {{ latency }}.
 * rst (synchronous, active high) clears the valid pipeline only: beats in flight are dropped. Data registers have
 * no reset and load every cycle; out_data is meaningful only while out_valid is high.
 */
module {{ name }} #
(
    // Lanes L (the PE array's columns)
    parameter L = {{ lanes }},
    // Accumulator width ACC_W (signed, two's complement)
    parameter ACC_W = {{ acc_width }},
    // REQS output width SW (signed)
    parameter SW = {{ score_bits }}
)
(
    input  wire                 clk,
    input  wire                 rst,

    /*
     * One beat: L accumulators of one channel and that channel's constants
     */
    input  wire                 in_valid,
    input  wire [1:0]           in_mode,     // 0 REQ8, 1 GELU, 2 RESID, 3 REQS
    input  wire [L*ACC_W-1:0]   in_acc,      // lane l = [l*ACC_W +: ACC_W], signed
    input  wire [31:0]          in_bias,     // signed
    input  wire [14:0]          in_mult,     // unsigned
    input  wire [5:0]           in_shift,    // 0..47
    input  wire [4:0]           in_rshift,   // 0..24 (RESID)
    input  wire [3:0]           in_gsel,     // GELU table, below {{ tables }} (GELU)
    input  wire [L*8-1:0]       in_skip,     // lane l = [l*8 +: 8], signed INT8 (RESID)

    /*
     * Results, {{ latency }} cycles later
     */
    output wire                 out_valid,
    output wire [L*24-1:0]      out_data     // lane l = [l*24 +: 24], signed
);

// bail out on hand edits: the widths below and the baked tables were computed for exactly these values
initial begin
    if (L != {{ lanes }} || ACC_W != {{ acc_width }} || SW != {{ score_bits }}) begin
        $error("Error: L, ACC_W, SW must be {{ lanes }}, {{ acc_width }}, {{ score_bits }}: regenerate the epilogue (instance %m)");
        $finish;
    end
end

localparam SUM_W = {{ sum_bits }};
localparam PROD_W = {{ prod_bits }};
localparam HALF_W = PROD_W + 1;
localparam OUT_W = 24;
// skip << rshift, exact for every 5-bit rshift (the contract needs 0..24; 31 costs 7 bits per lane and leaves no
// input of the ports without a defined result)
localparam SKIP_W = 8 + 31;

localparam [1:0] MODE_GELU  = 2'd1;
localparam [1:0] MODE_RESID = 2'd2;
localparam [1:0] MODE_REQS  = 2'd3;

/*
 * The beat's constants, carried along the pipeline as far as they are needed
 */
reg                s1_valid, s2_valid, s3_valid, s4_valid, s5_valid;
reg [1:0]          s1_mode, s2_mode, s3_mode, s4_mode, s5_mode;
reg [3:0]          s1_gsel, s2_gsel, s3_gsel, s4_gsel, s5_gsel;
reg signed [15:0]  s1_mult;                // in_mult as a non-negative signed 16-bit operand
reg [5:0]          s1_shift, s2_shift;
reg [4:0]          s1_rshift, s2_rshift, s3_rshift;

always @(posedge clk) begin
    s1_mode <= in_mode;
    s2_mode <= s1_mode;
    s3_mode <= s2_mode;
    s4_mode <= s3_mode;
    s5_mode <= s4_mode;
    s1_gsel <= in_gsel;
    s2_gsel <= s1_gsel;
    s3_gsel <= s2_gsel;
    s4_gsel <= s3_gsel;
    s5_gsel <= s4_gsel;
    s1_mult <= {1'b0, in_mult};
    s1_shift <= in_shift;
    s2_shift <= s1_shift;
    s1_rshift <= in_rshift;
    s2_rshift <= s1_rshift;
    s3_rshift <= s2_rshift;
    if (rst) begin
        s1_valid <= 1'b0;
        s2_valid <= 1'b0;
        s3_valid <= 1'b0;
        s4_valid <= 1'b0;
        s5_valid <= 1'b0;
    end else begin
        s1_valid <= in_valid;
        s2_valid <= s1_valid;
        s3_valid <= s2_valid;
        s4_valid <= s3_valid;
        s5_valid <= s4_valid;
    end
end

// stages 6-{{ gelu_stage }}: the PWL units' latency
{%- for w in waits %}
reg                s{{ w.stage }}_valid;
reg [1:0]          s{{ w.stage }}_mode;
reg [3:0]          s{{ w.stage }}_gsel;
{%- endfor %}

always @(posedge clk) begin
{%- for w in waits %}
    s{{ w.stage }}_mode <= s{{ w.prev }}_mode;
    s{{ w.stage }}_gsel <= s{{ w.prev }}_gsel;
{%- endfor %}
    if (rst) begin
{%- for w in waits %}
        s{{ w.stage }}_valid <= 1'b0;
{%- endfor %}
    end else begin
{%- for w in waits %}
        s{{ w.stage }}_valid <= s{{ w.prev }}_valid;
{%- endfor %}
    end
end

reg s{{ out_stage }}_valid;

always @(posedge clk) begin
    if (rst) begin
        s{{ out_stage }}_valid <= 1'b0;
    end else begin
        s{{ out_stage }}_valid <= s{{ gelu_stage }}_valid;
    end
end

assign out_valid = s{{ out_stage }}_valid;

/*
 * The lanes
 */
genvar gl;

generate
for (gl = 0; gl < L; gl = gl + 1) begin : g_lane
    wire [ACC_W-1:0] a = in_acc[gl*ACC_W +: ACC_W];

    // stage 1: a + bias, both sign-extended to SUM_W bits (one more than the wider): exact
    wire signed [SUM_W-1:0] a_ext = { {(SUM_W-ACC_W){a[ACC_W-1]}}, a};
    wire signed [SUM_W-1:0] bias_ext = { {(SUM_W-32){in_bias[31]}}, in_bias};
    reg  signed [SUM_W-1:0] s1_sum;
    reg  [7:0]              s1_skip;

    always @(posedge clk) begin
        s1_sum <= a_ext + bias_ext;
        s1_skip <= in_skip[gl*8 +: 8];
    end

    // stage 2: the product at its full width (both operands signed, assigned to a full-width net first)
    wire signed [PROD_W-1:0] prod = s1_sum * s1_mult;
    reg  signed [PROD_W-1:0] s2_prod;
    reg  [7:0]               s2_skip;

    always @(posedge clk) begin
        s2_prod <= prod;
        s2_skip <= s1_skip;
    end

    // stage 3: h = 2p >>> shift (arithmetic: the operand is a signed net)
    wire signed [HALF_W-1:0] dbl = {s2_prod, 1'b0};
    wire signed [HALF_W-1:0] half = dbl >>> s2_shift;
    reg  signed [HALF_W-1:0] s3_half;
    reg  [7:0]               s3_skip;

    always @(posedge clk) begin
        s3_half <= half;
        s3_skip <= s2_skip;
    end

    // stage 4: r = (h >>> 1) + h[0] (h >>> 1 is h without its LSB); the skip lifted to the residual scale
    wire signed [PROD_W-1:0] rnd = s3_half[HALF_W-1:1] + { {(PROD_W-1){1'b0}}, s3_half[0]};
    wire signed [SKIP_W-1:0] skip_ext = { {(SKIP_W-8){s3_skip[7]}}, s3_skip};
    reg  signed [PROD_W-1:0] s4_rnd;
    reg  signed [SKIP_W-1:0] s4_skip_sh;

    always @(posedge clk) begin
        s4_rnd <= rnd;
        s4_skip_sh <= skip_ext <<< s3_rshift;
    end

    // stage 5: saturation by mode. RESID: (skip << rshift) + r, exact in PROD_W + 1 bits (PROD_W > SKIP_W)
    wire [PROD_W:0] resid = { {(PROD_W+1-SKIP_W){s4_skip_sh[SKIP_W-1]}}, s4_skip_sh} + {s4_rnd[PROD_W-1], s4_rnd};
    wire            r_neg = s4_rnd[PROD_W-1];
    wire [7:0]      y8 = (s4_rnd[PROD_W-1:7] == {(PROD_W-7){r_neg}}) ? s4_rnd[7:0] : {r_neg, {7{~r_neg}}};
    wire [SW-1:0]   ys = (s4_rnd[PROD_W-1:SW-1] == {(PROD_W-SW+1){r_neg}}) ? s4_rnd[SW-1:0] : {r_neg, {(SW-1){~r_neg}}};
    wire            t_neg = resid[PROD_W];
    wire [23:0]     y24 = (resid[PROD_W:23] == {(PROD_W-22){t_neg}}) ? resid[23:0] : {t_neg, {23{~t_neg}}};
    // REQ8 and GELU: sat_8(r), which is also the GELU tables' input
    wire [OUT_W-1:0] res = (s4_mode == MODE_RESID) ? y24 :
                           (s4_mode == MODE_REQS)  ? { {(OUT_W-SW){ys[SW-1]}}, ys} :
                                                     { {(OUT_W-8){y8[7]}}, y8};
    reg  [OUT_W-1:0] s5_res;

    always @(posedge clk) begin
        s5_res <= res;
    end

    // stages 6-{{ gelu_stage }}: every GELU table on sat_8(r), one PWL unit each; the stage 5 result waits beside them
    wire [7:0] q8 = s5_res[7:0];
{%- for t in luts %}

    // table {{ t.index }}: its {{ t.out_bits }}-bit output, then sat_8 of it (the golden gelu's outer saturation)
    wire [{{ t.out_bits - 1 }}:0] g{{ t.index }}_out;
    wire       g{{ t.index }}_valid;

    {{ t.module }} u_gelu{{ t.index }} (
        .clk(clk),
        .rst(rst),
        .in_valid(s5_valid),
        .in_data(q8),
        .out_valid(g{{ t.index }}_valid),
        .out_data(g{{ t.index }}_out)
    );

    {{ t.sat8 }}
{%- endfor %}

{%- for w in waits %}
    reg [OUT_W-1:0] s{{ w.stage }}_res;
{%- endfor %}

    always @(posedge clk) begin
{%- for w in waits %}
        s{{ w.stage }}_res <= s{{ w.prev }}_res;
{%- endfor %}
    end

    // stage {{ out_stage }}: the table in_gsel chose (GELU) or the waiting result
    reg [7:0] g_sel;

    always @* begin
        case (s{{ gelu_stage }}_gsel)
{%- for s in selects %}
            4'd{{ s.gsel }}: g_sel = g{{ s.lut }};
{%- endfor %}
{%- if partial_select %}
            default: g_sel = g0;
{%- endif %}
        endcase
    end

    reg [OUT_W-1:0] s{{ out_stage }}_out;

    always @(posedge clk) begin
        s{{ out_stage }}_out <= (s{{ gelu_stage }}_mode == MODE_GELU) ? { {(OUT_W-8){g_sel[7]}}, g_sel} : s{{ gelu_stage }}_res;
    end

    assign out_data[gl*OUT_W +: OUT_W] = s{{ out_stage }}_out;

    // unused: the PWL units' valid outputs (the pipeline above tracks validity with the same latency)
    wire _unused_valid = &{1'b0, {{ unused_valids }}};
end
endgenerate

endmodule

`resetall
