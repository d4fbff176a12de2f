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
 *   stages 6-{{ gelu_stage }}: the GELU datapath ({{ gelu_latency }} cycles) on q = sat_8(r); every other result waits beside it
 *   stage {{ out_stage }}: GELU: its output; otherwise the stage 5 result
 * The rounding: h = floor(p / 2^(s-1)), so ceil(h / 2) = (h >>> 1) + h[0] = floor((p + 2^(s-1)) / 2^s) for s >= 1,
 * and for s = 0 h = 2p, h[0] = 0 and r = p: one datapath for every shift, no special case and no wide 2^(s-1)
 * constant. r fits PROD_W bits: for s = 0 it is p, for s >= 1 |r| <= 2^(PROD_W-2) + 1.
 * Saturation compares bits, not signed constants: a W-bit x fits N bits iff x[W-1:N-1] are all equal to the sign.
 *
 * GELU: ONE table-selectable PWL datapath per lane, the pipeline of sta_pwl.v with the constants of every table
 * (PwlTable::eval, docs/numerics.md) as constant rows, one per distinct table; in_gsel picks the row at stage 1 and
 * the row travels with the beat:
 *   stage 6: i = #{ j : q >= p_j }, k = k_i, c = c_i      the row's breakpoints, slopes, offsets (shared by the lanes)
 *   stage 7: acc = k * q + c                               exact, GAW bits
 *   stage 8: y = sat_m(sat_8(acc >>> s))                   s = FK + D_IN - D_OUT, m = min(OW, 8)
 * with c_i = b_i * 2^D_IN + 2^(s-1) (s >= 1; b_i * 2^D_IN for s = 0): the intercept at the accumulator's scale with
 * round_shift's half folded in, so acc >>> s = round_shift(k_i q + b_i 2^D_IN, s), and sat_8(sat_OW(v)) =
 * sat_min(OW,8)(v) = the golden gelu's sat_8(T(q)). Rows of tables with fewer than GK segments are padded: breakpoints
 * 127 (q >= 127 only for q = 127, in the last segment) and the last segment's k and c repeated. The generator checks
 * this arithmetic against every table on all 256 codes before it emits the module.
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
 * The GELU datapath's constants: one row per distinct table, GK segments (GK-1 breakpoints)
 */
localparam GK = {{ entries }};
// slope width, offset width, accumulator width (max(GKW + 8, GCW) + 1: k*q + c is exact), row-number width
localparam GKW = {{ slope_bits }};
localparam GCW = {{ offset_bits }};
localparam GAW = {{ acc_bits }};
localparam GRW = {{ row_bits }};
{%- for r in rows %}

// row {{ r.index }} (in_gsel {{ r.gsels }}): {{ r.format }}; shift {{ r.shift_value }}, saturation to {{ r.limit_bits }} bits
{%- for c in r.breakpoints %}
localparam signed [7:0]     {{ c.name }} = {{ c.literal }};  // {{ c.value }}
{%- endfor %}
{%- for c in r.slopes %}
localparam signed [GKW-1:0] {{ c.name }} = {{ c.literal }};  // {{ c.value }}
{%- endfor %}
{%- for c in r.offsets %}
localparam signed [GCW-1:0] {{ c.name }} = {{ c.literal }};  // {{ c.value }}
{%- endfor %}
{%- endfor %}

/*
 * The beat's constants, carried along the pipeline as far as they are needed
 */
// in_gsel -> the row of its table{% if partial_select %} (no table: row 0, defined but not a contract){% endif %}
reg [GRW-1:0] in_row;

always @* begin
    case (in_gsel)
{%- for s in selects %}
        4'd{{ s.gsel }}: in_row = {{ s.row }};
{%- endfor %}
{%- if partial_select %}
        default: in_row = {{ row_zero }};
{%- endif %}
    endcase
end

reg                s1_valid, s2_valid, s3_valid, s4_valid, s5_valid;
reg [1:0]          s1_mode, s2_mode, s3_mode, s4_mode, s5_mode;
reg [GRW-1:0]      s1_row, s2_row, s3_row, s4_row, s5_row;
reg signed [15:0]  s1_mult;                // in_mult as a non-negative signed 16-bit operand
reg [5:0]          s1_shift, s2_shift;
reg [4:0]          s1_rshift, s2_rshift, s3_rshift;

always @(posedge clk) begin
    s1_mode <= in_mode;
    s2_mode <= s1_mode;
    s3_mode <= s2_mode;
    s4_mode <= s3_mode;
    s5_mode <= s4_mode;
    s1_row <= in_row;
    s2_row <= s1_row;
    s3_row <= s2_row;
    s4_row <= s3_row;
    s5_row <= s4_row;
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

// stages 6-{{ gelu_stage }}: the GELU datapath's latency{% if late_row %} (the row travels to stage 7: its shift or clamp){% endif %}
{%- for w in waits %}
reg                s{{ w.stage }}_valid;
reg [1:0]          s{{ w.stage }}_mode;
{%- endfor %}
{%- if late_row %}
reg [GRW-1:0]      s6_row, s7_row;
{%- endif %}

always @(posedge clk) begin
{%- for w in waits %}
    s{{ w.stage }}_mode <= s{{ w.prev }}_mode;
{%- endfor %}
{%- if late_row %}
    s6_row <= s5_row;
    s7_row <= s6_row;
{%- endif %}
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
 * The beat's GELU row, shared by the lanes: stage 6 reads its breakpoints, slopes and offsets (element i of a packed
 * row at [i*W +: W])
 */
