{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * LayerNorm of L = {{ lanes }} residual rows of D = {{ d }} elements in lock-step (lane l = one token), integer
 * contract of docs/numerics.md "LayerNorm" with the rsqrt normaliser, bit for bit with sta_golden::encoder::ops:
 *   pass 0 (in_pass = 0): S = sum r_i;                  then mu = round_shift(S * MU, 32), MU = round(2^32/D) = {{ mu }}
 *   pass 1 (in_pass = 1): V = sum (r_i - mu)^2 (exact); then V = 0: mult = 0; else k = floor(floor(log2 V) / 2),
 *                         f = min(127, round_shift(V, 2k - 5)), mult = max(0, RSQRT(f)), shift = k + D_OUT - 15
 *   pass 2 (in_pass = 2): n_i = sat_16(round_shift((r_i - mu) * mult, shift))
 *                         y_i = sat_8(round_shift(n_i * g_i + c_i, in_shift))
 * round_shift rounds half up (shift 0 = unchanged). RSQRT is {{ rsqrt_module }} (D_OUT = {{ d_out }}).
 *
 * Protocol: one beat = element i of every lane's row (in_resid lane l = r_i of lane l, signed 24-bit; in_gain = g_i,
 * in_offset = c_i and in_shift are shared by the lanes and sampled in pass 2 only). A row group is D beats of pass 0,
 * D of pass 1, D of pass 2, in_last high on each pass's beat D - 1 (the unit trusts in_pass / in_last; in_pass = 3
 * beats are accepted and ignored). A beat is accepted when in_valid && in_ready. in_ready is low only
 *   - for MEAN_BUBBLE = L + 2 = {{ mean_bubble }} cycles after the cycle that accepts pass 0's last beat, and
 *   - for NORM_BUBBLE = L + 4 + {{ pwl_latency }} = {{ norm_bubble }} cycles after the cycle that accepts pass 1's last beat,
 * and in rst cycles. Pass 2 has no bubble: the next group's pass 0 may follow its last beat directly.
 * Output: each pass-2 beat accepted in cycle t gives out_valid high with its L INT8 results in cycle t + {{ latency }}
 * (lane l at out_data[8l +: 8]); no back-pressure. out_valid is low otherwise.
 * rst (synchronous, active high) drops every beat in flight, and the unit waits for a group's pass 0.
 *
 * Structure. Per lane: S, V, mu, mult, shift registers, the pass-2 pipeline and two multipliers: z * b (ZW x MBW,
 * b = z in pass 1, b = mult in pass 2) and n * g (16 x 16). Time-shared by the lanes (one lane per cycle, in the
 * bubbles): the mean multiplier S * MU and the normaliser (leading one, f, one RSQRT PWL unit).
 *   beat pipeline:  1 input registers -> 2 z = r - mu -> 3 z*z or z*mult -> 4 V += z^2 (pass 1), pass 2:
 *                   4 (z*mult * 2^(PRE+1)) >>> shift -> 5 n = sat_16 -> 6 n*g -> 7 ((n*g + c) * 2) >>> in_shift
 *                   -> 8 y = sat_8 -> out
 *   round_shift(x, s), s >= 0, is computed as ((2x >>> s) + 1) >>> 1 (no special case for s = 0).
 *   mean engine:    S[j] -> S[j] * MU -> mu[j] = bits [32 +: MEANW] of (S[j] * MU + 2^31)
 *   normaliser:     V[j] -> leading one, k -> f -> RSQRT ({{ pwl_latency }} cycles) -> mult[j], shift[j]
 * Data registers have no reset; validity is tracked by the control registers, which rst clears.
 */
