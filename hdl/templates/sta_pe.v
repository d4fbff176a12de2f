{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * One processing element of the N:M sparse PE array.
 *
 * N INT8 multipliers, each fed through an M:1 select driven by a log2(M)-bit index (sparse beats) or bypassed
 * (dense beats: lane s feeds multiplier s). The N products are summed into an ACC_W-bit wrapping accumulator.
 * When a tile ends the result is copied into the shadow register, which is one link of the column's result
 * shift chain, so the next tile accumulates while this one drains.
 *
 * Pipeline (4 cycles): select -> register -> multiply -> register -> sum of the N products -> register ->
 * accumulate -> register. The sum has its own stage so that the accumulator's carry chain is the only adder between
 * two registers (the sum and the accumulate in one stage limited an 8x8 2:8 array on ECP5 to 88 MHz).
 * There is no reset: every register here is a data register; validity is tracked by the array controller.
 */
module {{ name }} #
(
    // Multipliers per PE (non-zeros per group); 1 <= N <= M
    parameter N = {{ n }},
    // Group size; a power of two in {2, 4, 8, 16}
    parameter M = {{ m }},
    // Accumulator width in bits (wraps on overflow); 17 <= ACC_W <= 48
    parameter ACC_W = {{ acc_width }}
)
(
    input  wire                       clk,

    /*
     * Control, shared by every PE (from the array controller)
     */
    input  wire                       en,          // pipeline advance (low while the array stalls)
    input  wire                       acc_en,      // a beat reaches the accumulator
    input  wire                       acc_clear,   // ... and it is the first beat of a tile
    input  wire                       capture,     // the previous cycle's beat ended a tile: copy the accumulator into the shadow register
    input  wire                       shift,       // move the result chain up by one row

    /*
     * Operands
     */
    input  wire                       dense,       // 1: select bypassed
    input  wire [N*8-1:0]             w_val,       // N signed INT8 weight values
    input  wire [N*$clog2(M)-1:0]     w_idx,       // N positions inside the group
    input  wire [M*8-1:0]             act,         // the M signed INT8 activations of the group

    /*
     * Result shift chain (towards row 0)
     */
    input  wire [ACC_W-1:0]           shadow_in,
    output wire [ACC_W-1:0]           shadow_out
);

localparam IW = $clog2(M);

// bail out on bad parameters (the generator checks them too; this guards hand edits)
initial begin
    if (M != 2 && M != 4 && M != 8 && M != 16) begin
        $error("Error: M must be 2, 4, 8 or 16 (instance %m)");
        $finish;
    end
    if (N < 1 || N > M) begin
        $error("Error: N must satisfy 1 <= N <= M (instance %m)");
        $finish;
    end
    if (ACC_W < 17 || ACC_W > 48) begin
        $error("Error: ACC_W must be in 17..48 (instance %m)");
        $finish;
    end
end

wire [7:0] act_lane [0:M-1];

// product of every lane, 16-bit signed, packed
wire [N*16-1:0] prod_flat;

genvar j, s;

generate
    for (j = 0; j < M; j = j + 1) begin : g_act
        assign act_lane[j] = act[j*8 +: 8];
    end

    for (s = 0; s < N; s = s + 1) begin : g_lane
        wire [IW-1:0] idx = w_idx[s*IW +: IW];

{%- if ecp5_dsp %}
        // stages 1 and 2 inside one ECP5 sysDSP block ({{ mul_name }}): its input registers take the weight and
        // the selected activation (or the bypass), its output register the full 16-bit signed product
        wire [7:0] op_a = dense ? act_lane[s] : act_lane[idx];

        {{ mul_name }} mul (
            .clk(clk),
            .ce(en),
            .a(w_val[s*8 +: 8]),
            .b(op_a),
            .p(prod_flat[s*16 +: 16])
        );
{%- else %}
        // stage 1: the select (or its bypass) and the weight, registered: the multiplier's input registers
        reg signed [7:0] op_w_reg;
        reg signed [7:0] op_a_reg;

        always @(posedge clk) begin
            if (en) begin
                op_w_reg <= w_val[s*8 +: 8];
                op_a_reg <= dense ? act_lane[s] : act_lane[idx];
            end
        end

        // stage 2: the product at its full 16-bit width (both operands signed, so the multiply is signed;
        // assigning to a 16-bit net makes it a 16-bit multiply), registered: the multiplier's output register
        wire signed [15:0] product = op_w_reg * op_a_reg;
        reg  signed [15:0] prod_reg;

        always @(posedge clk) begin
            if (en) begin
                prod_reg <= product;
            end
        end

        assign prod_flat[s*16 +: 16] = prod_reg;
{%- endif %}
    end
endgenerate

// stage 3: sum of the N products, registered. |sum| <= N * 2^14 < 2^(16 + clog2(N)), so SW_FULL bits hold it
// exactly; an accumulator narrower than that wraps anyway, so the sum is kept at min(SW_FULL, ACC_W) bits.
localparam SW_FULL = 17 + $clog2(N);
localparam SW = SW_FULL < ACC_W ? SW_FULL : ACC_W;

reg [SW-1:0] prod_sum;
reg [SW-1:0] sum_reg;
integer i;

{%- raw %}
always @* begin
    prod_sum = {SW{1'b0}};
    for (i = 0; i < N; i = i + 1) begin
        prod_sum = prod_sum + {{(SW-16){prod_flat[i*16+15]}}, prod_flat[i*16 +: 16]};
    end
end
{% endraw %}
always @(posedge clk) begin
    if (en) begin
        sum_reg <= prod_sum;
    end
end

// stage 4: the sum, sign-extended to ACC_W, added to the accumulator (wrapping)
wire [ACC_W-1:0] sum_ext;

generate
    if (SW < ACC_W) begin : g_sum_ext
        assign sum_ext = {{"{{"}}(ACC_W-SW){sum_reg[SW-1]}}, sum_reg};
    end else begin : g_sum_full
        assign sum_ext = sum_reg;
    end
endgenerate

reg  [ACC_W-1:0] acc_reg;
reg  [ACC_W-1:0] shadow_reg;
wire [ACC_W-1:0] acc_next = (acc_clear ? {ACC_W{1'b0}} : acc_reg) + sum_ext;

always @(posedge clk) begin
    if (acc_en) begin
        acc_reg <= acc_next;
    end
    if (capture) begin
        shadow_reg <= acc_reg;
    end else if (shift) begin
        shadow_reg <= shadow_in;
    end
end

assign shadow_out = shadow_reg;

endmodule

`resetall
