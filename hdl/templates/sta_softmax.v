{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Softmax of rows of {{ score_desc }}, P = {{ lanes }} lanes, rows of 1..L_MAX = {{ max_len }} elements (docs/softmax.md).
 *
 * Numerics (docs/softmax.md, bit for bit with sta_golden::softmax):
 *   m = max s_j;  d_j = s_j - m;  c_j = max(-128, round_shift(d_j, D_S - D_E));  e_j = max(0, EXP(c_j))
 *   S = sum e_j;  E = floor(log2 S);  f = round_shift(S, E - D_R);  r = max(0, RECI(f))
 *   y_j = min({{ y_max_dec }}, round_shift(e_j * r, D_OR + E - {{ out_bits }}))   (S = 0: every y_j = 0)
 *
 * Streams (AXI-stream style, valid/ready): a row is ceil(len/P) beats, lane i of a beat holds element beat*P + i;
 * s_tlast marks the row's last beat and s_tkeep its valid lanes (ignored on other beats, which are full). The output
 * row has the same beats, m_tkeep = the input's keep on the last beat (ones elsewhere), invalid lanes are 0.
 *
 * Structure: two rings of synchronous RAM (one write and one read port each; P*{{ score_w }}-bit score words, P*EW-bit e words) and three phases
 * that each move one beat per cycle, so consecutive rows overlap:
 *   A  ingest: scores into the score ring (MS = 2*DEPTH + KA = {{ score_words }} words); the registered beat goes through
 *      a pipelined max tree into the row max; a complete row (last beat index, keep, max) enters the A -> B queue
 *   B  read scores, c_j, EXP (P instances, 3 cycles), sum S; e_j into the e ring (ME = 2*DEPTH + {{ e_extra }} = {{ e_words }} words)
 *   N  (after the row's last beat, pipelined) leading one E, f, RECI (one instance, 3 cycles), r; the row enters
 *      the B -> C queue
 *   C  read e_j, y_j = min({{ y_max_dec }}, round_shift(e_j * r, D_OR + E - {{ out_bits }})), 8-entry output FIFO
 * Every stage is registered so that no path holds more than one adder, compare, shifter or multiplier after a
 * block RAM or a register (ECP5: >= 100 MHz at P = 4, docs/fpga.md); the latency this costs is 8 + KM + KS cycles per
 * row, the throughput is unchanged. A ring word is freed when it is read, so a ring holds only the words between its
 * writer and its reader; up to RQ = 32 rows wait in each queue. A row longer than DEPTH beats keeps its first DEPTH
 * beats (the rest is accepted and dropped; its output row has DEPTH beats). rst (synchronous, active high) empties
 * every ring, queue and pipeline.
 */
module {{ name }} #
(
    // Lanes P (elements per beat)
    parameter P = {{ lanes }},
    // Longest row L_MAX
    parameter L_MAX = {{ max_len }},
    // Score fraction bits D_S (score code s means s * 2^-D_S)
    parameter D_S = {{ score_frac_bits }}{{ extra_params }}
)
(
    input  wire             clk,
    input  wire             rst,

    /*
     * Scores: P signed {{ score_lane_desc }} lanes per beat
     */
    input  wire [P*{{ score_w }}-1:0]   s_tdata,
    input  wire [P-1:0]     s_tkeep,
    input  wire             s_tlast,
    input  wire             s_tvalid,
    output wire             s_tready,

    /*
     * Probabilities: P unsigned {{ out_lane_desc }} lanes per beat, scale 2^-{{ out_w }}
     */
    output wire [P*{{ out_w }}-1:0]   m_tdata,
    output wire [P-1:0]     m_tkeep,
    output wire             m_tlast,
    output wire             m_tvalid,
    input  wire             m_tready
);

// bail out on hand edits: the widths below were computed for exactly these values (regenerate instead)
initial begin
    if ({{ check_cond }}) begin
        $error("Error: {{ check_names }} must be {{ check_values }}: regenerate with sta softmax generate (instance %m)");
        $finish;
    end
end

localparam AW = {{ addr_bits }};          // beat index bits: 0..DEPTH-1 (DEPTH = {{ depth }} = ceil(L_MAX / P))
localparam ACW = {{ beat_count_bits }};         // beat counter bits: 0..DEPTH
localparam MS = {{ score_words }};         // score ring words (2 * DEPTH + KA, KA = {{ score_extra }}: the A pipeline before a row reaches its queue)
localparam SAW = {{ score_addr_bits }};         // score ring address bits
localparam SCW = {{ score_count_bits }};         // score ring occupancy bits: 0..MS
localparam ME = {{ e_words }};         // e ring words (2 * DEPTH + {{ e_extra }})
localparam EAW = {{ e_addr_bits }};         // e ring address bits
localparam ECW = {{ e_count_bits }};         // e ring occupancy bits: 0..ME
localparam RQ = 32;          // rows in flight per queue (A -> B, B -> C): covers the B -> C pipeline for one-beat rows
localparam EW = {{ e_bits }};          // e_j bits (EXP output OW_E - 1, unsigned)
localparam OWE = {{ exp_out_bits }};         // EXP output bits (signed)
localparam SW = {{ sum_bits }};         // sum bits: holds DEPTH * P * (2^EW - 1)
localparam LW = {{ lead_bits }};          // leading-one position bits
localparam D_R = {{ reci_in_frac }};         // RECI input fraction bits
localparam FW = {{ f_bits }};          // f bits: f <= 2^(D_R+1)
localparam OWR = {{ reci_out_bits }};        // RECI output bits (signed)
localparam RW = {{ r_bits }};          // r bits (OWR - 1, unsigned)
// output: the product is pre-scaled by 2^K0 (K0 = {{ out_k0 }}), then shifted right by E + T0 (T0 = {{ out_t0 }})
localparam PW = {{ prod_bits }};         // e_j * r * 2^K0 bits
localparam YSW = {{ yshift_bits }};        // output shift bits
localparam CSW = {{ c_bits }};        // width of the rounded EXP input before the clamp
localparam FQ = 8;           // output FIFO entries: covers the C pipeline (issue to pop: 6 cycles)
localparam signed [CSW-1:0] C_MIN = {{ c_min }};  // -128
localparam [PW:0] Y_MAX = {{ y_max }};  // {{ y_max_dec }}
localparam XW = 8;           // EXP input bits (INT8 codes c_j)
localparam AXW = 2 + AW + P;  // A's sideband bits
localparam BXW = 1 + 2*P + AW; // B's sideband bits (before the sum)
localparam SXW = 1 + AW + P;  // B's sideband bits (through the sum tree)
localparam [5:0] RQ_C = 6'd32;
localparam [3:0] FQ_C = 4'd8;
{{ extra_localparams }}localparam [ACW-1:0] DEPTH_C = {{ depth_c }};
localparam [SAW-1:0] MS_LAST = {{ ms_last }};
localparam [SCW-1:0] MS_C = {{ ms_c }};
localparam [EAW-1:0] ME_LAST = {{ me_last }};
localparam [ECW-1:0] ME_C = {{ me_c }};

/*
 * Memories: the score ring (A writes, B reads) and the e ring (B writes, C reads), one write and one read port each
 */
reg [P*{{ score_w }}-1:0] score_mem [0:MS-1];
reg [P*EW-1:0] e_mem [0:ME-1];

/*
 * Phase A: ingest scores into the score ring. The row max is computed off the accepting path: the beat is
 * registered, reduced by a max tree (one compare level per register stage, KM = {{ max_stages }} stages) and folded
 * into the running max, and the completed row (last beat index, keep, max) then enters the A -> B queue.
 */
reg  [ACW-1:0]  a_cnt;                  // beats of the current row so far (saturates at DEPTH: later beats dropped)
reg  [SAW-1:0]  a_wptr;
reg  [SCW-1:0]  sr_count;               // score ring words in use (counted from the accepting beat)
reg  [5:0]      rows_ab;                // complete rows in the A -> B queue, waiting for B
reg  [5:0]      rows_abr;               // rows accepted completely and not yet taken by B (queue entries reserved)
reg  [4:0]      qab_wr, qab_rd;
reg  [AW-1:0]   qab_last [0:RQ-1];      // index of the row's last stored beat
reg  [P-1:0]    qab_keep [0:RQ-1];      // valid lanes of that beat
reg  [{{ score_msb }}:0]      qab_max [0:RQ-1];
wire            b_fire, b_last;

// the queue is reserved when a row's last beat is accepted, because its entry is written KA cycles later
assign s_tready = !rst && sr_count != MS_C && rows_abr != RQ_C;
wire a_fire = s_tvalid && s_tready;
wire a_store = a_cnt != DEPTH_C;        // beats beyond DEPTH are accepted and dropped
wire a_write = a_fire && a_store;
wire [ACW-1:0] a_last_idx = a_store ? a_cnt : a_cnt - 1'b1;

// the accepted beat, registered: the lanes that take part in the max (a stored beat's lanes inside the row) and
// what the row's queue entry needs
// (lanes outside the max count as the smallest score)
wire [P-1:0]    a0_lanes = !a_store ? {P{1'b0}} : (s_tlast ? s_tkeep : {P{1'b1}});
wire [P*{{ score_w }}-1:0] a0_leaf;
reg             a1_valid;
reg  [P*{{ score_w }}-1:0] a1_leaf;
reg  [AXW-1:0]  a1_side;

genvar gl;
generate
for (gl = 0; gl < P; gl = gl + 1) begin : g_leaf
    assign a0_leaf[gl*{{ score_w }} +: {{ score_w }}] = a0_lanes[gl] ? s_tdata[gl*{{ score_w }} +: {{ score_w }}] : {{ s_min }};
end
endgenerate                // {first beat of the row, last beat, last beat index, keep}

always @(posedge clk) begin
    if (a_write) begin
        score_mem[a_wptr] <= s_tdata;
    end
    a1_leaf <= a0_leaf;
    a1_side <= {a_cnt == {ACW{1'b0}}, s_tlast, a_last_idx[AW-1:0], a_store ? s_tkeep : {P{1'b1}}};
    if (rst) begin
        a_cnt <= {ACW{1'b0}};
        a_wptr <= {SAW{1'b0}};
        a1_valid <= 1'b0;
    end else begin
        a1_valid <= a_fire;
        if (a_fire) begin
            a_cnt <= s_tlast ? {ACW{1'b0}} : (a_store ? a_cnt + 1'b1 : a_cnt);
        end
        if (a_write) begin
            a_wptr <= (a_wptr == MS_LAST) ? {SAW{1'b0}} : a_wptr + 1'b1;
        end
    end
end

wire            at_valid;
wire [AXW-1:0]  at_side;
wire signed [{{ score_msb }}:0] at_max;
{{ max_tree }}
wire            at_first, at_last;
wire [AW-1:0]   at_idx;
wire [P-1:0]    at_keep;
assign {at_first, at_last, at_idx, at_keep} = at_side;

reg  signed [{{ score_msb }}:0] a_max;
wire signed [{{ score_msb }}:0] a_row_max = (at_first || at_max > a_max) ? at_max : a_max;

always @(posedge clk) begin
    if (at_valid) begin
        a_max <= a_row_max;
    end
    if (at_valid && at_last) begin
        qab_last[qab_wr] <= at_idx;
        qab_keep[qab_wr] <= at_keep;
        qab_max[qab_wr] <= a_row_max;
    end
    if (rst) begin
        qab_wr <= 5'd0;
    end else if (at_valid && at_last) begin
        qab_wr <= qab_wr + 1'b1;
    end
end

/*
 * Phase B: read scores, c_j, EXP, e_j into the e ring, sum S
 */
reg  [AW-1:0]   b_beat;
reg  [SAW-1:0]  b_rptr;
reg  [ECW-1:0]  er_count;               // e ring words reserved (from B's issue to C's read)
reg  [5:0]      rows_bc;                // rows B has issued completely and C has not finished
wire            c_fire, c_last;
assign b_fire = rows_ab != 6'd0 && er_count != ME_C && rows_bc != RQ_C;
assign b_last = b_beat == qab_last[qab_rd];

// stage 1: RAM read (issue); 2: the read word registered (the block RAM's output is slow); 3: c_j registered;
// 4..6: EXP; 7: e_j registered, written into the e ring and summed by the adder tree (KS = {{ sum_stages }} stages)
reg             b1_valid, b2_valid, b3_valid, b4_valid, b5_valid, b6_valid, b7_valid;
reg  [BXW-1:0]  b1_side, b2_side, b3_side, b4_side, b5_side, b6_side;   // {last, mask, last beat index, keep}
reg  signed [{{ score_msb }}:0] b1_max, b2_max;
reg  [P*{{ score_w }}-1:0]  b1_scores, b2_scores;
reg  [P*XW-1:0] b3_c;
reg  [P*EW-1:0] b7_e;
reg  [SXW-1:0]  b7_side;                // {last, last beat index, keep}
reg  [EAW-1:0]  b_eptr;
wire [P*XW-1:0] b2_c;
wire [P*EW-1:0] b6_e;
wire [P-1:0]    b6_mask = b6_side[AW+P +: P];

always @(posedge clk) begin
    if (b_fire) begin
        b1_scores <= score_mem[b_rptr];
    end
    b1_side <= {b_last, b_last ? qab_keep[qab_rd] : {P{1'b1}}, qab_last[qab_rd], qab_keep[qab_rd]};
    b1_max <= qab_max[qab_rd];
    b2_scores <= b1_scores;
    b2_max <= b1_max;
    b3_c <= b2_c;
    {b2_side, b3_side, b4_side, b5_side, b6_side} <= {b1_side, b2_side, b3_side, b4_side, b5_side};
    b7_e <= b6_e;
    b7_side <= {b6_side[BXW-1], b6_side[AW+P-1:0]};
    if (rst) begin
        b_beat <= {AW{1'b0}};
        b_rptr <= {SAW{1'b0}};
        qab_rd <= 5'd0;
        {b1_valid, b2_valid, b3_valid, b4_valid, b5_valid, b6_valid, b7_valid} <= 7'b0;
    end else begin
        {b1_valid, b2_valid, b3_valid, b4_valid, b5_valid, b6_valid, b7_valid} <=
            {b_fire, b1_valid, b2_valid, b3_valid, b4_valid, b5_valid, b6_valid};
        if (b_fire) begin
            b_rptr <= (b_rptr == MS_LAST) ? {SAW{1'b0}} : b_rptr + 1'b1;
            b_beat <= b_last ? {AW{1'b0}} : b_beat + 1'b1;
            if (b_last) begin
                qab_rd <= qab_rd + 1'b1;
            end
        end
    end
end

// ring and queue occupancy: A -> B, B -> C
always @(posedge clk) begin
    if (rst) begin
        sr_count <= {SCW{1'b0}};
        rows_ab <= 6'd0;
        rows_abr <= 6'd0;
        er_count <= {ECW{1'b0}};
        rows_bc <= 6'd0;
    end else begin
        sr_count <= sr_count + { {(SCW-1){1'b0}}, a_write} - { {(SCW-1){1'b0}}, b_fire};
        rows_ab <= rows_ab + {5'd0, at_valid && at_last} - {5'd0, b_fire && b_last};
        rows_abr <= rows_abr + {5'd0, a_fire && s_tlast} - {5'd0, b_fire && b_last};
        er_count <= er_count + { {(ECW-1){1'b0}}, b_fire} - { {(ECW-1){1'b0}}, c_fire};
        rows_bc <= rows_bc + {5'd0, b_fire && b_last} - {5'd0, c_fire && c_last};
    end
end

wire [P*OWE-1:0] exp_out;
wire [P-1:0] exp_valid;

generate
for (gl = 0; gl < P; gl = gl + 1) begin : g_lane
    // d = s - m ({{ d_bits_desc }}, <= 0), c = max(-128, round_shift(d, D_S - D_E))
    wire signed [{{ score_w }}:0] d = {b2_scores[gl*{{ score_w }}+{{ score_msb }}], b2_scores[gl*{{ score_w }} +: {{ score_w }}]} - {b2_max[{{ score_msb }}], b2_max};
{{ c_expr }}
    assign b2_c[gl*XW +: XW] = (c_round < C_MIN) ? -8'sd128 : c_round[7:0];

    {{ exp_module }} u_exp (
        .clk(clk),
        .rst(rst),
        .in_valid(b3_valid),
        .in_data(b3_c[gl*XW +: XW]),
        .out_valid(exp_valid[gl]),
        .out_data(exp_out[gl*OWE +: OWE])
    );

    // e = max(0, EXP(c)); lanes outside the row are 0
    wire [OWE-1:0] x = exp_out[gl*OWE +: OWE];
    assign b6_e[gl*EW +: EW] = (x[OWE-1] || !b6_mask[gl]) ? {EW{1'b0}} : x[EW-1:0];
end
endgenerate

always @(posedge clk) begin
    if (b7_valid) begin
        e_mem[b_eptr] <= b7_e;
    end
    if (rst) begin
        b_eptr <= {EAW{1'b0}};
    end else if (b7_valid) begin
        b_eptr <= (b_eptr == ME_LAST) ? {EAW{1'b0}} : b_eptr + 1'b1;
    end
end

// the beat's sum: an adder tree over the P lanes
wire            bt_valid;
wire [SXW-1:0]  bt_side;
wire [SW-1:0]   bt_sum;
{{ sum_tree }}
wire            bt_last;
wire [AW-1:0]   bt_idx;
wire [P-1:0]    bt_keep;
assign {bt_last, bt_idx, bt_keep} = bt_side;

reg  [SW-1:0] b_acc;
wire [SW-1:0] b_row_sum = b_acc + bt_sum;

/*
 * Phase N: E, f, RECI, r (one row per cycle at most, in row order), then the row joins the B -> C queue
 */
reg             n0_valid;
reg  [SW-1:0]   n0_sum;
reg  [AW-1:0]   n0_idx;
reg  [P-1:0]    n0_keep;

always @(posedge clk) begin
    n0_sum <= b_row_sum;
    n0_idx <= bt_idx;
    n0_keep <= bt_keep;
    if (rst) begin
        b_acc <= {SW{1'b0}};
        n0_valid <= 1'b0;
    end else begin
        n0_valid <= bt_valid && bt_last;
        if (bt_valid) begin
            b_acc <= bt_last ? {SW{1'b0}} : b_row_sum;
        end
    end
end

// stage n1: leading one of S (registered, so that the shift below starts from a register)
reg [LW-1:0] n0_lead;
integer in0;
always @* begin
    n0_lead = {LW{1'b0}};
    for (in0 = 0; in0 < SW; in0 = in0 + 1) begin
        if (n0_sum[in0]) begin
            n0_lead = in0[LW-1:0];
        end
    end
end

reg             n1_valid;
reg  [SW-1:0]   n1_sum;
reg  [LW-1:0]   n1_lead;
reg             n1_zero;
reg  [AW-1:0]   n1_idx;
reg  [P-1:0]    n1_keep;

always @(posedge clk) begin
    n1_sum <= n0_sum;
    n1_lead <= n0_lead;
    n1_zero <= n0_sum == {SW{1'b0}};
    n1_idx <= n0_idx;
    n1_keep <= n0_keep;
    if (rst) begin
        n1_valid <= 1'b0;
    end else begin
        n1_valid <= n0_valid;
    end
end

// stage n2: f = round_shift(S, E - D_R) = round_shift(S * 2^D_R, E): E = 0 passes, else ((u >> (E-1)) + 1) >> 1;
// and C's output shift t = E + T0 as t - 1 and t = 0 (no rounding), so that C needs no adder before its shifter
wire [SW+D_R-1:0] n1_u = {n1_sum, {D_R{1'b0}}};
wire [LW-1:0] n1_sh = n1_lead - 1'b1;
wire [SW+D_R:0] n1_half = {1'b0, n1_u >> n1_sh} + 1'b1;
wire [SW+D_R:0] n1_fw = (n1_lead == {LW{1'b0}}) ? {1'b0, n1_u} : (n1_half >> 1);
wire [YSW-1:0] n1_t = {{ t_expr }};

reg             n2_valid, n3_valid, n4_valid, n5_valid;
reg  [FW-1:0]   n2_f;
reg  [YSW-1:0]  n2_osh, n3_osh, n4_osh, n5_osh;
reg             n2_otz, n3_otz, n4_otz, n5_otz;
reg             n2_zero, n3_zero, n4_zero, n5_zero;
reg  [AW-1:0]   n2_idx, n3_idx, n4_idx, n5_idx;
reg  [P-1:0]    n2_keep, n3_keep, n4_keep, n5_keep;

always @(posedge clk) begin
    n2_f <= n1_fw[FW-1:0];
    n2_osh <= n1_t - 1'b1;
    n2_otz <= n1_t == {YSW{1'b0}};
    {n2_zero, n2_idx, n2_keep} <= {n1_zero, n1_idx, n1_keep};
    {n3_osh, n3_otz, n3_zero, n3_idx, n3_keep} <= {n2_osh, n2_otz, n2_zero, n2_idx, n2_keep};
    {n4_osh, n4_otz, n4_zero, n4_idx, n4_keep} <= {n3_osh, n3_otz, n3_zero, n3_idx, n3_keep};
    {n5_osh, n5_otz, n5_zero, n5_idx, n5_keep} <= {n4_osh, n4_otz, n4_zero, n4_idx, n4_keep};
    if (rst) begin
        {n2_valid, n3_valid, n4_valid, n5_valid} <= 4'b0;
    end else begin
        {n2_valid, n3_valid, n4_valid, n5_valid} <= {n1_valid, n2_valid, n3_valid, n4_valid};
    end
end

wire [OWR-1:0] reci_out;
wire reci_valid;

{{ reci_module }} u_reci (
    .clk(clk),
    .rst(rst),
    .in_valid(n2_valid),
    .in_data({{ f_to_byte }}),
    .out_valid(reci_valid),
    .out_data(reci_out)
);

// r = max(0, RECI(f)); the row (last beat index, keep, shift, r, S = 0) joins the B -> C queue
wire [RW-1:0] n5_r = reci_out[OWR-1] ? {RW{1'b0}} : reci_out[RW-1:0];

reg  [4:0]      qbc_wr, qbc_rd;
reg  [AW-1:0]   qbc_last [0:RQ-1];
reg  [P-1:0]    qbc_keep [0:RQ-1];
reg  [YSW-1:0]  qbc_sh [0:RQ-1];
reg  [RW-1:0]   qbc_r [0:RQ-1];
reg  [RQ-1:0]   qbc_tz;
reg  [RQ-1:0]   qbc_zero;
reg  [5:0]      rows_ready;             // rows in the B -> C queue

always @(posedge clk) begin
    if (n5_valid) begin
        qbc_last[qbc_wr] <= n5_idx;
        qbc_keep[qbc_wr] <= n5_keep;
        qbc_sh[qbc_wr] <= n5_osh;
        qbc_r[qbc_wr] <= n5_r;
        qbc_tz[qbc_wr] <= n5_otz;
        qbc_zero[qbc_wr] <= n5_zero;
    end
    if (rst) begin
        qbc_wr <= 5'd0;
        rows_ready <= 6'd0;
    end else begin
        if (n5_valid) qbc_wr <= qbc_wr + 1'b1;
        rows_ready <= rows_ready + {5'd0, n5_valid} - {5'd0, c_fire && c_last};
    end
end

/*
 * Phase C: y_j = min({{ y_max_dec }}, round_shift(e_j * r, D_OR + E - {{ out_bits }})) through a FQ-entry output FIFO.
 * Stages: 1 RAM read (issue); 2 the read word registered; 3 e_j * r registered; 4 the right shift registered; then
 * the rounding and the clamp into the FIFO. A beat holds a FIFO credit from its issue until it leaves.
 */
reg  [AW-1:0]   c_beat;
reg  [EAW-1:0]  c_rptr;
reg  [3:0]      c_cred;                 // beats issued and not yet popped from the FIFO
assign c_fire = rows_ready != 6'd0 && c_cred != FQ_C;
assign c_last = c_beat == qbc_last[qbc_rd];

reg             c1_valid, c2_valid, c3_valid, c4_valid;
reg  [P*EW-1:0] c1_edata, c2_edata;
reg  [P*PW-1:0] c3_u;
reg  [P*PW-1:0] c4_v;
reg             c1_last, c2_last, c3_last, c4_last;
reg  [P-1:0]    c1_mask, c2_mask, c3_mask, c4_mask;
reg  [RW-1:0]   c1_r, c2_r;
reg  [YSW-1:0]  c1_sh, c2_sh, c3_sh;
reg             c1_tz, c2_tz, c3_tz, c4_tz;
reg             c1_zero, c2_zero, c3_zero, c4_zero;
wire [P*PW-1:0] c2_u;
wire [P*PW-1:0] c3_v;

always @(posedge clk) begin
    if (c_fire) begin
        c1_edata <= e_mem[c_rptr];
    end
    c1_last <= c_last;
    c1_mask <= c_last ? qbc_keep[qbc_rd] : {P{1'b1}};
    c1_r <= qbc_r[qbc_rd];
    c1_sh <= qbc_sh[qbc_rd];
    c1_tz <= qbc_tz[qbc_rd];
    c1_zero <= qbc_zero[qbc_rd];
    {c2_edata, c2_last, c2_mask, c2_r, c2_sh, c2_tz, c2_zero} <= {c1_edata, c1_last, c1_mask, c1_r, c1_sh, c1_tz, c1_zero};
    c3_u <= c2_u;
    {c3_last, c3_mask, c3_sh, c3_tz, c3_zero} <= {c2_last, c2_mask, c2_sh, c2_tz, c2_zero};
    c4_v <= c3_v;
    {c4_last, c4_mask, c4_tz, c4_zero} <= {c3_last, c3_mask, c3_tz, c3_zero};
    if (rst) begin
        c_beat <= {AW{1'b0}};
        c_rptr <= {EAW{1'b0}};
        qbc_rd <= 5'd0;
        {c1_valid, c2_valid, c3_valid, c4_valid} <= 4'b0;
    end else begin
        {c1_valid, c2_valid, c3_valid, c4_valid} <= {c_fire, c1_valid, c2_valid, c3_valid};
        if (c_fire) begin
            c_rptr <= (c_rptr == ME_LAST) ? {EAW{1'b0}} : c_rptr + 1'b1;
            c_beat <= c_last ? {AW{1'b0}} : c_beat + 1'b1;
            if (c_last) begin
                qbc_rd <= qbc_rd + 1'b1;
            end
        end
    end
end

wire [P*{{ out_w }}-1:0] c4_y;

generate
for (gl = 0; gl < P; gl = gl + 1) begin : g_out
    wire [EW-1:0] e = c2_edata[gl*EW +: EW];
    wire [EW+RW-1:0] prod = e * c2_r;
    assign c2_u[gl*PW +: PW] = {{ u_expr }};
    // t = 0: no rounding (v = u); else the rounding right shift by t, as ((u >> (t-1)) + 1) >> 1
    wire [PW-1:0] u = c3_u[gl*PW +: PW];
    assign c3_v[gl*PW +: PW] = c3_tz ? u : (u >> c3_sh);
    wire [PW-1:0] w = c4_v[gl*PW +: PW];
    wire [PW:0] half = {1'b0, w} + 1'b1;
    wire [PW:0] v = c4_tz ? {1'b0, w} : (half >> 1);
    assign c4_y[gl*{{ out_w }} +: {{ out_w }}] = (c4_zero || !c4_mask[gl]) ? {{ y_zero }} :
                             (v > Y_MAX) ? {{ y_top }} : v[{{ out_msb }}:0];
end
endgenerate

// output FIFO
reg  [P*{{ out_w }}-1:0]  q_data [0:FQ-1];
reg  [P-1:0]    q_keep [0:FQ-1];
reg  [FQ-1:0]   q_lastv;
reg  [2:0]      q_rd, q_wr;
reg  [3:0]      q_count;
wire q_pop = m_tvalid && m_tready;

assign m_tvalid = q_count != 4'd0;
assign m_tdata = q_data[q_rd];
assign m_tkeep = q_keep[q_rd];
assign m_tlast = q_lastv[q_rd];

always @(posedge clk) begin
    if (c4_valid) begin
        q_data[q_wr] <= c4_y;
        q_keep[q_wr] <= c4_mask;
        q_lastv[q_wr] <= c4_last;
    end
    if (rst) begin
        q_rd <= 3'd0;
        q_wr <= 3'd0;
        q_count <= 4'd0;
        c_cred <= 4'd0;
    end else begin
        if (c4_valid) q_wr <= q_wr + 1'b1;
        if (q_pop) q_rd <= q_rd + 1'b1;
        q_count <= q_count + {3'b0, c4_valid} - {3'b0, q_pop};
        c_cred <= c_cred + {3'b0, c_fire} - {3'b0, q_pop};
    end
end

// unused: the EXP and RECI valid outputs (the pipelines above track validity with the same latency), the high bits of
// f's wide rounding (f <= 2^(D_R+1) by construction), the top bit of the last beat index (0..DEPTH-1 fits AW bits)
wire _unused = &{1'b0, exp_valid, reci_valid, n1_fw, a_last_idx};

endmodule

`resetall
