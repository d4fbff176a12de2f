{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * GEMM engine (docs/accelerator.md "GEMM"): dst[t][o0 + r] = epilogue(sum_k src[t][k] * W[o0 + r][k]) for every
 * token t < T and tile row r < B, the weights from one tile half.
 *
 * Issue side: for each token tile (B tokens, column c = token t0 + c = bank c of src), the tile's beats in order.
 * Beat g reads the weight tile at address g and, from every src bank, the word (t0/B)*(K/M) + g (sparse: the M
 * activations of group g) or + (g*N)/M (dense: N consecutive channels, the N-byte slice (g*N mod M)/N of the word).
 * The RAMs' read registers are the pipeline stage in front of the PE array: a beat stays there (the RAMs are not
 * read again) until the array takes it, so the engine follows the array's stalls without a FIFO and issues one
 * beat per cycle when the array does not stall.
 *
 * Result side: the array returns each token tile as B result beats, row r = channel o0 + r, lane c = token t0 + c
 * (m_y is always ready: the epilogue and the buffer writes never stall). With each beat the engine reads the row's
 * channel parameters and, in residual mode, the skip words (the same address in every bank), registers the beat,
 * and hands it to the epilogue one cycle later together with the write it must do: an INT8 buffer (byte
 * (o0 + r) mod M of word (t0/B)*(W/M) + (o0 + r)/M in every bank), Resid (word (t0/B)*D + o0 + r in every bank), or
 * V transposed (bank r, word ((o0 + r)/B)*(T_MAX/B) + t0/B, the B lanes as the B bytes). That write description
 * travels beside the epilogue (in the top) and comes back on wb_*; the instruction's last write retires it.
 *
 * Overlap: the issue side takes the next GEMM as soon as it has issued the last beat of this one, while the
 * results still drain, unless the next reads (src, or skip in residual mode) a buffer that a GEMM in flight still
 * writes or reads as skip. Two GEMMs can wait for their results (a two-entry queue between the sides).
 */
module {{ name }}
(
    input  wire              clk,
    input  wire              rst,

    /*
     * The instruction (from the dispatcher)
     */
    input  wire [63:0]       cmd,
    input  wire              start,         // cmd is a GEMM and starts now (only when can_start)
    output wire              can_start,
    output wire              idle,          // no GEMM in flight
    output wire              retire,        // the last result of a GEMM was written ...
    output wire              retire_half,   // ... and it read this tile half

    /*
     * Weight tile and source reads
     */
    output wire              tile_re,
    output wire              tile_rhalf,
    output wire [{{ l.aw_tile - 1 }}:0]       tile_raddr,
    input  wire [{{ l.wb - 1 }}:0]      tile_rdata0,
    input  wire [{{ l.wb - 1 }}:0]      tile_rdata1,
    output wire              src_re,
    output wire [2:0]        src_rid,
    output wire [{{ l.aw - 1 }}:0]       src_raddr,
    output wire [2:0]        src_did,       // the buffer whose read register src_rdata must show
    input  wire [{{ l.b * l.m * 8 - 1 }}:0]     src_rdata,

    /*
     * PE array
     */
    output wire [{{ l.b * l.n * 8 - 1 }}:0]      w_data,
    output wire [{{ l.b * l.n * l.iw - 1 }}:0]      w_idx,
    output wire              w_dense,
    output wire              w_last,
    output wire              w_valid,
    input  wire              w_ready,
    output wire [{{ l.b * l.m * 8 - 1 }}:0]     a_data,
    input  wire              y_valid,
    input  wire [{{ l.b * 32 - 1 }}:0]     y_data,

    /*
     * Channel parameters and skip reads
     */
    output wire              par_re,
    output wire [{{ l.lb }}:0]        par_raddr,     // {half, row}
    input  wire [61:0]       par_rdata,
    output wire              skip_re,
    output wire [2:0]        skip_rid,
    output wire [{{ l.aw - 1 }}:0]       skip_raddr,
    output wire [2:0]        skip_did,
    input  wire [{{ l.b * l.m * 8 - 1 }}:0]     skip_rdata,

    /*
     * To the epilogue, with the write each result beat must do
     */
    output wire              ep_valid,
    output wire [1:0]        ep_mode,
    output wire [{{ l.b * 32 - 1 }}:0]     ep_acc,
    output wire [31:0]       ep_bias,
    output wire [14:0]       ep_mult,
    output wire [5:0]        ep_shift,
    output wire [4:0]        ep_rshift,
    output wire [3:0]        ep_gsel,
    output wire [{{ l.b * 8 - 1 }}:0]       ep_skip,
    output wire [{{ l.mw - 1 }}:0]       ep_meta,

    /*
     * Writes done (the epilogue's output side)
     */
    input  wire              wb_valid,
    input  wire [{{ l.mw - 1 }}:0]       wb_meta
);

