{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Signed 8x8 multiply in one ECP5 sysDSP MULT18X18D, using the block's own input and output registers.
 *
 * Why a primitive: Yosys maps a multiply to MULT18X18D but leaves every register around it in the fabric, so each
 * product pays a fabric -> DSP and a DSP -> fabric route inside one clock period (81 MHz for an 8x8 2:8 array on
 * ECP5-85k). With the registers inside the block only the multiplier is between them.
 *
 * Latency 2: a and b are registered (REG_INPUTA/B) when ce is high; the product is registered (REG_OUTPUT) when ce is
 * high one cycle later. No reset: data registers only (the array controller tracks validity), GSR disabled.
 * Operands are sign-extended to 18 bits and multiplied signed (SIGNEDA = SIGNEDB = 1); p is the low 16 bits of the
 * 36-bit product, which hold the INT8 x INT8 product exactly.
 */
module {{ name }}
(
    input  wire         clk,
    input  wire         ce,
    input  wire [7:0]   a,
    input  wire [7:0]   b,
    output wire [15:0]  p
);

{%- raw %}
wire [17:0] a_ext = {{10{a[7]}}, a};
wire [17:0] b_ext = {{10{b[7]}}, b};
{%- endraw %}
// bits 35:16 of the product are copies of bit 15 (|a*b| <= 2^14): read out of the block, deliberately unused
/* verilator lint_off UNUSEDSIGNAL */
wire [35:0] product;
/* verilator lint_on UNUSEDSIGNAL */

MULT18X18D #(
    .REG_INPUTA_CLK("CLK0"),
    .REG_INPUTA_CE("CE0"),
    .REG_INPUTA_RST("RST0"),
    .REG_INPUTB_CLK("CLK0"),
    .REG_INPUTB_CE("CE0"),
    .REG_INPUTB_RST("RST0"),
    .REG_INPUTC_CLK("NONE"),
    .REG_PIPELINE_CLK("NONE"),
    .REG_OUTPUT_CLK("CLK0"),
    .REG_OUTPUT_CE("CE0"),
    .REG_OUTPUT_RST("RST0"),
    .GSR("DISABLED"),
    .RESETMODE("SYNC")
)
dsp (
        .A0(a_ext[0]),
        .A1(a_ext[1]),
        .A2(a_ext[2]),
        .A3(a_ext[3]),
        .A4(a_ext[4]),
        .A5(a_ext[5]),
        .A6(a_ext[6]),
        .A7(a_ext[7]),
        .A8(a_ext[8]),
        .A9(a_ext[9]),
        .A10(a_ext[10]),
        .A11(a_ext[11]),
        .A12(a_ext[12]),
        .A13(a_ext[13]),
        .A14(a_ext[14]),
        .A15(a_ext[15]),
        .A16(a_ext[16]),
        .A17(a_ext[17]),
        .B0(b_ext[0]),
        .B1(b_ext[1]),
        .B2(b_ext[2]),
        .B3(b_ext[3]),
        .B4(b_ext[4]),
        .B5(b_ext[5]),
        .B6(b_ext[6]),
        .B7(b_ext[7]),
        .B8(b_ext[8]),
        .B9(b_ext[9]),
        .B10(b_ext[10]),
        .B11(b_ext[11]),
        .B12(b_ext[12]),
        .B13(b_ext[13]),
        .B14(b_ext[14]),
        .B15(b_ext[15]),
        .B16(b_ext[16]),
        .B17(b_ext[17]),
        .C0(1'b0),
        .C1(1'b0),
        .C2(1'b0),
        .C3(1'b0),
        .C4(1'b0),
        .C5(1'b0),
        .C6(1'b0),
        .C7(1'b0),
        .C8(1'b0),
        .C9(1'b0),
        .C10(1'b0),
        .C11(1'b0),
        .C12(1'b0),
        .C13(1'b0),
        .C14(1'b0),
        .C15(1'b0),
        .C16(1'b0),
        .C17(1'b0),
        .SIGNEDA(1'b1),
        .SIGNEDB(1'b1),
        .SOURCEA(1'b0),
        .SOURCEB(1'b0),
        .CLK0(clk),
        .CE0(ce),
        .RST0(1'b0),
        .P0(product[0]),
        .P1(product[1]),
        .P2(product[2]),
        .P3(product[3]),
        .P4(product[4]),
        .P5(product[5]),
        .P6(product[6]),
        .P7(product[7]),
        .P8(product[8]),
        .P9(product[9]),
        .P10(product[10]),
        .P11(product[11]),
        .P12(product[12]),
        .P13(product[13]),
        .P14(product[14]),
        .P15(product[15]),
        .P16(product[16]),
        .P17(product[17]),
        .P18(product[18]),
        .P19(product[19]),
        .P20(product[20]),
        .P21(product[21]),
        .P22(product[22]),
        .P23(product[23]),
        .P24(product[24]),
        .P25(product[25]),
        .P26(product[26]),
        .P27(product[27]),
        .P28(product[28]),
        .P29(product[29]),
        .P30(product[30]),
        .P31(product[31]),
        .P32(product[32]),
        .P33(product[33]),
        .P34(product[34]),
        .P35(product[35])
);

assign p = product[15:0];

endmodule

`resetall