reg [(GK-1)*8-1:0] row_p;
reg [GK*GKW-1:0]   row_k;
reg [GK*GCW-1:0]   row_c;

always @* begin
    case (s5_row)
{%- for r in rows %}
        {{ r.label }}: begin
            row_p = {{ r.cat_p }};
            row_k = {{ r.cat_k }};
            row_c = {{ r.cat_c }};
        end
{%- endfor %}
    endcase
end
{% for s in segments %}
wire signed [7:0] row_p{{ s.bit }} = row_p[{{ s.bit }}*8 +: 8];
{%- endfor %}
{%- match uniform_shift %}
{%- when Some with (s) %}

// stage 8: every row shifts by {{ s }}
localparam G_SHIFT = {{ s }};
{%- when None %}

// stage 8: the row's output shift
reg [{{ shift_bits - 1 }}:0] g_shift;

always @* begin
    case (s7_row)
{%- for r in rows %}
        {{ r.label }}: g_shift = {{ r.shift }};
{%- endfor %}
    endcase
end
{%- endmatch %}
{%- if !plain_sat8 %}

// stage 8: the row's output range after sat_8, [-2^(m-1), 2^(m-1) - 1], m = min(OW, 8)
reg signed [7:0] g_max, g_min;

always @* begin
    case (s7_row)
{%- for r in rows %}
        {{ r.label }}: begin
            g_max = {{ r.max }};
            g_min = {{ r.min }};
        end
{%- endfor %}
    endcase
end
{%- endif %}

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
    // REQ8 and GELU: sat_8(r), which is also the GELU datapath's input
    wire [OUT_W-1:0] res = (s4_mode == MODE_RESID) ? y24 :
                           (s4_mode == MODE_REQS)  ? { {(OUT_W-SW){ys[SW-1]}}, ys} :
                                                     { {(OUT_W-8){y8[7]}}, y8};
    reg  [OUT_W-1:0] s5_res;

    always @(posedge clk) begin
        s5_res <= res;
    end

    // stage 6 (GELU): q = sat_8(r); ge[j] = (q >= p_j), a thermometer code (sorted breakpoints): the highest set bit
    // j selects segment j + 1
    wire signed [7:0] q8 = s5_res[7:0];
    wire [GK-2:0]     ge;
{%- for s in segments %}
    assign ge[{{ s.bit }}] = q8 >= row_p{{ s.bit }};
{%- endfor %}

    reg signed [GKW-1:0] k_sel;
    reg signed [GCW-1:0] c_sel;

    always @* begin
        k_sel = row_k[0 +: GKW];
        c_sel = row_c[0 +: GCW];
{%- for s in segments %}
        if (ge[{{ s.bit }}]) begin
            k_sel = row_k[{{ s.lo }}*GKW +: GKW];
            c_sel = row_c[{{ s.lo }}*GCW +: GCW];
        end
{%- endfor %}
    end

    reg signed [GKW-1:0] s6_k;
    reg signed [GCW-1:0] s6_c;
    reg signed [7:0]     s6_q;

    always @(posedge clk) begin
        s6_k <= k_sel;
        s6_c <= c_sel;
        s6_q <= q8;
    end

    // stage 7 (GELU): acc = k * q + c, the product at its full GKW + 8 width first; both sign-extended to GAW bits
    wire signed [GKW+7:0] g_prod = s6_k * s6_q;
    wire signed [GAW-1:0] g_acc = {{ prod_ext }} + {{ offset_ext }};
    reg  signed [GAW-1:0] s7_acc;

    always @(posedge clk) begin
        s7_acc <= g_acc;
    end

    // stage 8 (GELU): the rounding shift (the half is in c), sat_8{% if !plain_sat8 %}, then the row's clamp to m bits{% endif %}
{%- match uniform_shift %}
{%- when Some with (s) %}
    wire signed [GAW-1:0] g_r = s7_acc >>> G_SHIFT;
{%- when None %}
    wire signed [GAW-1:0] g_r = s7_acc >>> g_shift;
{%- endmatch %}
    wire                  g_neg = g_r[GAW-1];
    wire [7:0]            g_y8 = (g_r[GAW-1:7] == {(GAW-7){g_neg}}) ? g_r[7:0] : {g_neg, {7{~g_neg}}};
{%- if plain_sat8 %}
    wire [7:0]            g_y = g_y8;
{%- else %}
    wire signed [7:0]     g_y8s = g_y8;
    wire [7:0]            g_y = (g_y8s > g_max) ? g_max : (g_y8s < g_min) ? g_min : g_y8;
{%- endif %}
    reg  [7:0]            s8_g;

    always @(posedge clk) begin
        s8_g <= g_y;
    end

    // the other results wait beside the GELU datapath
{%- for w in waits %}
    reg [OUT_W-1:0] s{{ w.stage }}_res;
{%- endfor %}

    always @(posedge clk) begin
{%- for w in waits %}
        s{{ w.stage }}_res <= s{{ w.prev }}_res;
{%- endfor %}
    end

    // stage {{ out_stage }}: the GELU result or the waiting result
    reg [OUT_W-1:0] s{{ out_stage }}_out;

    always @(posedge clk) begin
        s{{ out_stage }}_out <= (s{{ gelu_stage }}_mode == MODE_GELU) ? { {(OUT_W-8){s{{ gelu_stage }}_g[7]}}, s{{ gelu_stage }}_g} : s{{ gelu_stage }}_res;
    end

    assign out_data[gl*OUT_W +: OUT_W] = s{{ out_stage }}_out;
end
endgenerate

endmodule

`resetall
