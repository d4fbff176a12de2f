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
 *   A  ingest: scores into the score ring (MS = 2*DEPTH = {{ score_words }} words), row max; a complete row
 *      (last beat index, keep, max) enters the A -> B queue
 *   B  read scores, c_j, EXP (P instances, 3 cycles), sum S; e_j into the e ring (ME = 2*DEPTH + {{ e_extra }} = {{ e_words }} words)
 *   N  (after the row's last beat, pipelined) leading one E, f, RECI (one instance, 3 cycles), r; the row enters
 *      the B -> C queue
 *   C  read e_j, y_j = min({{ y_max_dec }}, round_shift(e_j * r, D_OR + E - {{ out_bits }})), 4-entry output FIFO
 * A ring word is freed when it is read, so a ring holds only the words between its writer and its reader; up to
 * RQ = 16 rows wait in each queue. A row longer than DEPTH beats keeps its first DEPTH beats (the rest is accepted
 * and dropped; its output row has DEPTH beats). rst (synchronous, active high) empties every ring, queue and pipeline.
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
localparam MS = {{ score_words }};         // score ring words (2 * DEPTH)
localparam SAW = {{ score_addr_bits }};         // score ring address bits
localparam SCW = {{ score_count_bits }};         // score ring occupancy bits: 0..MS
localparam ME = {{ e_words }};         // e ring words (2 * DEPTH + {{ e_extra }})
localparam EAW = {{ e_addr_bits }};         // e ring address bits
localparam ECW = {{ e_count_bits }};         // e ring occupancy bits: 0..ME
localparam RQ = 16;          // rows in flight per queue (A -> B, B -> C)
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
localparam FQ = 4;           // output FIFO entries
localparam signed [CSW-1:0] C_MIN = {{ c_min }};  // -128
localparam [PW:0] Y_MAX = {{ y_max }};  // {{ y_max_dec }}
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
 * Phase A: ingest scores into the score ring, track the max; a completed row goes into the A -> B row queue
 */
reg  [ACW-1:0]  a_cnt;                  // beats of the current row so far (saturates at DEPTH: later beats dropped)
reg  [SAW-1:0]  a_wptr;
reg  signed [{{ score_msb }}:0] a_max;
reg  [SCW-1:0]  sr_count;               // score ring words in use
reg  [4:0]      rows_ab;                // complete rows waiting for B
reg  [3:0]      qab_wr, qab_rd;
reg  [AW-1:0]   qab_last [0:RQ-1];      // index of the row's last stored beat
reg  [P-1:0]    qab_keep [0:RQ-1];      // valid lanes of that beat
reg  [{{ score_msb }}:0]      qab_max [0:RQ-1];
wire            b_fire, b_last;

assign s_tready = !rst && sr_count != MS_C && rows_ab != 5'd16;
wire a_fire = s_tvalid && s_tready;
wire a_store = a_cnt != DEPTH_C;        // beats beyond DEPTH are accepted and dropped
wire a_write = a_fire && a_store;
wire [P-1:0] a_mask = s_tlast ? s_tkeep : {P{1'b1}};

reg signed [{{ score_msb }}:0] a_beat_max;
integer ia;
always @* begin
    a_beat_max = (a_cnt == {ACW{1'b0}}) ? {{ s_min }} : a_max;
    // the loop variable is assigned on every path, or synth_ecp5 / synth_ice40 (-latches error) see a latch
    ia = 0;
    if (a_store) begin
        for (ia = 0; ia < P; ia = ia + 1) begin
            if (a_mask[ia] && $signed(s_tdata[ia*{{ score_w }} +: {{ score_w }}]) > a_beat_max) begin
                a_beat_max = $signed(s_tdata[ia*{{ score_w }} +: {{ score_w }}]);
            end
        end
    end
end
wire [ACW-1:0] a_last_idx = a_store ? a_cnt : a_cnt - 1'b1;

always @(posedge clk) begin
    if (a_write) begin
        score_mem[a_wptr] <= s_tdata;
    end
    if (a_fire) begin
        a_max <= a_beat_max;
    end
    if (a_fire && s_tlast) begin
        qab_last[qab_wr] <= a_last_idx[AW-1:0];
        qab_keep[qab_wr] <= a_store ? s_tkeep : {P{1'b1}};
        qab_max[qab_wr] <= a_beat_max;
    end
    if (rst) begin
        a_cnt <= {ACW{1'b0}};
        a_wptr <= {SAW{1'b0}};
        qab_wr <= 4'd0;
    end else begin
        if (a_fire) begin
            a_cnt <= s_tlast ? {ACW{1'b0}} : (a_store ? a_cnt + 1'b1 : a_cnt);
        end
        if (a_write) begin
            a_wptr <= (a_wptr == MS_LAST) ? {SAW{1'b0}} : a_wptr + 1'b1;
        end
        if (a_fire && s_tlast) begin
            qab_wr <= qab_wr + 1'b1;
        end
    end
end

/*
 * Phase B: read scores, c_j, EXP, sum S, write e_j into the e ring
 */
reg  [AW-1:0]   b_beat;
reg  [SAW-1:0]  b_rptr;
reg  [ECW-1:0]  er_count;               // e ring words reserved (from B's issue to C's read)
reg  [4:0]      rows_bc;                // rows B has issued completely and C has not finished
wire            c_fire, c_last;
assign b_fire = rows_ab != 5'd0 && er_count != ME_C && rows_bc != 5'd16;
assign b_last = b_beat == qab_last[qab_rd];

// stage 1: RAM read (issue), stages 2..4: EXP, then accumulate and write
reg             b1_valid, b2_valid, b3_valid, b4_valid;
reg             b1_last, b2_last, b3_last, b4_last;
reg  [P-1:0]    b1_mask, b2_mask, b3_mask, b4_mask;
reg  [AW-1:0]   b1_idx, b2_idx, b3_idx, b4_idx;     // the row's last beat index (travels with the row)
reg  [P-1:0]    b1_keep, b2_keep, b3_keep, b4_keep;
reg  signed [{{ score_msb }}:0] b1_max;
reg  [P*{{ score_w }}-1:0]  b1_scores;
reg  [EAW-1:0]  b_eptr;

always @(posedge clk) begin
    if (b_fire) begin
        b1_scores <= score_mem[b_rptr];
    end
    b1_last <= b_last;
    b1_mask <= b_last ? qab_keep[qab_rd] : {P{1'b1}};
    b1_idx <= qab_last[qab_rd];
    b1_keep <= qab_keep[qab_rd];
    b1_max <= qab_max[qab_rd];
    {b2_last, b2_mask, b2_idx, b2_keep} <= {b1_last, b1_mask, b1_idx, b1_keep};
    {b3_last, b3_mask, b3_idx, b3_keep} <= {b2_last, b2_mask, b2_idx, b2_keep};
    {b4_last, b4_mask, b4_idx, b4_keep} <= {b3_last, b3_mask, b3_idx, b3_keep};
    if (rst) begin
        b_beat <= {AW{1'b0}};
        b_rptr <= {SAW{1'b0}};
        qab_rd <= 4'd0;
        {b1_valid, b2_valid, b3_valid, b4_valid} <= 4'b0;
    end else begin
        {b1_valid, b2_valid, b3_valid, b4_valid} <= {b_fire, b1_valid, b2_valid, b3_valid};
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
        rows_ab <= 5'd0;
        er_count <= {ECW{1'b0}};
        rows_bc <= 5'd0;
    end else begin
        sr_count <= sr_count + { {(SCW-1){1'b0}}, a_write} - { {(SCW-1){1'b0}}, b_fire};
        rows_ab <= rows_ab + {4'd0, a_fire && s_tlast} - {4'd0, b_fire && b_last};
        er_count <= er_count + { {(ECW-1){1'b0}}, b_fire} - { {(ECW-1){1'b0}}, c_fire};
        rows_bc <= rows_bc + {4'd0, b_fire && b_last} - {4'd0, c_fire && c_last};
    end
end

wire [P*OWE-1:0] exp_out;
wire [P-1:0] exp_valid;
wire [P*EW-1:0] b4_e;

genvar gl;
generate
for (gl = 0; gl < P; gl = gl + 1) begin : g_lane
    // d = s - m ({{ d_bits_desc }}, <= 0), c = max(-128, round_shift(d, D_S - D_E))
    wire signed [{{ score_w }}:0] d = {b1_scores[gl*{{ score_w }}+{{ score_msb }}], b1_scores[gl*{{ score_w }} +: {{ score_w }}]} - {b1_max[{{ score_msb }}], b1_max};
{{ c_expr }}
    wire signed [7:0] c = (c_round < C_MIN) ? -8'sd128 : c_round[7:0];

    {{ exp_module }} u_exp (
        .clk(clk),
        .rst(rst),
        .in_valid(b1_valid),
        .in_data(c),
        .out_valid(exp_valid[gl]),
        .out_data(exp_out[gl*OWE +: OWE])
    );

    // e = max(0, EXP(c)); lanes outside the row are 0
    wire [OWE-1:0] x = exp_out[gl*OWE +: OWE];
    assign b4_e[gl*EW +: EW] = (x[OWE-1] || !b4_mask[gl]) ? {EW{1'b0}} : x[EW-1:0];
end
endgenerate

reg [SW-1:0] b4_beat_sum;
integer ib;
always @* begin
    b4_beat_sum = {SW{1'b0}};
    for (ib = 0; ib < P; ib = ib + 1) begin
        b4_beat_sum = b4_beat_sum + { {(SW-EW){1'b0}}, b4_e[ib*EW +: EW]};
    end
end

reg  [SW-1:0] b_acc;
wire [SW-1:0] b_row_sum = b_acc + b4_beat_sum;

always @(posedge clk) begin
    if (b4_valid) begin
        e_mem[b_eptr] <= b4_e;
    end
    if (rst) begin
        b_eptr <= {EAW{1'b0}};
    end else if (b4_valid) begin
        b_eptr <= (b_eptr == ME_LAST) ? {EAW{1'b0}} : b_eptr + 1'b1;
    end
end

/*
 * Phase N: E, f, RECI, r (one row per cycle at most, in row order), then the row joins the B -> C queue
 */
reg             n0_valid;
reg  [SW-1:0]   n0_sum;
reg  [AW-1:0]   n0_idx;
reg  [P-1:0]    n0_keep;

always @(posedge clk) begin
    n0_sum <= b_row_sum;
    n0_idx <= b4_idx;
    n0_keep <= b4_keep;
    if (rst) begin
        b_acc <= {SW{1'b0}};
        n0_valid <= 1'b0;
    end else begin
        n0_valid <= b4_valid && b4_last;
        if (b4_valid) begin
            b_acc <= b4_last ? {SW{1'b0}} : b_row_sum;
        end
    end
end

// leading one of S
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

// f = round_shift(S, E - D_R) = round_shift(S * 2^D_R, E): E = 0 passes, else ((u >> (E-1)) + 1) >> 1
wire [SW+D_R-1:0] n0_u = {n0_sum, {D_R{1'b0}}};
wire [LW-1:0] n0_sh = n0_lead - 1'b1;
wire [SW+D_R:0] n0_half = {1'b0, n0_u >> n0_sh} + 1'b1;
wire [SW+D_R:0] n0_fw = (n0_lead == {LW{1'b0}}) ? {1'b0, n0_u} : (n0_half >> 1);
wire [FW-1:0] n0_f = n0_fw[FW-1:0];

reg             n1_valid, n2_valid, n3_valid, n4_valid;
reg  [LW-1:0]   n1_lead, n2_lead, n3_lead, n4_lead;
reg             n1_zero, n2_zero, n3_zero, n4_zero;
reg  [AW-1:0]   n1_idx, n2_idx, n3_idx, n4_idx;
reg  [P-1:0]    n1_keep, n2_keep, n3_keep, n4_keep;
reg  [FW-1:0]   n1_f;

always @(posedge clk) begin
    n1_lead <= n0_lead;
    n1_zero <= n0_sum == {SW{1'b0}};
    n1_idx <= n0_idx;
    n1_keep <= n0_keep;
    n1_f <= n0_f;
    {n2_lead, n2_zero, n2_idx, n2_keep} <= {n1_lead, n1_zero, n1_idx, n1_keep};
    {n3_lead, n3_zero, n3_idx, n3_keep} <= {n2_lead, n2_zero, n2_idx, n2_keep};
    {n4_lead, n4_zero, n4_idx, n4_keep} <= {n3_lead, n3_zero, n3_idx, n3_keep};
    if (rst) begin
        {n1_valid, n2_valid, n3_valid, n4_valid} <= 4'b0;
    end else begin
        {n1_valid, n2_valid, n3_valid, n4_valid} <= {n0_valid, n1_valid, n2_valid, n3_valid};
    end
end

wire [OWR-1:0] reci_out;
wire reci_valid;

{{ reci_module }} u_reci (
    .clk(clk),
    .rst(rst),
    .in_valid(n1_valid),
    .in_data({{ f_to_byte }}),
    .out_valid(reci_valid),
    .out_data(reci_out)
);

// r = max(0, RECI(f)); the row (last beat index, keep, E, r, S = 0) joins the B -> C queue
wire [RW-1:0] n4_r = reci_out[OWR-1] ? {RW{1'b0}} : reci_out[RW-1:0];

reg  [3:0]      qbc_wr, qbc_rd;
reg  [AW-1:0]   qbc_last [0:RQ-1];
reg  [P-1:0]    qbc_keep [0:RQ-1];
reg  [LW-1:0]   qbc_e [0:RQ-1];
reg  [RW-1:0]   qbc_r [0:RQ-1];
reg  [RQ-1:0]   qbc_zero;
reg  [4:0]      rows_ready;             // rows in the B -> C queue

always @(posedge clk) begin
    if (n4_valid) begin
        qbc_last[qbc_wr] <= n4_idx;
        qbc_keep[qbc_wr] <= n4_keep;
        qbc_e[qbc_wr] <= n4_lead;
        qbc_r[qbc_wr] <= n4_r;
        qbc_zero[qbc_wr] <= n4_zero;
    end
    if (rst) begin
        qbc_wr <= 4'd0;
        rows_ready <= 5'd0;
    end else begin
        if (n4_valid) qbc_wr <= qbc_wr + 1'b1;
        rows_ready <= rows_ready + {4'd0, n4_valid} - {4'd0, c_fire && c_last};
    end
end

/*
 * Phase C: y_j = min({{ y_max_dec }}, round_shift(e_j * r, D_OR + E - {{ out_bits }})) through a FQ-entry output FIFO
 */
reg  [AW-1:0]   c_beat;
reg  [EAW-1:0]  c_rptr;
reg  [2:0]      q_count;
reg             c1_valid;
wire c_room = ({1'b0, q_count} + {3'b0, c1_valid}) < 4'd4;
assign c_fire = rows_ready != 5'd0 && c_room;
assign c_last = c_beat == qbc_last[qbc_rd];

reg  [P*EW-1:0] c1_edata;
reg             c1_last;
reg  [P-1:0]    c1_mask;
reg  [LW-1:0]   c1_e;
reg  [RW-1:0]   c1_r;
reg             c1_zero;

always @(posedge clk) begin
    if (c_fire) begin
        c1_edata <= e_mem[c_rptr];
    end
    c1_last <= c_last;
    c1_mask <= c_last ? qbc_keep[qbc_rd] : {P{1'b1}};
    c1_e <= qbc_e[qbc_rd];
    c1_r <= qbc_r[qbc_rd];
    c1_zero <= qbc_zero[qbc_rd];
    if (rst) begin
        c_beat <= {AW{1'b0}};
        c_rptr <= {EAW{1'b0}};
        qbc_rd <= 4'd0;
        c1_valid <= 1'b0;
    end else begin
        c1_valid <= c_fire;
        if (c_fire) begin
            c_rptr <= (c_rptr == ME_LAST) ? {EAW{1'b0}} : c_rptr + 1'b1;
            c_beat <= c_last ? {AW{1'b0}} : c_beat + 1'b1;
            if (c_last) begin
                qbc_rd <= qbc_rd + 1'b1;
            end
        end
    end
end

wire [P*{{ out_w }}-1:0] c1_y;
wire [YSW-1:0] c1_t = {{ t_expr }};
wire [YSW-1:0] c1_sh = c1_t - 1'b1;

generate
for (gl = 0; gl < P; gl = gl + 1) begin : g_out
    wire [EW-1:0] e = c1_edata[gl*EW +: EW];
    wire [EW+RW-1:0] prod = e * c1_r;
    wire [PW-1:0] u = {{ u_expr }};
    wire [PW:0] half = {1'b0, u >> c1_sh} + 1'b1;
    wire [PW:0] v = (c1_t == {YSW{1'b0}}) ? {1'b0, u} : (half >> 1);
    assign c1_y[gl*{{ out_w }} +: {{ out_w }}] = (c1_zero || !c1_mask[gl]) ? {{ y_zero }} :
                             (v > Y_MAX) ? {{ y_top }} : v[{{ out_msb }}:0];
end
endgenerate

// output FIFO
reg  [P*{{ out_w }}-1:0]  q_data [0:FQ-1];
reg  [P-1:0]    q_keep [0:FQ-1];
reg  [FQ-1:0]   q_lastv;
reg  [1:0]      q_rd, q_wr;
wire q_pop = m_tvalid && m_tready;

assign m_tvalid = q_count != 3'd0;
assign m_tdata = q_data[q_rd];
assign m_tkeep = q_keep[q_rd];
assign m_tlast = q_lastv[q_rd];

always @(posedge clk) begin
    if (c1_valid) begin
        q_data[q_wr] <= c1_y;
        q_keep[q_wr] <= c1_mask;
        q_lastv[q_wr] <= c1_last;
    end
    if (rst) begin
        q_rd <= 2'd0;
        q_wr <= 2'd0;
        q_count <= 3'd0;
    end else begin
        if (c1_valid) q_wr <= q_wr + 1'b1;
        if (q_pop) q_rd <= q_rd + 1'b1;
        q_count <= q_count + {2'b0, c1_valid} - {2'b0, q_pop};
    end
end

// unused: the EXP and RECI valid outputs (the pipelines above track validity with the same latency), the high bits of
// f's wide rounding (f <= 2^(D_R+1) by construction), the top bit of the last beat index (0..DEPTH-1 fits AW bits)
wire _unused = &{1'b0, exp_valid, reci_valid, n0_fw, a_last_idx};

endmodule

`resetall