{{ meta_params }}
localparam [2:0] BUF_V     = 3'd3;
localparam [2:0] BUF_FFN   = 3'd7;
localparam [{{ l.aw - 1 }}:0] GD = {{ l.aw }}'d{{ l.gd }};           // words per token of a D-wide buffer
localparam [{{ l.aw - 1 }}:0] GF = {{ l.aw }}'d{{ l.gf }};           // ... of Ffn
localparam [{{ l.aw - 1 }}:0] DW = {{ l.aw }}'d{{ l.d }};            // Resid words per token
localparam [{{ l.aw - 1 }}:0] TT = {{ l.aw }}'d{{ l.tt }};           // V words per channel (T_MAX / B)
localparam [{{ l.bcw - 1 }}:0] NB_D_SPARSE = {{ l.bcw }}'d{{ l.d / l.m - 1 }};   // beats per tile - 1
localparam [{{ l.bcw - 1 }}:0] NB_D_DENSE  = {{ l.bcw }}'d{{ l.d / l.n - 1 }};
localparam [{{ l.bcw - 1 }}:0] NB_F_SPARSE = {{ l.bcw }}'d{{ l.f / l.m - 1 }};
localparam [{{ l.bcw - 1 }}:0] NB_F_DENSE  = {{ l.bcw }}'d{{ l.f / l.n - 1 }};
localparam [{{ l.subw - 1 }}:0] SUB_LAST = {{ l.subw }}'d{{ l.m / l.n - 1 }};   // N-byte slices per word - 1 (dense)
localparam [{{ l.lb - 1 }}:0] ROW_LAST = {{ l.lb }}'d{{ l.b - 1 }};

/*
 * The instruction's fields
 */
