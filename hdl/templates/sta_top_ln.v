{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * LayerNorm engine (docs/accelerator.md "LN"): LayerNorm of the Resid rows t < T with norm bank `bank` into dst,
 * around the LayerNorm unit {{ ln_module }} (lane l = token t0 + l = Resid bank l).
 *
 * For each token tile (B tokens), three passes over the D channels: beat c of a pass reads Resid word
 * (t0/B)*D + c of every bank (and channel c's gain and offset), with in_last on c = D - 1. The RAMs' read registers
 * are the stage in front of the unit (held while in_ready is low: the unit's bubbles after passes 0 and 1). Each
 * output beat (channel c of the B tokens, the unit's fixed latency after its pass-2 beat) is written to dst as byte
 * c mod M of word (t0/B)*(D/M) + c/M in every bank.
 */
module {{ name }}
(
    input  wire              clk,
    input  wire              rst,

    input  wire [63:0]       cmd,
    input  wire              start,
    output wire              idle,
    output wire              done,          // the last output was written ...
    output wire              done_bank,     // ... and it read this norm bank

    output wire              r_re,
    output wire [{{ l.aw - 1 }}:0]       r_raddr,
    input  wire [{{ l.b * 24 - 1 }}:0]     r_rdata,
    output wire              n_re,
    output wire [{{ l.aw_norm - 1 }}:0]       n_raddr,
    input  wire [55:0]       n_rdata0,
    input  wire [55:0]       n_rdata1,

    // the write of one output beat: byte w_byte of word w_addr of buffer w_id, every bank, lane l = bank l
    output wire              w_valid,
    output wire [2:0]        w_id,
    output wire [{{ l.aw - 1 }}:0]       w_addr,
    output wire [{{ l.iw - 1 }}:0]        w_byte,
    output wire [{{ l.b * 8 - 1 }}:0]       w_data
);

localparam [{{ l.aw - 1 }}:0] GD = {{ l.aw }}'d{{ l.gd }};
localparam [{{ l.aw - 1 }}:0] DW = {{ l.aw }}'d{{ l.d }};
localparam [{{ l.aw_norm - 1 }}:0] C_LAST = {{ l.aw_norm }}'d{{ l.d - 1 }};

reg         active;           // an instruction is running (until its last output)
reg         bank;
reg  [2:0]  dst;
reg  [5:0]  shift;
reg  [12:0] tiles_last;

/*
 * Issue side
 */
reg         i_active;
reg  [12:0] i_tt;
reg  [1:0]  i_pass;
reg  [{{ l.aw_norm - 1 }}:0] i_c;
reg  [{{ l.aw - 1 }}:0] i_base;           // (t0 / B) * D

reg         st_valid;
reg  [1:0]  st_pass;
reg         st_last;

wire        ln_ready;
wire        ln_fire = st_valid && ln_ready;
wire        issue = i_active && (!st_valid || ln_fire);
wire        i_c_end = i_c == C_LAST;

assign r_re = issue;
assign r_raddr = i_base + { {{ "{" }}{{ l.aw - l.aw_norm }}{1'b0}}, i_c};
assign n_re = issue;
assign n_raddr = i_c;

/*
 * Output side
 */
reg  [{{ l.aw_norm - 1 }}:0] o_c;
reg  [12:0] o_tt;
reg  [{{ l.aw - 1 }}:0] o_base;           // (t0 / B) * D/M

wire        lo_valid;
wire        o_end = o_c == C_LAST && o_tt == tiles_last;

assign idle = !active;
assign done = lo_valid && o_end;
assign done_bank = bank;
assign w_valid = lo_valid;
assign w_id = dst;
assign w_addr = o_base + ({ {{ "{" }}{{ l.aw - l.aw_norm }}{1'b0}}, o_c} >> {{ l.iw }});
assign w_byte = o_c[{{ l.iw - 1 }}:0];

always @(posedge clk) begin
    if (rst) begin
        active <= 1'b0;
        i_active <= 1'b0;
        st_valid <= 1'b0;
    end else begin
        if (start) begin
            active <= 1'b1;
            i_active <= 1'b1;
        end else begin
            if (done) begin
                active <= 1'b0;
            end
            if (issue && i_c_end && i_pass == 2'd2 && i_tt == tiles_last) begin
                i_active <= 1'b0;
            end
        end
        if (issue) begin
            st_valid <= 1'b1;
        end else if (ln_fire) begin
            st_valid <= 1'b0;
        end
    end
end

always @(posedge clk) begin
    if (start) begin
        bank <= cmd[4];
        dst <= cmd[10:8];
        shift <= cmd[16:11];
        tiles_last <= (cmd[29:17] >> {{ l.lb }}) - 13'd1;
        i_tt <= 13'd0;
        i_pass <= 2'd0;
        i_c <= {{ l.aw_norm }}'d0;
        i_base <= {{ l.aw }}'d0;
        o_c <= {{ l.aw_norm }}'d0;
        o_tt <= 13'd0;
        o_base <= {{ l.aw }}'d0;
    end else begin
        if (issue) begin
            if (i_c_end) begin
                i_c <= {{ l.aw_norm }}'d0;
                if (i_pass == 2'd2) begin
                    i_pass <= 2'd0;
                    i_tt <= i_tt + 13'd1;
                    i_base <= i_base + DW;
                end else begin
                    i_pass <= i_pass + 2'd1;
                end
            end else begin
                i_c <= i_c + {{ l.aw_norm }}'d1;
            end
        end
        if (lo_valid) begin
            if (o_c == C_LAST) begin
                o_c <= {{ l.aw_norm }}'d0;
                o_tt <= o_tt + 13'd1;
                o_base <= o_base + GD;
            end else begin
                o_c <= o_c + {{ l.aw_norm }}'d1;
            end
        end
    end
    if (issue) begin
        st_pass <= i_pass;
        st_last <= i_c_end;
    end
end

wire [55:0] norm = bank ? n_rdata1 : n_rdata0;

{{ ln_module }} u_ln (
    .clk(clk),
    .rst(rst),
    .in_valid(st_valid),
    .in_ready(ln_ready),
    .in_pass(st_pass),
    .in_last(st_last),
    .in_resid(r_rdata),
    .in_gain(norm[15:0]),
    .in_offset(norm[55:16]),
    .in_shift(shift),
    .out_valid(lo_valid),
    .out_data(w_data)
);

// unused: the instruction's other bits
wire _unused = &{1'b0, cmd};

endmodule

`resetall