module {{ name }} #
(
    // Lanes L (tokens normalised in lock-step)
    parameter L = {{ lanes }},
    // Row length D (elements per pass)
    parameter D = {{ d }}
)
(
    input  wire             clk,
    input  wire             rst,

    /*
     * Input beats: element i of every lane's row
     */
    input  wire             in_valid,
    output wire             in_ready,
    input  wire [1:0]       in_pass,
    input  wire             in_last,
    input  wire [L*24-1:0]  in_resid,
    input  wire [15:0]      in_gain,
    input  wire [39:0]      in_offset,
    input  wire [5:0]       in_shift,

    /*
     * Output beats: y_i of every lane, {{ latency }} cycles after the pass-2 input beat
     */
    output wire             out_valid,
    output wire [L*8-1:0]   out_data
);

// bail out on hand edits: the widths and constants below were computed for exactly these values (regenerate instead)
initial begin
    if (L != {{ lanes }} || D != {{ d }}) begin
        $error("Error: L, D must be {{ lanes }}, {{ d }}: regenerate with emit_layernorm (instance %m)");
        $finish;
    end
end

localparam RW = 24;          // residual bits (signed)
localparam SUMW = {{ w.sum }};        // S bits (signed): D * [-2^23, 2^23 - 1]
localparam MUW = {{ w.mu }};         // MU bits (signed constant)
localparam PMW = {{ mean_prod_bits }};        // S * MU bits (signed)
localparam MEANW = {{ w.mean }};       // mu bits (signed): the exact range of mu
localparam ZW = {{ w.z }};          // z = r - mu bits (signed)
localparam MBW = {{ w.mul_b }};         // second multiplier operand bits (signed): max(ZW, OW)
localparam PRW = ZW + MBW;   // product bits
localparam SQW = {{ w.sq }};         // z^2 bits (unsigned)
localparam VW = {{ w.v }};          // V bits (unsigned): D * max z^2
localparam KW = {{ w.k }};           // k bits
localparam PW = KW + 1;      // leading-one position bits (0 .. VW - 1)
localparam OW = {{ rsqrt_out_bits }};          // RSQRT output bits (signed)
localparam MW = OW - 1;      // mult bits (unsigned)
localparam SHW = {{ w.shift }};          // stored shift bits: k + {{ shift_offset }}
localparam ZMW = {{ w.zm }};         // z * mult bits (signed)
localparam TW = {{ round_bits }};          // z * mult * 2^(PRE + 1) bits, PRE = {{ pre_shift }} (= max(0, 15 - D_OUT))
localparam JW = {{ lane_bits }};           // lane index bits
localparam WCW = {{ wait_bits }};          // bubble counter bits

localparam signed [MUW-1:0] MU = {{ mu_literal }};  // round(2^32 / D) = {{ mu }}
localparam signed [PMW-1:0] MEAN_HALF = {{ mean_half }};  // 2^31
localparam [JW-1:0] LAST_J = {{ last_lane }};
localparam [WCW-1:0] MEAN_BUBBLE = {{ mean_bubble_c }};
localparam [WCW-1:0] NORM_BUBBLE = {{ norm_bubble_c }};
localparam [SHW-1:0] SHIFT_OFFSET = {{ shift_offset_c }};  // max(0, D_OUT - 15)

/*
 * Control: bubbles and the first-beat flag
 */
reg  [WCW-1:0] wait_cnt;              // cycles left in a bubble
reg            first_reg;             // the next accepted beat is the first of its pass