wire        c_half = cmd[4];
wire        c_dense = cmd[5];
wire [2:0]  c_src = cmd[10:8];
wire [2:0]  c_dst = cmd[14:12];
wire [2:0]  c_skip = cmd[18:16];
wire [1:0]  c_mode = cmd[21:20];
wire [12:0] c_o0 = cmd[34:22];
wire [12:0] c_tokens = cmd[47:35];
wire        c_resid = c_mode == 2'd2;
wire [12:0] c_tiles = c_tokens >> {{ l.lb }};
wire [12:0] c_tiles_last = c_tiles - 13'd1;
wire [2:0]  c_tgt = c_resid ? TGT_RESID : (c_dst == BUF_V) ? TGT_V : TGT_INT8;
// per token tile, the destination's base address advances by
wire [{{ l.aw - 1 }}:0] c_dstep = c_resid ? DW : (c_dst == BUF_V) ? {{ l.aw }}'d1 : (c_dst == BUF_FFN) ? GF : GD;
// V: the word of channel block o0/B, token tile 0
wire [{{ l.aw - 1 }}:0] c_o0_blk = { {{ "{" }}{{ l.aw - 13 }}{1'b0}}, c_o0 >> {{ l.lb }}};
wire [{{ l.aw - 1 }}:0] c_voff = c_o0_blk * TT;

/*
 * Hazards: per buffer, GEMMs in flight that write it (dst) or read it at the result side (skip)
 */
wire [23:0] busy;             // 3 bits per buffer id
reg  [2:0] inflight;
wire ev_gemm = wb_valid && wb_meta[M_EVG];
wire [2:0] ev_dst = wb_meta[M_DST +: 3];
wire [2:0] ev_skip = wb_meta[M_SKIP +: 3];
wire ev_resid = wb_meta[M_RES];

reg        i_active;
reg  [1:0] q_count;
assign can_start = !i_active && q_count != 2'd2 && busy[c_src*3 +: 3] == 3'd0 && (!c_resid || busy[c_skip*3 +: 3] == 3'd0);
assign idle = inflight == 3'd0;
assign retire = ev_gemm;
assign retire_half = wb_meta[M_HALF];

genvar gi;

generate
    for (gi = 0; gi < 8; gi = gi + 1) begin : g_busy
        wire inc = start && (c_dst == gi || (c_resid && c_skip == gi));
        wire dec = ev_gemm && (ev_dst == gi || (ev_resid && ev_skip == gi));
        reg [2:0] count;

        always @(posedge clk) begin
            if (rst) begin
                count <= 3'd0;
            end else begin
                count <= count + {2'd0, inc} - {2'd0, dec};
            end
        end

        assign busy[gi*3 +: 3] = count;
    end
endgenerate

always @(posedge clk) begin
    if (rst) begin
        inflight <= 3'd0;
    end else begin
        inflight <= inflight + {2'd0, start} - {2'd0, ev_gemm};
    end
end

/*
 * Issue side
 */
reg        i_half;
reg        i_dense;
reg  [2:0] i_src;
reg  [{{ l.bcw - 1 }}:0] i_beats_last;
reg  [{{ l.aw - 1 }}:0] i_kw;             // words per token of src (K / M)
reg  [12:0] i_tiles_last;
reg  [{{ l.bcw - 1 }}:0] i_g;              // beat of the tile
reg  [12:0] i_tt;             // token tile
reg  [{{ l.aw - 1 }}:0] i_row;            // (t0 / B) * K/M
reg  [{{ l.aw - 1 }}:0] i_word;           // word of the beat within the token's row
reg  [{{ l.subw - 1 }}:0] i_sub;            // dense: N-byte slice of the word

// the stage: the RAMs' read registers hold a beat the array has not taken yet
reg        st_valid;
reg        st_last;
reg        st_dense;
reg        st_half;
reg  [2:0] st_src;
reg  [{{ l.subw - 1 }}:0] st_sub;

wire w_fire = st_valid && w_ready;
wire issue = i_active && (!st_valid || w_fire);
wire i_beat_end = i_g == i_beats_last;

assign tile_re = issue;
assign tile_rhalf = i_half;
assign tile_raddr = i_g[{{ l.aw_tile - 1 }}:0];
assign src_re = issue;
assign src_rid = i_src;
assign src_raddr = i_row + i_word;
assign src_did = st_src;

always @(posedge clk) begin
    if (rst) begin
        i_active <= 1'b0;
        st_valid <= 1'b0;
    end else begin
        if (start) begin
            i_active <= 1'b1;
        end else if (issue && i_beat_end && i_tt == i_tiles_last) begin
            i_active <= 1'b0;
        end
        if (issue) begin
            st_valid <= 1'b1;
        end else if (w_fire) begin
            st_valid <= 1'b0;
        end
    end
end

always @(posedge clk) begin
    if (start) begin
        i_half <= c_half;
        i_dense <= c_dense;
        i_src <= c_src;
        i_beats_last <= (c_src == BUF_FFN) ? (c_dense ? NB_F_DENSE : NB_F_SPARSE) : (c_dense ? NB_D_DENSE : NB_D_SPARSE);
        i_kw <= (c_src == BUF_FFN) ? GF : GD;
        i_tiles_last <= c_tiles_last;
        i_g <= {{ l.bcw }}'d0;
        i_tt <= 13'd0;
        i_row <= {{ l.aw }}'d0;
        i_word <= {{ l.aw }}'d0;
        i_sub <= {{ l.subw }}'d0;
    end else if (issue) begin
        if (i_beat_end) begin
            i_g <= {{ l.bcw }}'d0;
            i_word <= {{ l.aw }}'d0;
            i_sub <= {{ l.subw }}'d0;
            i_tt <= i_tt + 13'd1;
            i_row <= i_row + i_kw;
        end else begin
            i_g <= i_g + {{ l.bcw }}'d1;
            if (!i_dense || i_sub == SUB_LAST) begin
                i_sub <= {{ l.subw }}'d0;
                i_word <= i_word + {{ l.aw }}'d1;
            end else begin
                i_sub <= i_sub + {{ l.subw }}'d1;
            end
        end
    end
    if (issue) begin
        st_last <= i_beat_end;
        st_dense <= i_dense;
        st_half <= i_half;
        st_src <= i_src;
        st_sub <= i_sub;
    end
end

wire [{{ l.wb - 1 }}:0] tile_q = st_half ? tile_rdata1 : tile_rdata0;

assign w_data = tile_q[{{ l.b * l.n * 8 - 1 }}:0];
assign w_idx = tile_q[{{ l.wb - 1 }}:{{ l.b * l.n * 8 }}];
assign w_dense = st_dense;
assign w_last = st_last;
assign w_valid = st_valid;

genvar gc;

generate
    for (gc = 0; gc < {{ l.b }}; gc = gc + 1) begin : g_col
        wire [{{ l.m * 8 - 1 }}:0] word = src_rdata[gc*{{ l.m * 8 }} +: {{ l.m * 8 }}];
        // dense: the beat's N channels in lanes 0 .. N-1, zeros above
        wire [{{ l.n * 8 - 1 }}:0] slice = word[st_sub*{{ l.n * 8 }} +: {{ l.n * 8 }}];
{%- if l.m > l.n %}
        wire [{{ l.m * 8 - 1 }}:0] dense_lanes = { {{ "{" }}{{ (l.m - l.n) * 8 }}{1'b0}}, slice};
{%- else %}
        wire [{{ l.m * 8 - 1 }}:0] dense_lanes = slice;
{%- endif %}
        assign a_data[gc*{{ l.m * 8 }} +: {{ l.m * 8 }}] = st_dense ? dense_lanes : word;
    end
endgenerate

/*
 * Result side: the queue of GEMMs whose results are still to come
 */
localparam QW = 1 + 3 + 3 + 1 + 3 + 2 + 13 + 13 + {{ l.aw }} + {{ l.aw }};

wire [QW-1:0] q_in = {c_half, c_dst, c_skip, c_resid, c_tgt, c_mode, c_o0, c_tiles_last, c_dstep, c_voff};
reg  [QW-1:0] q_mem0, q_mem1;
reg           q_rd, q_wr;
wire [QW-1:0] q_head = q_rd ? q_mem1 : q_mem0;

wire        h_half;
wire [2:0]  h_dst;
wire [2:0]  h_skip;
wire        h_resid;
wire [2:0]  h_tgt;
wire [1:0]  h_mode;
wire [12:0] h_o0;
wire [12:0] h_tiles_last;
wire [{{ l.aw - 1 }}:0] h_dstep;
wire [{{ l.aw - 1 }}:0] h_voff;

assign {h_half, h_dst, h_skip, h_resid, h_tgt, h_mode, h_o0, h_tiles_last, h_dstep, h_voff} = q_head;

reg  [{{ l.lb - 1 }}:0] r_row;
reg  [12:0] r_tt;
reg  [{{ l.aw - 1 }}:0] r_dbase;          // (t0 / B) * (words per token of dst), or t0 / B for V
reg  [{{ l.aw - 1 }}:0] r_sbase;          // (t0 / B) * D/M, the skip's

wire        r_end = r_row == ROW_LAST && r_tt == h_tiles_last;
wire [12:0] r_col = h_o0 + { {{ "{" }}{{ 13 - l.lb }}{1'b0}}, r_row};
wire [{{ l.aw - 1 }}:0] r_col_a = { {{ "{" }}{{ l.aw - 13 }}{1'b0}}, r_col};
wire [{{ l.aw - 1 }}:0] r_col_word = r_col_a >> {{ l.iw }};
wire [{{ l.iw - 1 }}:0] r_byte = r_col[{{ l.iw - 1 }}:0];

wire [{{ l.aw - 1 }}:0] r_addr = (h_tgt == TGT_V) ? r_dbase + h_voff :
                     (h_tgt == TGT_RESID) ? r_dbase + r_col_a : r_dbase + r_col_word;
wire [{{ l.b - 1 }}:0] r_banks = (h_tgt == TGT_V) ? ({{ l.b }}'d1 << r_row) : { {{ l.b }}{1'b1} };
wire [{{ l.mw - 1 }}:0] r_meta;

assign r_meta = {r_addr, r_banks, r_byte, h_tgt, h_resid, h_skip, h_dst, h_half, 1'b0, 1'b0, r_end};

assign par_re = y_valid;
assign par_raddr = {h_half, r_row};
assign skip_re = y_valid && h_resid;
assign skip_rid = h_skip;
assign skip_raddr = r_sbase + r_col_word;

always @(posedge clk) begin
    if (rst) begin
        q_count <= 2'd0;
        q_rd <= 1'b0;
        q_wr <= 1'b0;
        r_row <= {{ l.lb }}'d0;
        r_tt <= 13'd0;
        r_dbase <= {{ l.aw }}'d0;
        r_sbase <= {{ l.aw }}'d0;
    end else begin
        if (start) begin
            q_wr <= !q_wr;
        end
        if (y_valid && r_end) begin
            q_rd <= !q_rd;
        end
        q_count <= q_count + {1'b0, start} - {1'b0, y_valid && r_end};
        if (y_valid) begin
            r_row <= r_row + {{ l.lb }}'d1;
            if (r_row == ROW_LAST) begin
                if (r_tt == h_tiles_last) begin
                    r_tt <= 13'd0;
                    r_dbase <= {{ l.aw }}'d0;
                    r_sbase <= {{ l.aw }}'d0;
                end else begin
                    r_tt <= r_tt + 13'd1;
                    r_dbase <= r_dbase + h_dstep;
                    r_sbase <= r_sbase + GD;
                end
            end
        end
    end
end

always @(posedge clk) begin
    if (start && !q_wr) begin
        q_mem0 <= q_in;
    end
    if (start && q_wr) begin
        q_mem1 <= q_in;
    end
end

// the beat in front of the epilogue: the accumulators, registered while the parameters and skips are read
reg                   e_valid;
reg  [{{ l.b * 32 - 1 }}:0]    e_acc;
reg  [1:0]            e_mode;
reg  [{{ l.iw - 1 }}:0]            e_byte;
reg  [2:0]            e_skip;
reg  [{{ l.mw - 1 }}:0]      e_meta;

always @(posedge clk) begin
    e_valid <= !rst && y_valid;
    e_acc <= y_data;
    e_mode <= h_mode;
    e_byte <= r_byte;
    e_skip <= h_skip;
    e_meta <= r_meta;
end

assign skip_did = e_skip;
assign ep_valid = e_valid;
assign ep_mode = e_mode;
assign ep_acc = e_acc;
assign ep_bias = par_rdata[31:0];
assign ep_mult = par_rdata[46:32];
assign ep_shift = par_rdata[52:47];
assign ep_rshift = par_rdata[57:53];
assign ep_gsel = par_rdata[61:58];
assign ep_meta = e_meta;

generate
    for (gc = 0; gc < {{ l.b }}; gc = gc + 1) begin : g_skip
        wire [{{ l.m * 8 - 1 }}:0] word = skip_rdata[gc*{{ l.m * 8 }} +: {{ l.m * 8 }}];
        assign ep_skip[gc*8 +: 8] = word[e_byte*8 +: 8];
    end
endgenerate

// unused: the write description's other fields (only the GEMM events are read here), the instruction's other bits
wire _unused = &{1'b0, wb_meta, cmd};

endmodule

`resetall
