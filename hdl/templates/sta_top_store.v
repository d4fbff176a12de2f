{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Store engine (docs/accelerator.md "STORE"): buffer rows t < T out as records, in this order:
 *   - an INT8 token-banked buffer (X, Q, K, Ctx, H1, Ffn): token-major XDATA records, token t, group g of M channels
 *     (bank t mod B, word (t/B)*(W/M) + g);
 *   - V (stored transposed): channel-major VDATA records of B bytes, channel c, token group u = 0 ... ceil(T/B) - 1
 *     (bank c mod B, word (c/B)*(T_MAX/B) + u: tokens uB ... uB + B - 1 of channel c);
 *   - Resid: token-major RDATA records of 32 bits, token t, channel c (bank t mod B, word (t/B)*D + c), the 24-bit
 *     value sign-extended.
 * One record per cycle while the sender takes them: the buffer RAM's read register is the stage in front of the
 * sender and holds while the sender is full.
 */
module {{ name }}
(
    input  wire              clk,
    input  wire              rst,

    input  wire [63:0]       cmd,
    input  wire              start,
    output wire              idle,

    output wire              rd_re,
    output wire [2:0]        rd_id,
    output wire [{{ l.aw - 1 }}:0]       rd_addr,
    input  wire [{{ l.b * l.m * 8 - 1 }}:0]     rd_int8,       // the read register of buffer rd_id (INT8 buffers)
    input  wire [{{ l.b * l.b * 8 - 1 }}:0]     rd_v,
    input  wire [{{ l.b * 24 - 1 }}:0]     rd_resid,

    output wire [{{ l.tx_bits - 1 }}:0]     rec_data,
    output wire [{{ l.tx_cw - 1 }}:0]        rec_words,
    output wire              rec_valid,
    input  wire              rec_ready
);

localparam [2:0] BUF_V     = 3'd3;
localparam [2:0] BUF_RESID = 3'd5;
localparam [2:0] BUF_FFN   = 3'd7;
localparam [{{ l.aw - 1 }}:0] GD = {{ l.aw }}'d{{ l.gd }};
localparam [{{ l.aw - 1 }}:0] GF = {{ l.aw }}'d{{ l.gf }};
localparam [{{ l.aw - 1 }}:0] DW = {{ l.aw }}'d{{ l.d }};
localparam [{{ l.aw - 1 }}:0] TT = {{ l.aw }}'d{{ l.tt }};
localparam [{{ l.tx_cw - 1 }}:0] W_XDATA = {{ l.tx_cw }}'d{{ l.words_x }};
localparam [{{ l.tx_cw - 1 }}:0] W_VDATA = {{ l.tx_cw }}'d{{ l.words_vdata }};
localparam [{{ l.tx_cw - 1 }}:0] W_RDATA = {{ l.tx_cw }}'d{{ l.words_rdata }};
localparam [{{ l.lb - 1 }}:0] ROW_LAST = {{ l.lb }}'d{{ l.b - 1 }};

wire [2:0]  c_buf = cmd[10:8];
wire [12:0] c_tokens = cmd[23:11];
wire [12:0] c_tokens_m1 = c_tokens - 13'd1;

reg         active;
reg  [2:0]  id;
// outer loop: tokens (INT8, Resid) or channels (V); inner loop: groups, token groups or channels
reg  [12:0] outer, outer_last;
reg  [12:0] inner, inner_last;
reg  [{{ l.lb - 1 }}:0] bank;             // outer mod B
reg  [{{ l.aw - 1 }}:0] base;             // (outer / B) * step
reg  [{{ l.aw - 1 }}:0] step;

reg         st_valid;
reg  [{{ l.lb - 1 }}:0] st_bank;

wire        fire = st_valid && rec_ready;
wire        issue = active && (!st_valid || fire);
wire        inner_end = inner == inner_last;

assign rd_re = issue;
assign rd_id = id;
assign rd_addr = base + { {{ "{" }}{{ l.aw - 13 }}{1'b0}}, inner};
assign idle = !active && !st_valid;

always @(posedge clk) begin
    if (rst) begin
        active <= 1'b0;
        st_valid <= 1'b0;
    end else begin
        if (start) begin
            active <= 1'b1;
        end else if (issue && inner_end && outer == outer_last) begin
            active <= 1'b0;
        end
        if (issue) begin
            st_valid <= 1'b1;
        end else if (fire) begin
            st_valid <= 1'b0;
        end
    end
end

always @(posedge clk) begin
    if (start) begin
        id <= c_buf;
        outer <= 13'd0;
        inner <= 13'd0;
        bank <= {{ l.lb }}'d0;
        base <= {{ l.aw }}'d0;
        case (c_buf)
            BUF_V: begin
                outer_last <= 13'd{{ l.d - 1 }};
                inner_last <= c_tokens_m1 >> {{ l.lb }};
                step <= TT;
            end
            BUF_RESID: begin
                outer_last <= c_tokens_m1;
                inner_last <= 13'd{{ l.d - 1 }};
                step <= DW;
            end
            BUF_FFN: begin
                outer_last <= c_tokens_m1;
                inner_last <= 13'd{{ l.gf - 1 }};
                step <= GF;
            end
            default: begin
                outer_last <= c_tokens_m1;
                inner_last <= 13'd{{ l.gd - 1 }};
                step <= GD;
            end
        endcase
    end else if (issue) begin
        if (inner_end) begin
            inner <= 13'd0;
            outer <= outer + 13'd1;
            bank <= bank + {{ l.lb }}'d1;
            if (bank == ROW_LAST) begin
                base <= base + step;
            end
        end else begin
            inner <= inner + 13'd1;
        end
    end
    if (issue) begin
        st_bank <= bank;
    end
end

wire [{{ l.m * 8 - 1 }}:0] x_word = rd_int8[st_bank*{{ l.m * 8 }} +: {{ l.m * 8 }}];
wire [{{ l.b * 8 - 1 }}:0] v_word = rd_v[st_bank*{{ l.b * 8 }} +: {{ l.b * 8 }}];
wire [23:0] r_word = rd_resid[st_bank*24 +: 24];

assign rec_valid = st_valid;
assign rec_data = (id == BUF_V) ? {{ v_rec }} :
                  (id == BUF_RESID) ? {{ r_rec }} : {{ x_rec }};
assign rec_words = (id == BUF_V) ? W_VDATA : (id == BUF_RESID) ? W_RDATA : W_XDATA;

// unused: the instruction's other bits
wire _unused = &{1'b0, cmd};

endmodule

`resetall