assign in_ready = !rst && wait_cnt == {WCW{1'b0}};
wire accept = in_valid && in_ready;

always @(posedge clk) begin
    if (rst) begin
        wait_cnt <= {WCW{1'b0}};
        first_reg <= 1'b1;
    end else begin
        if (accept) begin
            first_reg <= in_last;
        end
        if (accept && in_last && in_pass == 2'd0) begin
            wait_cnt <= MEAN_BUBBLE;
        end else if (accept && in_last && in_pass == 2'd1) begin
            wait_cnt <= NORM_BUBBLE;
        end else if (wait_cnt != {WCW{1'b0}}) begin
            wait_cnt <= wait_cnt - 1'b1;
        end
    end
end

/*
 * Beat pipeline control (shared by the lanes): stage s holds the beat accepted s cycles ago
 */
reg              v1, v2, v3;          // a beat (any pass) in stages 1..3
reg  [1:0]       pass1, pass2, pass3;
reg              last1, last2, last3;
reg              first1, first2, first3;
reg              o4, o5, o6, o7, o8;  // a pass-2 beat in stages 4..8
reg  [L*RW-1:0]  r1;
reg  signed [15:0] g1, g2, g3, g4, g5;
reg  signed [39:0] c1, c2, c3, c4, c5, c6;
reg  [5:0]       sh1, sh2, sh3, sh4, sh5, sh6;

always @(posedge clk) begin
    r1 <= in_resid;
    {pass1, last1, first1} <= {in_pass, in_last, first_reg};
    {pass2, last2, first2} <= {pass1, last1, first1};
    {pass3, last3, first3} <= {pass2, last2, first2};
    {g1, g2, g3, g4, g5} <= {in_gain, g1, g2, g3, g4};
    {c1, c2, c3, c4, c5, c6} <= {in_offset, c1, c2, c3, c4, c5};
    {sh1, sh2, sh3, sh4, sh5, sh6} <= {in_shift, sh1, sh2, sh3, sh4, sh5};
    if (rst) begin
        {v1, v2, v3} <= 3'b000;
        {o4, o5, o6, o7, o8} <= 5'b00000;
    end else begin
        {v1, v2, v3} <= {accept, v1, v2};
        {o4, o5, o6, o7, o8} <= {v3 && pass3 == 2'd2, o4, o5, o6, o7};
    end
end

wire sum_add = v1 && pass1 == 2'd0;       // stage 1: S += r (pass 0)
wire mean_start = sum_add && last1;       // ... the last one: S is final next cycle
wire v_add = v3 && pass3 == 2'd1;         // stage 3: V += z^2 (pass 1)
wire norm_start = v_add && last3;         // ... the last one: V is final next cycle

wire [L*SUMW-1:0] sum_flat;
wire [L*VW-1:0]   v_flat;
wire [L-1:0]      mean_we;
wire [L-1:0]      norm_we;
wire signed [MEANW-1:0] mean_new;
wire [MW-1:0]     mult_new;
wire [SHW-1:0]    shift_new;

/*
 * Lanes
 */
genvar gl;
generate
for (gl = 0; gl < L; gl = gl + 1) begin : g_lane
    wire signed [RW-1:0] r = r1[gl*RW +: RW];

    reg  signed [SUMW-1:0]  sum;
    reg  signed [MEANW-1:0] mean;
    reg  [VW-1:0]           v;
    reg  [MW-1:0]           mult;
    reg  [SHW-1:0]          nshift;

    // stage 1 -> 2: z = r - mu
    wire signed [SUMW-1:0] sum_base = first1 ? {{ sum_init }} : sum;
    wire signed [ZW-1:0]   z = {{ r_to_z }} - {{ mean_to_z }};
    reg  signed [ZW-1:0]   z2;

    // stage 2 -> 3: z * z (pass 1) or z * mult (pass 2), both operands signed, the product at its full width
    wire signed [MBW-1:0]  opb = (pass2 == 2'd1) ? {{ z_to_b }} : {{ mult_to_b }};
    wire signed [PRW-1:0]  prod = z2 * opb;
    reg  signed [PRW-1:0]  p3;

    // stage 3 -> 4: V += z^2 (pass 1); pass 2: (z * mult * 2^(PRE + 1)) >>> shift
    wire [VW-1:0]          v_base = first3 ? {VW{1'b0}} : v;
    wire signed [TW-1:0]   zm_wide = {{ zm_scaled }};
    wire signed [TW-1:0]   t = zm_wide >>> nshift;
    reg  signed [TW-1:0]   t4;

    // stage 4 -> 5: n = sat_16((t + 1) >>> 1)
    wire [TW:0]            t_inc = {t4[TW-1], t4} + 1'b1;
    wire [TW-1:0]          n_round = t_inc[TW:1];
    wire                   n_fits = (&n_round[TW-1:15]) || !(|n_round[TW-1:15]);
    wire [15:0]            n_sat = n_fits ? n_round[15:0] : (n_round[TW-1] ? 16'h8000 : 16'h7fff);
    reg  signed [15:0]     n5;

    // stage 5 -> 6: n * g (16 x 16, signed)
    wire signed [31:0]     m = n5 * g5;
    reg  signed [31:0]     m6;

    // stage 6 -> 7: ((n * g + c) * 2) >>> in_shift
    wire signed [40:0]     a = { {9{m6[31]}}, m6} + {c6[39], c6};
    wire signed [41:0]     a2 = {a, 1'b0};
    wire signed [41:0]     u = a2 >>> sh6;
    reg  signed [41:0]     u7;

    // stage 7 -> 8: y = sat_8((u + 1) >>> 1)
    wire [42:0]            u_inc = {u7[41], u7} + 1'b1;
    wire [41:0]            y_round = u_inc[42:1];
    wire                   y_fits = (&y_round[41:7]) || !(|y_round[41:7]);
    wire [7:0]             y_sat = y_fits ? y_round[7:0] : (y_round[41] ? 8'h80 : 8'h7f);
    reg  [7:0]             y8;

    always @(posedge clk) begin
        if (sum_add) begin
            sum <= sum_base + {{ r_to_sum }};
        end
        if (v_add) begin
            v <= v_base + {{ sq_to_v }};
        end
        if (mean_we[gl]) begin
            mean <= mean_new;
        end
        if (norm_we[gl]) begin
            mult <= mult_new;
            nshift <= shift_new;
        end
        z2 <= z;
        p3 <= prod;
        t4 <= t;
        n5 <= n_sat;
        m6 <= m;
        u7 <= u;
        y8 <= y_sat;
    end

    assign sum_flat[gl*SUMW +: SUMW] = sum;
    assign v_flat[gl*VW +: VW] = v;
    assign out_data[gl*8 +: 8] = y8;

    // unused: the product's bits above z^2 and z * mult (zero / sign copies), the rounding increments' low bits
    wire _unused_lane = &{1'b0, p3, t_inc[0], u_inc[0]};
end
endgenerate

assign out_valid = o8;

/*
 * Mean engine (time-shared): lane j's S in cycle m0, S * MU in m1, mu[j] written at the end of m2
 */
reg              m_run;
reg  [JW-1:0]    m_j;
reg              m1_valid, m2_valid;
reg  [JW-1:0]    m1_j, m2_j;
reg  signed [SUMW-1:0] m1_sum;
reg  signed [PMW-1:0]  m2_prod;

wire signed [PMW-1:0] m1_prod = m1_sum * MU;
wire signed [PMW-1:0] m2_biased = m2_prod + MEAN_HALF;
assign mean_new = m2_biased[32 +: MEANW];
assign mean_we = {{ mean_we }};

always @(posedge clk) begin
    m1_sum <= sum_flat[m_j*SUMW +: SUMW];
    m1_j <= m_j;
    m2_prod <= m1_prod;
    m2_j <= m1_j;
    if (rst) begin
        m_run <= 1'b0;
        m_j <= {JW{1'b0}};
        {m1_valid, m2_valid} <= 2'b00;
    end else begin
        {m1_valid, m2_valid} <= {m_run, m1_valid};
        if (mean_start) begin
            m_run <= 1'b1;
            m_j <= {JW{1'b0}};
        end else if (m_run) begin
            m_run <= m_j != LAST_J;
            m_j <= (m_j == LAST_J) ? {JW{1'b0}} : m_j + 1'b1;
        end
    end
end

/*
 * Normaliser (time-shared): lane j's V in cycle n0, leading one and k in n1, f in n2, RSQRT in n3..n5 (the PWL
 * unit's {{ pwl_latency }} stages), mult[j] and shift[j] written at the end of n6
 */
reg              n_run;
reg  [JW-1:0]    n_j;
reg              n1_valid, n2_valid, n3_valid;
reg  [JW-1:0]    n1_j, n2_j, n3_j, n4_j, n5_j, n6_j;
reg  [VW-1:0]    n1_v, n2_v;
reg  [KW-1:0]    n2_k, n3_k, n4_k, n5_k, n6_k;
reg              n2_zero, n3_zero, n4_zero, n5_zero, n6_zero;
reg  [7:0]       n3_f;

// leading one of V
reg  [PW-1:0]    n1_lead;
integer in1;
always @* begin
    n1_lead = {PW{1'b0}};
    for (in1 = 0; in1 < VW; in1 = in1 + 1) begin
        if (n1_v[in1]) begin
            n1_lead = in1[PW-1:0];
        end
    end
end

// f = round_shift(V * 2^5, 2k) = ((V * 2^6 >> 2k) + 1) >> 1 (V * 2^6 >> 2k < 2^8 since V < 2^(2k+2)); min(127, f)
wire [VW+5:0]    n2_v6 = {n2_v, 6'b0};
wire [VW+5:0]    n2_sh = n2_v6 >> {n2_k, 1'b0};
wire [8:0]       n2_f9 = {1'b0, n2_sh[7:0]} + 9'd1;
wire [7:0]       n2_f = n2_f9[8] ? 8'h7f : n2_f9[8:1];

always @(posedge clk) begin
    n1_v <= v_flat[n_j*VW +: VW];
    n1_j <= n_j;
    n2_v <= n1_v;
    n2_k <= n1_lead[PW-1:1];
    n2_zero <= n1_v == {VW{1'b0}};
    n2_j <= n1_j;
    n3_f <= n2_f;
    {n3_k, n4_k, n5_k, n6_k} <= {n2_k, n3_k, n4_k, n5_k};
    {n3_zero, n4_zero, n5_zero, n6_zero} <= {n2_zero, n3_zero, n4_zero, n5_zero};
    {n3_j, n4_j, n5_j, n6_j} <= {n2_j, n3_j, n4_j, n5_j};
    if (rst) begin
        n_run <= 1'b0;
        n_j <= {JW{1'b0}};
        {n1_valid, n2_valid, n3_valid} <= 3'b000;
    end else begin
        {n1_valid, n2_valid, n3_valid} <= {n_run, n1_valid, n2_valid};
        if (norm_start) begin
            n_run <= 1'b1;
            n_j <= {JW{1'b0}};
        end else if (n_run) begin
            n_run <= n_j != LAST_J;
            n_j <= (n_j == LAST_J) ? {JW{1'b0}} : n_j + 1'b1;
        end
    end
end

wire             rs_valid;
wire [OW-1:0]    rs_out;

{{ rsqrt_module }} u_rsqrt (
    .clk(clk),
    .rst(rst),
    .in_valid(n3_valid),
    .in_data(n3_f),
    .out_valid(rs_valid),
    .out_data(rs_out)
);

// mult = max(0, RSQRT(f)), shift = k + max(0, D_OUT - 15); V = 0: mult = 0, shift = 0
assign mult_new = (n6_zero || rs_out[OW-1]) ? {MW{1'b0}} : rs_out[MW-1:0];
assign shift_new = n6_zero ? {SHW{1'b0}} : {{ k_to_shift }} + SHIFT_OFFSET;
assign norm_we = {{ norm_we }};

// unused: the mean product's rounding bits and sign copies, f's shifted-out bits, the leading one's bit 0 (k is
// the position / 2), the lane indices when L = 1
wire _unused = &{1'b0, m2_biased, n2_sh, n2_f9[0], n1_lead[0], m2_j, n6_j};

endmodule

`resetall
