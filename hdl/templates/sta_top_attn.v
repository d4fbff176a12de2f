{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Attention engine (docs/accelerator.md "Attention"): one sentence (tokens s0 ... s0 + len - 1, s0 a multiple of
 * B), one head h, Q, K, V -> Ctx. For each query tile q (queries i0 = s0 + qB ... i0 + B - 1):
 *
 *   1. scores: for each key tile kt (keys j0 = s0 + kt*B ...), DH/N dense beats; beat b: row r = query i0 + r
 *      (Q bank r), column c = key j0 + c (K bank c), lanes s < N = channel h*DH + bN + s (N-byte slice of the word
 *      (i0/B)*(D/M) + (h*DH + bN)/M, the same address in every bank). Each result beat (query r, keys j0 ...) goes
 *      through the epilogue as REQS (bias 0, the score scale) into the score RAM, word r*(T_MAX/B) + kt.
 *   2. softmax: once the tile's last score is written, each query row r < len - qB is read from the score RAM,
 *      P scores per beat (keys kP ...; the last beat's keep covers len), into the softmax unit; its output beats go
 *      to probability bank r, word k.
 *   3. context: once the last row's probabilities are written, for each channel tile ct (channels h*DH + ct*B ...),
 *      ceil(len/N) dense beats; beat b: row r = channel (V bank r, keys s0 + bN + s: the N-byte slice of word
 *      (channel/B)*(T_MAX/B) + (s0 + bN)/B), column c = query i0 + c (probability bank c, word bN/P, lanes
 *      (bN mod P) ...). Keys past len need no mask: their probabilities are 0, because the beats stop at key
 *      ceil(len/N)*N <= ceil(len/P)*P (N divides P), inside the row's last softmax beat, whose lanes past the row
 *      the softmax unit sets to 0 (and V there is any finite INT8). Each result beat (one channel, B queries) is requantised (REQ8,
 *      bias 0, the context scale) into Ctx: byte (channel mod M) of word (i0/B)*(D/M) + channel/M, in the banks
 *      of the queries < len only (rows past the sentence compute garbage that is never written).
 *
 * The issue side (PE-array beats), the result side (PE-array results), the softmax feeder and the probability
 * writer are four small counters that follow this order. Phase 1 of tile q + 1 is issued right after phase 3 of
 * tile q (the array overlaps the two; their results come back in order); phase 2 waits for the tile's last score
 * and phase 3 for its last probability row, so the score RAM and the probability banks hold one tile at a time.
 * As in the GEMM engine, the RAMs' read registers are the stage in front of the PE array and of the softmax unit.
 */
module {{ name }}
(
    input  wire              clk,
    input  wire              rst,

    /*
     * The instruction and the attention scales (SET_ATTN fields [49:8])
     */
    input  wire [63:0]       cmd,
    input  wire [41:0]       cmd_scales,
    input  wire              start,
    output wire              idle,

    /*
     * Q, K, V reads (every bank at one address)
     */
    output wire              q_re,
    output wire [{{ l.aw - 1 }}:0]       q_raddr,
    input  wire [{{ l.b * l.m * 8 - 1 }}:0]     q_rdata,
    output wire              k_re,
    output wire [{{ l.aw - 1 }}:0]       k_raddr,
    input  wire [{{ l.b * l.m * 8 - 1 }}:0]     k_rdata,
    output wire              v_re,
    output wire [{{ l.aw - 1 }}:0]       v_raddr,
    input  wire [{{ l.b * l.b * 8 - 1 }}:0]     v_rdata,

    /*
     * Score RAM (read; the epilogue's output side writes it) and probability banks
     */
    output wire              sc_re,
    output wire [{{ l.aw_sc - 1 }}:0]       sc_raddr,
    input  wire [{{ l.b * 16 - 1 }}:0]      sc_rdata,
    output wire              pr_re,
    output wire [{{ l.aw_pr - 1 }}:0]       pr_raddr,
    input  wire [{{ l.b * l.p * 7 - 1 }}:0]     pr_rdata,
    output wire [{{ l.b - 1 }}:0]        pr_we,         // one bank: the query row
    output wire [{{ l.aw_pr - 1 }}:0]       pr_waddr,
    output wire [{{ l.p * 7 - 1 }}:0]       pr_wdata,

    /*
     * Softmax unit
     */
    output wire [{{ l.p * 16 - 1 }}:0]      sm_tdata,
    output wire [{{ l.p - 1 }}:0]        sm_tkeep,
    output wire              sm_tlast,
    output wire              sm_tvalid,
    input  wire              sm_tready,
    input  wire [{{ l.p * 7 - 1 }}:0]       smo_tdata,
    input  wire              smo_tlast,
    input  wire              smo_tvalid,

    /*
     * PE array (dense beats)
     */
    output wire [{{ l.b * l.n * 8 - 1 }}:0]      w_data,
    output wire              w_last,
    output wire              w_valid,
    input  wire              w_ready,
    output wire [{{ l.b * l.m * 8 - 1 }}:0]     a_data,
    input  wire              y_valid,
    input  wire [{{ l.b * 32 - 1 }}:0]     y_data,

    /*
     * To the epilogue (bias, rshift, gsel and skip are 0), and the writes done
     */
    output wire              ep_valid,
    output wire [1:0]        ep_mode,
    output wire [{{ l.b * 32 - 1 }}:0]     ep_acc,
    output wire [14:0]       ep_mult,
    output wire [5:0]        ep_shift,
    output wire [{{ l.mw - 1 }}:0]       ep_meta,
    input  wire              wb_valid,
    input  wire [{{ l.mw - 1 }}:0]       wb_meta
);

{{ meta_params }}
localparam [2:0] BUF_CTX = 3'd4;
localparam [{{ l.aw - 1 }}:0] GD = {{ l.aw }}'d{{ l.gd }};            // Q/K/Ctx words per token
localparam [{{ l.aw - 1 }}:0] TT = {{ l.aw }}'d{{ l.tt }};            // V words per channel (T_MAX / B)
localparam [{{ l.aw - 1 }}:0] DH_M = {{ l.aw }}'d{{ l.dh / l.m }};          // words per token of one head
localparam [{{ l.aw - 1 }}:0] DH_B_TT = {{ l.aw }}'d{{ l.dh / l.b * l.tt }};       // V words of one head
localparam [12:0] DH = 13'd{{ l.dh }};
localparam [12:0] NBQ_LAST = 13'd{{ l.dh / l.n - 1 }};    // score beats per tile - 1
localparam [{{ l.ctw - 1 }}:0] NCT_LAST = {{ l.ctw }}'d{{ l.dh / l.b - 1 }};    // channel tiles per head - 1
localparam [{{ l.lb - 1 }}:0] ROW_LAST = {{ l.lb }}'d{{ l.b - 1 }};
localparam [{{ l.aw_sc - 1 }}:0] TT_S = {{ l.aw_sc }}'d{{ l.tt }};          // score words per query row
localparam [{{ l.subw - 1 }}:0] SUB_LAST = {{ l.subw }}'d{{ l.m / l.n - 1 }};     // N-byte slices of a Q/K word - 1
localparam [{{ l.subvw - 1 }}:0] SUBV_LAST = {{ l.subvw }}'d{{ l.b / l.n - 1 }};    // ... of a V word - 1
localparam [{{ l.subpw - 1 }}:0] SUBP_LAST = {{ l.subpw }}'d{{ l.p / l.n - 1 }};    // N-lane slices of a probability word - 1
localparam [{{ l.fsubw - 1 }}:0] FSUB_LAST = {{ l.fsubw }}'d{{ l.b / l.p - 1 }};    // P-lane slices of a score word - 1

/*
 * The instruction, latched at start
 */
wire [7:0]  c_h = cmd[15:8];
wire [12:0] c_s0 = cmd[28:16];
wire [{{ l.aw - 1 }}:0] c_s0_blk = { {{ "{" }}{{ l.aw - 13 }}{1'b0}}, c_s0 >> {{ l.lb }}};
wire [{{ l.aw - 1 }}:0] c_h_a = { {{ "{" }}{{ l.aw - 8 }}{1'b0}}, c_h};

reg  [12:0] a_len;
reg  [14:0] a_ms, a_mc;
reg  [5:0]  a_ss, a_sc;
reg  [{{ l.aw - 1 }}:0] a_qk0;            // (s0 / B) * D/M: the sentence's first row in Q, K, Ctx
reg  [{{ l.aw - 1 }}:0] a_hw;             // h * DH/M: the head's first word in a row
reg  [{{ l.aw - 1 }}:0] a_v0;             // h * DH/B * T_MAX/B + s0/B: the head's first V word
reg  [12:0] a_hch;            // h * DH: the head's first channel

always @(posedge clk) begin
    if (start) begin
        a_len <= cmd[41:29];
        a_ms <= cmd_scales[14:0];
        a_ss <= cmd_scales[20:15];
        a_mc <= cmd_scales[35:21];
        a_sc <= cmd_scales[41:36];
        a_qk0 <= c_s0_blk * GD;
        a_hw <= c_h_a * DH_M;
        a_v0 <= c_h_a * DH_B_TT + c_s0_blk;
        a_hch <= {5'd0, c_h} * DH;
    end
end

wire [12:0] len_m1 = a_len - 13'd1;
wire [12:0] nt_last = len_m1 >> {{ l.lb }};          // query (= key) tiles - 1
wire [{{ l.lb - 1 }}:0] tail_row = len_m1[{{ l.lb - 1 }}:0];   // rows of the last query tile - 1
wire [12:0] nsm_last = len_m1 >> {{ l.lp }};         // softmax beats per row - 1
wire [12:0] nbv_last = len_m1 >> {{ l.lnn }};         // context beats per channel tile - 1
{{ keep_logic }}

/*
 * Issue side
 */
localparam [2:0] I_IDLE = 3'd0;   // no instruction
localparam [2:0] I_SCORE = 3'd1;  // issuing score beats of query tile iq
localparam [2:0] I_WAITP = 3'd2;  // waiting for the tile's probabilities
localparam [2:0] I_CTX = 3'd3;    // issuing context beats of query tile iq
localparam [2:0] I_TAIL = 3'd4;   // everything issued: waiting for the last context write

reg  [2:0]  i_st;
reg  [12:0] iq;               // query tile
reg  [12:0] ikt;              // key tile (scores)
reg  [{{ l.ctw - 1 }}:0] ict;              // channel tile (context)
reg  [12:0] ib;               // beat of the tile
reg  [{{ l.aw - 1 }}:0] iq_base;          // a_qk0 + iq * D/M
reg  [{{ l.aw - 1 }}:0] ik_base;          // a_qk0 + ikt * D/M
reg  [{{ l.aw - 1 }}:0] i_w;              // scores: word of the beat within the head
reg  [{{ l.subw - 1 }}:0] i_sub;
reg  [{{ l.aw - 1 }}:0] iv_base;          // a_v0 + ict * T_MAX/B
reg  [{{ l.aw - 1 }}:0] i_vw;             // context: V word (keys s0 + bN ...) within the channel
reg  [{{ l.subvw - 1 }}:0] i_subv;
reg  [{{ l.aw_pr - 1 }}:0] i_pw;             // context: probability word bN / P
reg  [{{ l.subpw - 1 }}:0] i_subp;
reg         probs_ready;      // the probabilities of tile iq are all written

reg         st_valid;
reg         st_ctx;
reg         st_last;
reg  [{{ l.subw - 1 }}:0] st_sub;
reg  [{{ l.subvw - 1 }}:0] st_subv;
reg  [{{ l.subpw - 1 }}:0] st_subp;

wire w_fire = st_valid && w_ready;
wire i_issuing = i_st == I_SCORE || i_st == I_CTX;
wire issue = i_issuing && (!st_valid || w_fire);
wire i_score = i_st == I_SCORE;
wire i_tile_end = ib == (i_score ? NBQ_LAST : nbv_last);

assign q_re = issue && i_score;
assign k_re = issue && i_score;
assign q_raddr = iq_base + a_hw + i_w;
assign k_raddr = ik_base + a_hw + i_w;
assign v_re = issue && !i_score;
assign v_raddr = iv_base + i_vw;
assign pr_re = issue && !i_score;
assign pr_raddr = i_pw;
assign idle = i_st == I_IDLE;

wire ev_ctx_last = wb_valid && wb_meta[M_EVC];
wire ev_score_last = wb_valid && wb_meta[M_EVS];
wire probs_done;

always @(posedge clk) begin
    if (rst) begin
        i_st <= I_IDLE;
        st_valid <= 1'b0;
        probs_ready <= 1'b0;
    end else begin
        if (issue) begin
            st_valid <= 1'b1;
        end else if (w_fire) begin
            st_valid <= 1'b0;
        end
        if (probs_done) begin
            probs_ready <= 1'b1;
        end
        case (i_st)
            I_IDLE: if (start) i_st <= I_SCORE;
            I_SCORE: if (issue && i_tile_end && ikt == nt_last) i_st <= I_WAITP;
            I_WAITP: if (probs_ready) begin
                i_st <= I_CTX;
                probs_ready <= 1'b0;
            end
            I_CTX: if (issue && i_tile_end && ict == NCT_LAST) i_st <= (iq == nt_last) ? I_TAIL : I_SCORE;
            I_TAIL: if (ev_ctx_last) i_st <= I_IDLE;
            default: i_st <= I_IDLE;
        endcase
    end
end

always @(posedge clk) begin
    if (start) begin
        iq <= 13'd0;
        ikt <= 13'd0;
        ib <= 13'd0;
        iq_base <= c_s0_blk * GD;
        ik_base <= c_s0_blk * GD;
        i_w <= {{ l.aw }}'d0;
        i_sub <= {{ l.subw }}'d0;
    end else if (i_st == I_WAITP) begin
        // context beats of tile iq: from channel tile 0, key 0
        ict <= {{ l.ctw }}'d0;
        ib <= 13'd0;
        iv_base <= a_v0;
        i_vw <= {{ l.aw }}'d0;
        i_subv <= {{ l.subvw }}'d0;
        i_pw <= {{ l.aw_pr }}'d0;
        i_subp <= {{ l.subpw }}'d0;
    end else if (issue && i_score) begin
        if (i_tile_end) begin
            ib <= 13'd0;
            i_w <= {{ l.aw }}'d0;
            i_sub <= {{ l.subw }}'d0;
            ikt <= ikt + 13'd1;
            ik_base <= ik_base + GD;
        end else begin
            ib <= ib + 13'd1;
            if (i_sub == SUB_LAST) begin
                i_sub <= {{ l.subw }}'d0;
                i_w <= i_w + {{ l.aw }}'d1;
            end else begin
                i_sub <= i_sub + {{ l.subw }}'d1;
            end
        end
    end else if (issue) begin
        if (i_tile_end) begin
            ib <= 13'd0;
            i_vw <= {{ l.aw }}'d0;
            i_subv <= {{ l.subvw }}'d0;
            i_pw <= {{ l.aw_pr }}'d0;
            i_subp <= {{ l.subpw }}'d0;
            ict <= ict + {{ l.ctw }}'d1;
            iv_base <= iv_base + TT;
            if (ict == NCT_LAST) begin
                // the next query tile's scores
                iq <= iq + 13'd1;
                iq_base <= iq_base + GD;
                ikt <= 13'd0;
                ik_base <= a_qk0;
            end
        end else begin
            ib <= ib + 13'd1;
            if (i_subv == SUBV_LAST) begin
                i_subv <= {{ l.subvw }}'d0;
                i_vw <= i_vw + {{ l.aw }}'d1;
            end else begin
                i_subv <= i_subv + {{ l.subvw }}'d1;
            end
            if (i_subp == SUBP_LAST) begin
                i_subp <= {{ l.subpw }}'d0;
                i_pw <= i_pw + {{ l.aw_pr }}'d1;
            end else begin
                i_subp <= i_subp + {{ l.subpw }}'d1;
            end
        end
    end
    if (issue) begin
        st_ctx <= !i_score;
        st_last <= i_tile_end;
        st_sub <= i_sub;
        st_subv <= i_subv;
        st_subp <= i_subp;
    end
end

assign w_valid = st_valid;
assign w_last = st_last;

genvar gr, gs;

generate
    for (gr = 0; gr < {{ l.b }}; gr = gr + 1) begin : g_row
        wire [{{ l.m * 8 - 1 }}:0] qword = q_rdata[gr*{{ l.m * 8 }} +: {{ l.m * 8 }}];
        wire [{{ l.b * 8 - 1 }}:0] vword = v_rdata[gr*{{ l.b * 8 }} +: {{ l.b * 8 }}];
        assign w_data[gr*{{ l.n * 8 }} +: {{ l.n * 8 }}] = st_ctx ? vword[st_subv*{{ l.n * 8 }} +: {{ l.n * 8 }}] : qword[st_sub*{{ l.n * 8 }} +: {{ l.n * 8 }}];
    end
    for (gr = 0; gr < {{ l.b }}; gr = gr + 1) begin : g_col
        wire [{{ l.m * 8 - 1 }}:0] kword = k_rdata[gr*{{ l.m * 8 }} +: {{ l.m * 8 }}];
        wire [{{ l.n * 8 - 1 }}:0] kslice = kword[st_sub*{{ l.n * 8 }} +: {{ l.n * 8 }}];
        wire [{{ l.p * 7 - 1 }}:0] pword = pr_rdata[gr*{{ l.p * 7 }} +: {{ l.p * 7 }}];
        wire [{{ l.n * 7 - 1 }}:0] pslice = pword[st_subp*{{ l.n * 7 }} +: {{ l.n * 7 }}];
        wire [{{ l.n * 8 - 1 }}:0] lanes;
        for (gs = 0; gs < {{ l.n }}; gs = gs + 1) begin : g_lane
            assign lanes[gs*8 +: 8] = st_ctx ? {1'b0, pslice[gs*7 +: 7]} : kslice[gs*8 +: 8];
        end
{%- if l.m > l.n %}
        assign a_data[gr*{{ l.m * 8 }} +: {{ l.m * 8 }}] = { {{ "{" }}{{ (l.m - l.n) * 8 }}{1'b0}}, lanes};
{%- else %}
        assign a_data[gr*{{ l.m * 8 }} +: {{ l.m * 8 }}] = lanes;
{%- endif %}
    end
endgenerate

/*
 * Result side
 */
reg         r_ctx;            // 0: score tiles of query tile rq, 1: its context tiles
reg  [12:0] rq;
reg  [12:0] rkt;
reg  [{{ l.ctw - 1 }}:0] rct;
reg  [{{ l.lb - 1 }}:0] r_row;
reg  [{{ l.aw_sc - 1 }}:0] r_saddr;          // scores: r_row * T_MAX/B + rkt
reg  [{{ l.aw - 1 }}:0] r_qbase;          // context: a_qk0 + rq * D/M
reg  [12:0] r_ch;             // context: the row's channel, h*DH + rct*B + r_row

wire        r_row_end = r_row == ROW_LAST;
wire        r_last_q = rq == nt_last;
wire        r_evs = !r_ctx && r_row_end && rkt == nt_last;
wire        r_evc = r_ctx && r_row_end && rct == NCT_LAST && r_last_q;
// the banks of the last query tile's queries: 0 ... tail_row
wire [{{ l.b - 1 }}:0] tail_banks = { {{ l.b }}{1'b1} } >> (~tail_row);

wire [{{ l.aw - 1 }}:0] r_ch_word = { {{ "{" }}{{ l.aw - 13 }}{1'b0}}, r_ch} >> {{ l.iw }};
wire [{{ l.aw - 1 }}:0] r_addr = r_ctx ? r_qbase + r_ch_word : { {{ "{" }}{{ l.aw - l.aw_sc }}{1'b0}}, r_saddr};
wire [{{ l.b - 1 }}:0] r_banks = (r_ctx && r_last_q) ? tail_banks : { {{ l.b }}{1'b1} };
wire [{{ l.iw - 1 }}:0] r_byte = r_ch[{{ l.iw - 1 }}:0];
wire [2:0]  r_tgt = r_ctx ? TGT_INT8 : TGT_SCORE;
wire [{{ l.mw - 1 }}:0] r_meta = {r_addr, r_banks, r_byte, r_tgt, 1'b0, 3'd0, BUF_CTX, 1'b0, r_evc, r_evs, 1'b0};

always @(posedge clk) begin
    if (start) begin
        r_ctx <= 1'b0;
        rq <= 13'd0;
        rkt <= 13'd0;
        r_row <= {{ l.lb }}'d0;
        r_saddr <= {{ l.aw_sc }}'d0;
        r_qbase <= c_s0_blk * GD;
    end else if (y_valid) begin
        r_row <= r_row + {{ l.lb }}'d1;
        if (!r_ctx) begin
            r_saddr <= r_saddr + TT_S;
            if (r_row_end) begin
                if (rkt == nt_last) begin
                    r_ctx <= 1'b1;
                    rct <= {{ l.ctw }}'d0;
                    r_ch <= a_hch;
                end else begin
                    rkt <= rkt + 13'd1;
                    r_saddr <= rkt[{{ l.aw_sc - 1 }}:0] + {{ l.aw_sc }}'d1;
                end
            end
        end else begin
            r_ch <= r_ch + 13'd1;
            if (r_row_end) begin
                rct <= rct + {{ l.ctw }}'d1;
                if (rct == NCT_LAST) begin
                    r_ctx <= 1'b0;
                    rq <= rq + 13'd1;
                    r_qbase <= r_qbase + GD;
                    rkt <= 13'd0;
                    r_saddr <= {{ l.aw_sc }}'d0;
                end
            end
        end
    end
end

reg                e_valid;
reg                e_ctx;
reg  [{{ l.b * 32 - 1 }}:0] e_acc;
reg  [{{ l.mw - 1 }}:0]   e_meta;

always @(posedge clk) begin
    e_valid <= !rst && y_valid;
    e_ctx <= r_ctx;
    e_acc <= y_data;
    e_meta <= r_meta;
end

assign ep_valid = e_valid;
assign ep_mode = e_ctx ? 2'd0 : 2'd3;
assign ep_acc = e_acc;
assign ep_mult = e_ctx ? a_mc : a_ms;
assign ep_shift = e_ctx ? a_sc : a_ss;
assign ep_meta = e_meta;

/*
 * Softmax feeder: the rows of tile iq, P scores per beat
 */
wire [{{ l.lb - 1 }}:0] rows_last = (iq == nt_last) ? tail_row : ROW_LAST;

reg         f_run;
reg  [{{ l.lb - 1 }}:0] f_row;
reg  [12:0] f_k;
reg  [{{ l.fsubw - 1 }}:0] f_sub;
reg  [{{ l.aw_sc - 1 }}:0] f_rowbase;        // f_row * T_MAX/B
reg  [{{ l.aw_sc - 1 }}:0] f_addr;           // f_rowbase + kP / B
reg         f_valid;
reg  [{{ l.fsubw - 1 }}:0] f_vsub;
reg         f_vlast;

wire sm_fire = f_valid && sm_tready;
wire f_issue = f_run && (!f_valid || sm_fire);
wire f_row_end = f_k == nsm_last;

assign sc_re = f_issue;
assign sc_raddr = f_addr;
assign sm_tdata = sc_rdata[f_vsub*{{ l.p * 16 }} +: {{ l.p * 16 }}];
assign sm_tkeep = f_vlast ? keep_last : { {{ l.p }}{1'b1} };
assign sm_tlast = f_vlast;
assign sm_tvalid = f_valid;

always @(posedge clk) begin
    if (rst) begin
        f_run <= 1'b0;
        f_valid <= 1'b0;
    end else begin
        if (ev_score_last) begin
            f_run <= 1'b1;
        end else if (f_issue && f_row_end && f_row == rows_last) begin
            f_run <= 1'b0;
        end
        if (f_issue) begin
            f_valid <= 1'b1;
        end else if (sm_fire) begin
            f_valid <= 1'b0;
        end
    end
end

always @(posedge clk) begin
    if (ev_score_last) begin
        f_row <= {{ l.lb }}'d0;
        f_k <= 13'd0;
        f_sub <= {{ l.fsubw }}'d0;
        f_rowbase <= {{ l.aw_sc }}'d0;
        f_addr <= {{ l.aw_sc }}'d0;
    end else if (f_issue) begin
        if (f_row_end) begin
            f_row <= f_row + {{ l.lb }}'d1;
            f_k <= 13'd0;
            f_sub <= {{ l.fsubw }}'d0;
            f_rowbase <= f_rowbase + TT_S;
            f_addr <= f_rowbase + TT_S;
        end else begin
            f_k <= f_k + 13'd1;
            if (f_sub == FSUB_LAST) begin
                f_sub <= {{ l.fsubw }}'d0;
                f_addr <= f_addr + {{ l.aw_sc }}'d1;
            end else begin
                f_sub <= f_sub + {{ l.fsubw }}'d1;
            end
        end
    end
    if (f_issue) begin
        f_vsub <= f_sub;
        f_vlast <= f_row_end;
    end
end

/*
 * Probability writer: output row r of the softmax unit into bank r
 */
reg  [{{ l.lb - 1 }}:0] p_row;
reg  [{{ l.aw_pr - 1 }}:0] p_k;

assign probs_done = smo_tvalid && smo_tlast && p_row == rows_last;
assign pr_we = smo_tvalid ? ({{ l.b }}'d1 << p_row) : {{ l.b }}'d0;
assign pr_waddr = p_k;
assign pr_wdata = smo_tdata;

always @(posedge clk) begin
    if (rst || ev_score_last) begin
        p_row <= {{ l.lb }}'d0;
        p_k <= {{ l.aw_pr }}'d0;
    end else if (smo_tvalid) begin
        if (smo_tlast) begin
            p_row <= p_row + {{ l.lb }}'d1;
            p_k <= {{ l.aw_pr }}'d0;
        end else begin
            p_k <= p_k + {{ l.aw_pr }}'d1;
        end
    end
end

// unused: the other fields of the writes done (only the attention events are read here), the instruction's other bits
wire _unused = &{1'b0, wb_meta, cmd};

endmodule

`resetall
