{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Signed 8x8 multiply in logic (LUTs and carry chains), for the PEs beyond the part's DSP blocks
 * (`--dsp ecp5-mixed`). Same ports and timing as the DSP multiplier {{ dsp_name }}, so a PE does not know which
 * one it has.
 *
 * Why written out: a `*` would be mapped to a DSP block by the synthesis tool whether or not one is left. Radix-4
 * Booth recoding of b gives four partial products instead of eight; each is a, 2a or 0, inverted when the digit is
 * negative (every bit a function of 5 inputs: one LUT5), and the +1 that completes each inversion joins the sum as
 * one more operand. About 100 LUT4 and 13 CCU2C on ECP5 (synth_ecp5 -nodsp on this structure; a plain `*` mapped
 * to logic takes 290 LUT4 and 106 PFUMX).
 *
 * Latency 2: a and b are registered when ce is high; the product is registered when ce is high one cycle later.
 * No reset: data registers only (the array controller tracks validity).
 *
 *   b = sum_k d_k 4^k, d_k = -2 b[2k+1] + b[2k] + b[2k-1] (b[-1] = 0) in {-2..2}, k = 0..3
 *   a * b = sum_k (d_k a) 4^k, with d_k a = (|d_k| a) XOR neg_k + neg_k (two's complement)
 */
module {{ name }}
(
    input  wire         clk,
    input  wire         ce,
    input  wire [7:0]   a,
    input  wire [7:0]   b,
    output wire [15:0]  p
);

reg  [7:0]  a_reg;
reg  [7:0]  b_reg;
reg  [15:0] p_reg;

always @(posedge clk) begin
    if (ce) begin
        a_reg <= a;
        b_reg <= b;
    end
end

// b with its implicit b[-1] = 0 below bit 0, and a sign-extended to 9 bits (2a needs them)
wire [8:0] b_ext = {b_reg, 1'b0};
wire [8:0] a_ext = {a_reg[7], a_reg};

// partial product k: |d_k| a (10 bits, sign-extended) inverted when d_k < 0; neg_k completes the negation
reg  [9:0] pp [0:3];
reg  [3:0] neg;
integer k;

always @* begin
    for (k = 0; k < 4; k = k + 1) begin
        // digits 100, 101, 110 are negative (111 is -0: no correction)
        neg[k] = b_ext[2*k+2] & ~(b_ext[2*k+1] & b_ext[2*k]);
        case (b_ext[2*k +: 3])
            3'b001, 3'b010, 3'b101, 3'b110: pp[k] = {a_ext[8], a_ext} ^ {10{neg[k]}};
            3'b011, 3'b100:                 pp[k] = {a_ext, 1'b0} ^ {10{neg[k]}};
            default:                        pp[k] = 10'd0;
        endcase
    end
end

// the four partial products at their weights 4^k, sign-extended to 16 bits, and the completions of the negations
{%- raw %}
wire [15:0] term0 = {{6{pp[0][9]}}, pp[0]};
wire [15:0] term1 = {{4{pp[1][9]}}, pp[1], 2'b00};
wire [15:0] term2 = {{2{pp[2][9]}}, pp[2], 4'b0000};
{%- endraw %}
wire [15:0] term3 = {pp[3], 6'b000000};
wire [15:0] completion = {9'd0, neg[3], 1'b0, neg[2], 1'b0, neg[1], 1'b0, neg[0]};

always @(posedge clk) begin
    if (ce) begin
        p_reg <= (term0 + term1) + (term2 + term3) + completion;
    end
end

assign p = p_reg;

endmodule

`resetall
