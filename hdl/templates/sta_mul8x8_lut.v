{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Signed 8x8 multiply in logic (LUTs and carry chains), for the PEs beyond the part's DSP blocks
 * (`--dsp ecp5-mixed`). Same ports as the DSP multiplier {{ dsp_name }}; one cycle more latency, because this
 * module also does what the PE's landing register does for a DSP block: its product is already in the fabric.
 *
 * Why written out: a `*` would be mapped to a DSP block by the synthesis tool whether or not one is left. Radix-4
 * Booth recoding of b gives four partial products instead of eight; each is a, 2a or 0, inverted when the digit is
 * negative (every bit a function of 5 inputs: one LUT5), and the +1 that completes each inversion sits in a bit
 * the next partial product leaves zero (the last one is completed in stage 1), so the sum has four operands and no
 * fifth. On ECP5 the two-stage form of this structure took about 100 LUT4 and 13 CCU2C (synth_ecp5 -nodsp; a plain
 * `*` mapped to logic takes 290 LUT4 and 106 PFUMX); the three stages add carry chains and registers: about 17
 * TRELLIS_COMB and 34 flip-flops more per multiplier in an 8x8 4:8 array with 128 of them.
 *
 * Latency 3, one adder per stage (the same work in two stages limited an 8x8 4:8 array on ECP5 to 114 MHz:
 * Booth recoding and three carry chains between two registers, 13 logic levels):
 *   stage 1: the four partial products and their completions, from a and b (the PE's select registers);
 *   stage 2: the sums of partial products 0 + 1 and 2 + 3;
 *   stage 3: the product.
 * Every register loads when ce is high. No reset: data registers only (the array controller tracks validity).
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

// b with its implicit b[-1] = 0 below bit 0, and a sign-extended to 9 bits (2a needs them)
wire [8:0] b_ext = {b, 1'b0};
wire [8:0] a_ext = {a[7], a};

// partial product k: |d_k| a (10 bits, sign-extended) inverted when d_k < 0; neg_k completes the negation
reg  [9:0] mag [0:3];
reg  [3:0] neg;
integer k;

always @* begin
    for (k = 0; k < 4; k = k + 1) begin
        // digits 100, 101, 110 are negative (111 is -0: no correction)
        neg[k] = b_ext[2*k+2] & ~(b_ext[2*k+1] & b_ext[2*k]);
        case (b_ext[2*k +: 3])
            3'b001, 3'b010, 3'b101, 3'b110: mag[k] = {a_ext[8], a_ext} ^ {10{neg[k]}};
            3'b011, 3'b100:                 mag[k] = {a_ext, 1'b0} ^ {10{neg[k]}};
            default:                        mag[k] = 10'd0;
        endcase
    end
end

// stage 1: partial products 0..2 inverted but not yet completed, with their completions neg_0..2; partial
// product 3 completed here (its +1 at bit 6 has no zero bit of another term to sit in)
reg  [9:0] pp0_reg;
reg  [9:0] pp1_reg;
reg  [9:0] pp2_reg;
reg  [9:0] pp3_reg;
reg  [2:0] neg_reg;

always @(posedge clk) begin
    if (ce) begin
        pp0_reg <= mag[0];
        pp1_reg <= mag[1];
        pp2_reg <= mag[2];
        pp3_reg <= mag[3] + {9'd0, neg[3]};
        neg_reg <= neg[2:0];
    end
end

// the partial products at their weights 4^k, sign-extended to 16 bits; neg_k (weight 4^k) rides in bit 2k of
// term k+1, whose low 2k+2 bits are zero
{%- raw %}
wire [15:0] term0 = {{6{pp0_reg[9]}}, pp0_reg};
wire [15:0] term1 = {{4{pp1_reg[9]}}, pp1_reg, 1'b0, neg_reg[0]};
wire [15:0] term2 = {{2{pp2_reg[9]}}, pp2_reg, 1'b0, neg_reg[1], 2'b00};
wire [15:0] term3 = {pp3_reg, 1'b0, neg_reg[2], 4'b0000};
{%- endraw %}

// stage 2: two sums of two terms each
reg  [15:0] sum01_reg;
reg  [15:0] sum23_reg;

always @(posedge clk) begin
    if (ce) begin
        sum01_reg <= term0 + term1;
        sum23_reg <= term2 + term3;
    end
end

// stage 3: the product (exact modulo 2^16, and |a*b| <= 2^14 fits)
reg  [15:0] p_reg;

always @(posedge clk) begin
    if (ce) begin
        p_reg <= sum01_reg + sum23_reg;
    end
end

assign p = p_reg;

endmodule

`resetall
