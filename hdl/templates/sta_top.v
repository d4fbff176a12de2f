{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * The STA accelerator {{ name }} (docs/accelerator.md): one W = {{ l.w }}-bit word stream in (instructions and their
 * data), one out (stored buffers and the STATUS record).
 *
 *   N:M = {{ l.n }}:{{ l.m }}, array B x B = {{ l.b }} x {{ l.b }}, softmax lanes P = {{ l.p }}, T_MAX = {{ l.tmax }} tokens,
 *   d_model D = {{ l.d }}, heads H = {{ l.h }} (d_h = {{ l.dh }}), FFN width F = {{ l.f }}.
 *
 *   s_in -> {{ rx_name }} -> {{ decoder_name }} -> loads: X, weight tile halves + channel parameters, norm banks
 *                                        \-> dispatch -> {{ gemm_name }}  (PE array, epilogue)
 *                                                        {{ attn_name }}  (PE array, epilogue, softmax)
 *                                                        {{ ln_name }}  (LayerNorm unit)
 *                                                        {{ store_name }} -> {{ tx_name }} -> m_out
 *
 * The PE array and the epilogue are shared by GEMM and ATTN, which never run at the same time. The epilogue's
 * results are written to the buffers by a write description that travels beside it ({{ latency }} cycles: the
 * epilogue's latency); the LN engine writes its results the same way. Buffers (one RAM per bank, every bank of a
 * buffer read at one address):
{%- for b in buffers %}
 *   {{ b.desc }}
{%- endfor %}
 */
module {{ name }}
(
    input  wire              clk,
    input  wire              rst,

    input  wire [{{ l.w - 1 }}:0]       s_in_tdata,
    input  wire              s_in_tvalid,
    output wire              s_in_tready,

    output wire [{{ l.w - 1 }}:0]       m_out_tdata,
    output wire              m_out_tlast,
    output wire              m_out_tvalid,
    input  wire              m_out_tready,

    output wire              err,          // sticky: an illegal instruction was seen (STATUS has the code)
    output wire              busy          // a program is under way or output is still to leave
);

{{ meta_params }}

/*
 * Record receiver and decoder
 */
wire [{{ l.rx_bits - 1 }}:0] rec_data;
wire              rec_valid, rec_ready;
wire [{{ l.rx_cw - 1 }}:0]        rec_need;

{{ rx_name }} u_rx (
    .clk(clk),
    .rst(rst),
    .s_tdata(s_in_tdata),
    .s_tvalid(s_in_tvalid),
    .s_tready(s_in_tready),
    .need(rec_need),
    .rec_data(rec_data),
    .rec_valid(rec_valid),
    .rec_ready(rec_ready)
);

wire              x_we;
wire [{{ l.lb - 1 }}:0]        x_bank;
wire [{{ l.aw - 1 }}:0]       x_addr;
wire [{{ l.m * 8 - 1 }}:0]       x_wdata;
wire              par_we;
wire [{{ l.lb }}:0]        par_waddr;
wire [61:0]       par_wdata;
wire              tile_we, tile_whalf;
wire [{{ l.aw_tile - 1 }}:0]       tile_waddr;
wire [{{ l.wb - 1 }}:0]      tile_wdata;
wire              norm_we, norm_wbank;
wire [{{ l.aw_norm - 1 }}:0]       norm_waddr;
wire [55:0]       norm_wdata;
wire [63:0]       cmd;
wire [41:0]       cmd_scales;
wire              start_gemm, start_ln, start_attn, start_store;
wire              gemm_can_start, gemm_idle, ln_idle, attn_idle, store_idle;
wire              gemm_retire, gemm_retire_half, ln_done, ln_done_bank;
wire              pe_fire;
wire [{{ l.status_bits - 1 }}:0]     status_data;
wire              status_valid, status_ready;
wire              running;

{{ decoder_name }} u_decoder (
    .clk(clk),
    .rst(rst),
    .rec_data(rec_data),
    .rec_valid(rec_valid),
    .rec_ready(rec_ready),
    .rec_need(rec_need),
    .x_we(x_we),
    .x_bank(x_bank),
    .x_addr(x_addr),
    .x_wdata(x_wdata),
    .par_we(par_we),
    .par_waddr(par_waddr),
    .par_wdata(par_wdata),
    .tile_we(tile_we),
    .tile_whalf(tile_whalf),
    .tile_waddr(tile_waddr),
    .tile_wdata(tile_wdata),
    .norm_we(norm_we),
    .norm_wbank(norm_wbank),
    .norm_waddr(norm_waddr),
    .norm_wdata(norm_wdata),
    .cmd(cmd),
    .cmd_scales(cmd_scales),
    .start_gemm(start_gemm),
    .start_ln(start_ln),
    .start_attn(start_attn),
    .start_store(start_store),
    .gemm_can_start(gemm_can_start),
    .gemm_idle(gemm_idle),
    .ln_idle(ln_idle),
    .attn_idle(attn_idle),
    .store_idle(store_idle),
    .gemm_retire(gemm_retire),
    .gemm_retire_half(gemm_retire_half),
    .ln_done(ln_done),
    .ln_done_bank(ln_done_bank),
    .pe_fire(pe_fire),
    .status_data(status_data),
    .status_valid(status_valid),
    .status_ready(status_ready),
    .err(err),
    .running(running)
);

/*
 * The shared datapath: PE array, epilogue (+ the write descriptions beside it), softmax
 */
wire attn_own = !attn_idle;

// GEMM engine side
wire              g_tile_re, g_tile_rhalf;
wire [{{ l.aw_tile - 1 }}:0]       g_tile_raddr;
wire              g_src_re, g_skip_re, g_par_re;
wire [2:0]        g_src_rid, g_src_did, g_skip_rid, g_skip_did;
wire [{{ l.aw - 1 }}:0]       g_src_raddr, g_skip_raddr;
wire [{{ l.lb }}:0]        g_par_raddr;
reg  [{{ l.b * l.m * 8 - 1 }}:0]     g_src_rdata, g_skip_rdata;
wire [{{ l.b * l.n * 8 - 1 }}:0]      g_w_data;
wire [{{ l.b * l.n * l.iw - 1 }}:0]      g_w_idx;
wire              g_w_dense, g_w_last, g_w_valid;
wire [{{ l.b * l.m * 8 - 1 }}:0]     g_a_data;
wire              g_ep_valid;
wire [1:0]        g_ep_mode;
wire [{{ l.b * 32 - 1 }}:0]     g_ep_acc;
wire [31:0]       g_ep_bias;
wire [14:0]       g_ep_mult;
wire [5:0]        g_ep_shift;
wire [4:0]        g_ep_rshift;
wire [3:0]        g_ep_gsel;
wire [{{ l.b * 8 - 1 }}:0]       g_ep_skip;
wire [{{ l.mw - 1 }}:0]       g_ep_meta;

// attention engine side
wire              a_q_re, a_k_re, a_v_re, a_sc_re, a_pr_re;
wire [{{ l.aw - 1 }}:0]       a_q_raddr, a_k_raddr, a_v_raddr;
wire [{{ l.aw_sc - 1 }}:0]       a_sc_raddr;
wire [{{ l.aw_pr - 1 }}:0]       a_pr_raddr, a_pr_waddr;
wire [{{ l.b - 1 }}:0]        a_pr_we;
wire [{{ l.p * 7 - 1 }}:0]       a_pr_wdata;
wire [{{ l.p * 16 - 1 }}:0]      sm_tdata;
wire [{{ l.p - 1 }}:0]        sm_tkeep;
wire              sm_tlast, sm_tvalid, sm_tready;
wire [{{ l.p * 7 - 1 }}:0]       smo_tdata;
wire [{{ l.p - 1 }}:0]        smo_tkeep;
wire              smo_tlast, smo_tvalid;
wire [{{ l.b * l.n * 8 - 1 }}:0]      a_w_data;
wire              a_w_last, a_w_valid;
wire [{{ l.b * l.m * 8 - 1 }}:0]     a_a_data;
wire              a_ep_valid;
wire [1:0]        a_ep_mode;
wire [{{ l.b * 32 - 1 }}:0]     a_ep_acc;
wire [14:0]       a_ep_mult;
wire [5:0]        a_ep_shift;
wire [{{ l.mw - 1 }}:0]       a_ep_meta;

// PE array
wire [{{ l.b * l.n * 8 - 1 }}:0]      pe_w_data = attn_own ? a_w_data : g_w_data;
wire [{{ l.b * l.n * l.iw - 1 }}:0]      pe_w_idx = attn_own ? {{ l.b * l.n * l.iw }}'d0 : g_w_idx;
wire              pe_w_dense = attn_own || g_w_dense;
wire              pe_w_last = attn_own ? a_w_last : g_w_last;
wire              pe_valid = attn_own ? a_w_valid : g_w_valid;
wire [{{ l.b * l.m * 8 - 1 }}:0]     pe_a_data = attn_own ? a_a_data : g_a_data;
wire              pe_w_ready, pe_a_ready;
wire [{{ l.b * 32 - 1 }}:0]     y_data;
wire              y_valid, y_last;
wire [{{ perf_msb }}:0]       perf_cycles, perf_busy, perf_stall;
wire              pe_err_last;

assign pe_fire = pe_valid && pe_w_ready && pe_a_ready;

{{ array_name }} u_array (
    .clk(clk),
    .rst(rst),
    .s_w_tdata(pe_w_data),
    .s_w_tidx(pe_w_idx),
    .s_w_tuser(pe_w_dense),
    .s_w_tlast(pe_w_last),
    .s_w_tvalid(pe_valid),
    .s_w_tready(pe_w_ready),
    .s_a_tdata(pe_a_data),
    .s_a_tlast(pe_w_last),
    .s_a_tvalid(pe_valid),
    .s_a_tready(pe_a_ready),
    .m_y_tdata(y_data),
    .m_y_tlast(y_last),
    .m_y_tvalid(y_valid),
    .m_y_tready(1'b1),
    .perf_cycles(perf_cycles),
    .perf_busy(perf_busy),
    .perf_stall(perf_stall),
    .err_last(pe_err_last)
);

// epilogue: fed by the engine that owns the array
wire              ep_valid = attn_own ? a_ep_valid : g_ep_valid;
wire [1:0]        ep_mode = attn_own ? a_ep_mode : g_ep_mode;
wire [{{ l.b * 32 - 1 }}:0]     ep_acc = attn_own ? a_ep_acc : g_ep_acc;
wire [31:0]       ep_bias = attn_own ? 32'd0 : g_ep_bias;
wire [14:0]       ep_mult = attn_own ? a_ep_mult : g_ep_mult;
wire [5:0]        ep_shift = attn_own ? a_ep_shift : g_ep_shift;
wire [4:0]        ep_rshift = attn_own ? 5'd0 : g_ep_rshift;
wire [3:0]        ep_gsel = attn_own ? 4'd0 : g_ep_gsel;
wire [{{ l.b * 8 - 1 }}:0]       ep_skip = attn_own ? {{ l.b * 8 }}'d0 : g_ep_skip;
wire [{{ l.mw - 1 }}:0]       ep_meta = attn_own ? a_ep_meta : g_ep_meta;
wire              wb_valid;
wire [{{ l.b * 24 - 1 }}:0]     wb_data;

{{ epilogue_name }} u_epilogue (
    .clk(clk),
    .rst(rst),
    .in_valid(ep_valid),
    .in_mode(ep_mode),
    .in_acc(ep_acc),
    .in_bias(ep_bias),
    .in_mult(ep_mult),
    .in_shift(ep_shift),
    .in_rshift(ep_rshift),
    .in_gsel(ep_gsel),
    .in_skip(ep_skip),
    .out_valid(wb_valid),
    .out_data(wb_data)
);

// the write description of each beat, delayed by the epilogue's latency ({{ latency }} cycles)
reg  [{{ latency * l.mw - 1 }}:0] meta_pipe;

always @(posedge clk) begin
{%- if latency > 1 %}
    meta_pipe <= {meta_pipe[{{ (latency - 1) * l.mw - 1 }}:0], ep_meta};
{%- else %}
    meta_pipe <= ep_meta;
{%- endif %}
end

wire [{{ l.mw - 1 }}:0] wb_meta = meta_pipe[{{ latency * l.mw - 1 }}:{{ (latency - 1) * l.mw }}];

{{ softmax_name }} u_softmax (
    .clk(clk),
    .rst(rst),
    .s_tdata(sm_tdata),
    .s_tkeep(sm_tkeep),
    .s_tlast(sm_tlast),
    .s_tvalid(sm_tvalid),
    .s_tready(sm_tready),
    .m_tdata(smo_tdata),
    .m_tkeep(smo_tkeep),
    .m_tlast(smo_tlast),
    .m_tvalid(smo_tvalid),
    .m_tready(1'b1)
);

/*
 * Engines
 */
wire [{{ l.wb - 1 }}:0]      tile_rdata0, tile_rdata1;
wire [61:0]       par_rdata;

{{ gemm_name }} u_gemm (
    .clk(clk),
    .rst(rst),
    .cmd(cmd),
    .start(start_gemm),
    .can_start(gemm_can_start),
    .idle(gemm_idle),
    .retire(gemm_retire),
    .retire_half(gemm_retire_half),
    .tile_re(g_tile_re),
    .tile_rhalf(g_tile_rhalf),
    .tile_raddr(g_tile_raddr),
    .tile_rdata0(tile_rdata0),
    .tile_rdata1(tile_rdata1),
    .src_re(g_src_re),
    .src_rid(g_src_rid),
    .src_raddr(g_src_raddr),
    .src_did(g_src_did),
    .src_rdata(g_src_rdata),
    .w_data(g_w_data),
    .w_idx(g_w_idx),
    .w_dense(g_w_dense),
    .w_last(g_w_last),
    .w_valid(g_w_valid),
    .w_ready(pe_w_ready && pe_a_ready),
    .a_data(g_a_data),
    .y_valid(y_valid && !attn_own),
    .y_data(y_data),
    .par_re(g_par_re),
    .par_raddr(g_par_raddr),
    .par_rdata(par_rdata),
    .skip_re(g_skip_re),
    .skip_rid(g_skip_rid),
    .skip_raddr(g_skip_raddr),
    .skip_did(g_skip_did),
    .skip_rdata(g_skip_rdata),
    .ep_valid(g_ep_valid),
    .ep_mode(g_ep_mode),
    .ep_acc(g_ep_acc),
    .ep_bias(g_ep_bias),
    .ep_mult(g_ep_mult),
    .ep_shift(g_ep_shift),
    .ep_rshift(g_ep_rshift),
    .ep_gsel(g_ep_gsel),
    .ep_skip(g_ep_skip),
    .ep_meta(g_ep_meta),
    .wb_valid(wb_valid),
    .wb_meta(wb_meta)
);

wire [{{ l.b * l.m * 8 - 1 }}:0]     rd_q, rd_k;
wire [{{ l.b * l.b * 8 - 1 }}:0]     rd_v;
wire [{{ l.b * 16 - 1 }}:0]      sc_rdata;
wire [{{ l.b * l.p * 7 - 1 }}:0]     pr_rdata;

{{ attn_name }} u_attn (
    .clk(clk),
    .rst(rst),
    .cmd(cmd),
    .cmd_scales(cmd_scales),
    .start(start_attn),
    .idle(attn_idle),
    .q_re(a_q_re),
    .q_raddr(a_q_raddr),
    .q_rdata(rd_q),
    .k_re(a_k_re),
    .k_raddr(a_k_raddr),
    .k_rdata(rd_k),
    .v_re(a_v_re),
    .v_raddr(a_v_raddr),
    .v_rdata(rd_v),
    .sc_re(a_sc_re),
    .sc_raddr(a_sc_raddr),
    .sc_rdata(sc_rdata),
    .pr_re(a_pr_re),
    .pr_raddr(a_pr_raddr),
    .pr_rdata(pr_rdata),
    .pr_we(a_pr_we),
    .pr_waddr(a_pr_waddr),
    .pr_wdata(a_pr_wdata),
    .sm_tdata(sm_tdata),
    .sm_tkeep(sm_tkeep),
    .sm_tlast(sm_tlast),
    .sm_tvalid(sm_tvalid),
    .sm_tready(sm_tready),
    .smo_tdata(smo_tdata),
    .smo_tlast(smo_tlast),
    .smo_tvalid(smo_tvalid),
    .w_data(a_w_data),
    .w_last(a_w_last),
    .w_valid(a_w_valid),
    .w_ready(pe_w_ready && pe_a_ready),
    .a_data(a_a_data),
    .y_valid(y_valid && attn_own),
    .y_data(y_data),
    .ep_valid(a_ep_valid),
    .ep_mode(a_ep_mode),
    .ep_acc(a_ep_acc),
    .ep_mult(a_ep_mult),
    .ep_shift(a_ep_shift),
    .ep_meta(a_ep_meta),
    .wb_valid(wb_valid),
    .wb_meta(wb_meta)
);

wire              ln_r_re, ln_n_re;
wire [{{ l.aw - 1 }}:0]       ln_r_raddr;
wire [{{ l.aw_norm - 1 }}:0]       ln_n_raddr;
wire [{{ l.b * 24 - 1 }}:0]     rd_resid;
wire [55:0]       norm_rdata0, norm_rdata1;
wire              ln_w_valid;
wire [2:0]        ln_w_id;
wire [{{ l.aw - 1 }}:0]       ln_w_addr;
wire [{{ l.iw - 1 }}:0]        ln_w_byte;
wire [{{ l.b * 8 - 1 }}:0]       ln_w_data;

{{ ln_name }} u_ln (
    .clk(clk),
    .rst(rst),
    .cmd(cmd),
    .start(start_ln),
    .idle(ln_idle),
    .done(ln_done),
    .done_bank(ln_done_bank),
    .r_re(ln_r_re),
    .r_raddr(ln_r_raddr),
    .r_rdata(rd_resid),
    .n_re(ln_n_re),
    .n_raddr(ln_n_raddr),
    .n_rdata0(norm_rdata0),
    .n_rdata1(norm_rdata1),
    .w_valid(ln_w_valid),
    .w_id(ln_w_id),
    .w_addr(ln_w_addr),
    .w_byte(ln_w_byte),
    .w_data(ln_w_data)
);

wire              st_re;
wire [2:0]        st_id;
wire [{{ l.aw - 1 }}:0]       st_addr;
reg  [{{ l.b * l.m * 8 - 1 }}:0]     st_rdata;
wire [{{ l.tx_bits - 1 }}:0]     st_rec_data;
wire [{{ l.tx_cw - 1 }}:0]        st_rec_words;
wire              st_rec_valid, tx_in_ready;

{{ store_name }} u_store (
    .clk(clk),
    .rst(rst),
    .cmd(cmd),
    .start(start_store),
    .idle(store_idle),
    .rd_re(st_re),
    .rd_id(st_id),
    .rd_addr(st_addr),
    .rd_int8(st_rdata),
    .rd_v(rd_v),
    .rd_resid(rd_resid),
    .rec_data(st_rec_data),
    .rec_words(st_rec_words),
    .rec_valid(st_rec_valid),
    .rec_ready(tx_in_ready && !status_valid)
);

/*
 * Record sender: the STORE engine's records, or STATUS (which waits until every engine is idle)
 */
wire tx_idle;

{{ tx_name }} u_tx (
    .clk(clk),
    .rst(rst),
    .in_data(status_valid ? {{ status_padded }} : st_rec_data),
    .in_words(status_valid ? {{ l.tx_cw }}'d{{ l.words_status }} : st_rec_words),
    .in_valid(status_valid || st_rec_valid),
    .in_ready(tx_in_ready),
    .m_tdata(m_out_tdata),
    .m_tlast(m_out_tlast),
    .m_tvalid(m_out_tvalid),
    .m_tready(m_out_tready),
    .idle(tx_idle)
);

assign status_ready = tx_in_ready;
assign busy = running || !tx_idle || !(gemm_idle && ln_idle && attn_idle && store_idle);

/*
 * Buffer writes: the epilogue's results (with their descriptions) or the LN engine's
 */
wire              wc_valid = wb_valid || ln_w_valid;
wire [2:0]        wc_tgt = ln_w_valid ? TGT_INT8 : wb_meta[M_TGT +: 3];
wire [2:0]        wc_id = ln_w_valid ? ln_w_id : wb_meta[M_DST +: 3];
wire [{{ l.aw - 1 }}:0]       wc_addr = ln_w_valid ? ln_w_addr : wb_meta[M_ADDR +: {{ l.aw }}];
wire [{{ l.iw - 1 }}:0]        wc_byte = ln_w_valid ? ln_w_byte : wb_meta[M_BYTE +: {{ l.iw }}];
wire [{{ l.b - 1 }}:0]        wc_banks = ln_w_valid ? { {{ l.b }}{1'b1} } : wb_meta[M_BANK +: {{ l.b }}];
wire [{{ l.m - 1 }}:0]        wc_be = {{ l.m }}'d1 << wc_byte;
wire [{{ l.b * 8 - 1 }}:0]       wc_lane8;
wire [{{ l.b * 16 - 1 }}:0]      wc_lane16;

genvar gb;

generate
    for (gb = 0; gb < {{ l.b }}; gb = gb + 1) begin : g_lane
        assign wc_lane8[gb*8 +: 8] = ln_w_valid ? ln_w_data[gb*8 +: 8] : wb_data[gb*24 +: 8];
        assign wc_lane16[gb*16 +: 16] = wb_data[gb*24 +: 16];
    end
endgenerate

wire wc_int8 = wc_valid && wc_tgt == TGT_INT8;
{% for bf in int8_bufs %}
/*
 * {{ bf.desc }}
 */
{%- if bf.attn.is_empty() %}
wire [{{ l.b * l.m * 8 - 1 }}:0] rd_{{ bf.name }};
{%- else %}
// rd_{{ bf.name }} is declared above, with the attention engine's other read ports
{%- endif %}
wire {{ bf.name }}_sel_src = g_src_re && g_src_rid == 3'd{{ bf.id }};
{%- if bf.skip %}
wire {{ bf.name }}_sel_skip = g_skip_re && g_skip_rid == 3'd{{ bf.id }};
{%- endif %}
wire {{ bf.name }}_sel_st = st_re && st_id == 3'd{{ bf.id }};
wire {{ bf.name }}_re = {{ bf.name }}_sel_src{% if bf.skip %} || {{ bf.name }}_sel_skip{% endif %} || {{ bf.name }}_sel_st{% if !bf.attn.is_empty() %} || a_{{ bf.attn }}_re{% endif %};
wire [{{ l.aw - 1 }}:0] {{ bf.name }}_raddr = {{ bf.name }}_sel_src ? g_src_raddr :{% if bf.skip %} {{ bf.name }}_sel_skip ? g_skip_raddr :{% endif %}{% if !bf.attn.is_empty() %} a_{{ bf.attn }}_re ? a_{{ bf.attn }}_raddr :{% endif %} st_addr;
wire {{ bf.name }}_wc = wc_int8 && wc_id == 3'd{{ bf.id }};
{%- if bf.aw < l.aw %}
wire _unused_{{ bf.name }} = &{1'b0, {{ bf.name }}_raddr[{{ l.aw - 1 }}:{{ bf.aw }}]{% if !bf.loader %}{% endif %}};
{%- endif %}

generate
    for (gb = 0; gb < {{ l.b }}; gb = gb + 1) begin : g_{{ bf.name }}
{%- if bf.loader %}
        // LOAD_X writes whole words, one bank at a time; the engines write one byte of every bank
        wire ld = x_we && x_bank == gb;
        wire we = ld || ({{ bf.name }}_wc && wc_banks[gb]);
        wire [{{ bf.aw - 1 }}:0] waddr = x_we ? x_addr[{{ bf.aw - 1 }}:0] : wc_addr[{{ bf.aw - 1 }}:0];
        wire [{{ l.m * 8 - 1 }}:0] wdata = x_we ? x_wdata : { {{ l.m }}{wc_lane8[gb*8 +: 8]} };
        wire [{{ l.m - 1 }}:0] wbe = x_we ? { {{ l.m }}{1'b1} } : wc_be;
{%- else %}
        wire we = {{ bf.name }}_wc && wc_banks[gb];
        wire [{{ bf.aw - 1 }}:0] waddr = wc_addr[{{ bf.aw - 1 }}:0];
        wire [{{ l.m * 8 - 1 }}:0] wdata = { {{ l.m }}{wc_lane8[gb*8 +: 8]} };
        wire [{{ l.m - 1 }}:0] wbe = wc_be;
{%- endif %}

        {{ bf.ram }} u_ram (
            .clk(clk),
            .we(we),
            .waddr(waddr),
            .wdata(wdata),
            .wbe(wbe),
            .re({{ bf.name }}_re),
            .raddr({{ bf.name }}_raddr[{{ bf.aw - 1 }}:0]),
            .rdata(rd_{{ bf.name }}[gb*{{ l.m * 8 }} +: {{ l.m * 8 }}])
        );
    end
endgenerate
{% endfor %}
/*
 * {{ v_buf.desc }}
 */
wire v_re = (st_re && st_id == 3'd3) || a_v_re;
wire [{{ l.aw - 1 }}:0] v_raddr = a_v_re ? a_v_raddr : st_addr;
wire v_wc = wc_valid && wc_tgt == TGT_V;
{%- if v_buf.aw < l.aw %}
wire _unused_v = &{1'b0, v_raddr[{{ l.aw - 1 }}:{{ v_buf.aw }}]};
{%- endif %}

generate
    for (gb = 0; gb < {{ l.b }}; gb = gb + 1) begin : g_v
        {{ v_buf.ram }} u_ram (
            .clk(clk),
            .we(v_wc && wc_banks[gb]),
            .waddr(wc_addr[{{ v_buf.aw - 1 }}:0]),
            .wdata(wc_lane8),
            .re(v_re),
            .raddr(v_raddr[{{ v_buf.aw - 1 }}:0]),
            .rdata(rd_v[gb*{{ l.b * 8 }} +: {{ l.b * 8 }}])
        );
    end
endgenerate

/*
 * {{ r_buf.desc }}
 */
wire r_re = (st_re && st_id == 3'd5) || ln_r_re;
wire [{{ l.aw - 1 }}:0] r_raddr = ln_r_re ? ln_r_raddr : st_addr;
wire r_wc = wc_valid && wc_tgt == TGT_RESID;
{%- if r_buf.aw < l.aw %}
wire _unused_r = &{1'b0, r_raddr[{{ l.aw - 1 }}:{{ r_buf.aw }}]};
{%- endif %}

generate
    for (gb = 0; gb < {{ l.b }}; gb = gb + 1) begin : g_r
        {{ r_buf.ram }} u_ram (
            .clk(clk),
            .we(r_wc && wc_banks[gb]),
            .waddr(wc_addr[{{ r_buf.aw - 1 }}:0]),
            .wdata(wb_data[gb*24 +: 24]),
            .re(r_re),
            .raddr(r_raddr[{{ r_buf.aw - 1 }}:0]),
            .rdata(rd_resid[gb*24 +: 24])
        );
    end
endgenerate

/*
 * Read data for the engines that can read several buffers
 */
always @* begin
    case (g_src_did)
{%- for bf in int8_bufs %}
        3'd{{ bf.id }}: g_src_rdata = rd_{{ bf.name }};
{%- endfor %}
        default: g_src_rdata = rd_x;
    endcase
end

always @* begin
    case (g_skip_did)
{%- for bf in int8_bufs %}{% if bf.skip %}
        3'd{{ bf.id }}: g_skip_rdata = rd_{{ bf.name }};
{%- endif %}{% endfor %}
        default: g_skip_rdata = rd_x;
    endcase
end

always @* begin
    case (st_id)
{%- for bf in int8_bufs %}
        3'd{{ bf.id }}: st_rdata = rd_{{ bf.name }};
{%- endfor %}
        default: st_rdata = rd_x;
    endcase
end

/*
 * Attention's score RAM (written by the epilogue's REQS results) and probability banks
 */
{{ score_ram }} u_score (
    .clk(clk),
    .we(wc_valid && wc_tgt == TGT_SCORE),
    .waddr(wc_addr[{{ l.aw_sc - 1 }}:0]),
    .wdata(wc_lane16),
    .re(a_sc_re),
    .raddr(a_sc_raddr),
    .rdata(sc_rdata)
);

generate
    for (gb = 0; gb < {{ l.b }}; gb = gb + 1) begin : g_prob
        {{ prob_ram }} u_ram (
            .clk(clk),
            .we(a_pr_we[gb]),
            .waddr(a_pr_waddr),
            .wdata(a_pr_wdata),
            .re(a_pr_re),
            .raddr(a_pr_raddr),
            .rdata(pr_rdata[gb*{{ l.p * 7 }} +: {{ l.p * 7 }}])
        );
    end
endgenerate

/*
 * Weight tile halves, channel parameters, norm banks (written by the decoder's loads)
 */
{{ tile_ram }} u_tile0 (
    .clk(clk),
    .we(tile_we && !tile_whalf),
    .waddr(tile_waddr),
    .wdata(tile_wdata),
    .re(g_tile_re && !g_tile_rhalf),
    .raddr(g_tile_raddr),
    .rdata(tile_rdata0)
);

{{ tile_ram }} u_tile1 (
    .clk(clk),
    .we(tile_we && tile_whalf),
    .waddr(tile_waddr),
    .wdata(tile_wdata),
    .re(g_tile_re && g_tile_rhalf),
    .raddr(g_tile_raddr),
    .rdata(tile_rdata1)
);

{{ par_ram }} u_params (
    .clk(clk),
    .we(par_we),
    .waddr(par_waddr),
    .wdata(par_wdata),
    .re(g_par_re),
    .raddr(g_par_raddr),
    .rdata(par_rdata)
);

{{ norm_ram }} u_norm0 (
    .clk(clk),
    .we(norm_we && !norm_wbank),
    .waddr(norm_waddr),
    .wdata(norm_wdata),
    .re(ln_n_re),
    .raddr(ln_n_raddr),
    .rdata(norm_rdata0)
);

{{ norm_ram }} u_norm1 (
    .clk(clk),
    .we(norm_we && norm_wbank),
    .waddr(norm_waddr),
    .wdata(norm_wdata),
    .re(ln_n_re),
    .raddr(ln_n_raddr),
    .rdata(norm_rdata1)
);

// unused: the array's performance counters, tlast and tlast check (the engines count beats and rows themselves,
// and w/a tlast are one signal here); the softmax output keep (the engine knows the row lengths); the write
// descriptions' GEMM bookkeeping fields (read by the engines); address bits above the largest RAM's
wire _unused = &{1'b0, perf_cycles, perf_busy, perf_stall, pe_err_last, y_last, smo_tkeep, wb_meta, x_addr, wc_addr};

endmodule

`resetall
