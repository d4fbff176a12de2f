{{ header }}
{% raw %}`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Simulation model of the ECP5 sysDSP MULT18X18D, only the configuration sta_mul8x8_ecp5 uses: A and B input
 * registers and the output register, all on CLK0 / CE0 / RST0 (synchronous reset), no pipeline register, signed or
 * unsigned operands per SIGNEDA / SIGNEDB, C and SOURCEA/B tied low. Any other parameter value stops the
 * simulation, so the model cannot silently stand in for a configuration it does not implement.
 *
 * For simulation only (Verilator, Icarus): synthesis uses the vendor cell, which Yosys and nextpnr know. This model
 * follows the register behaviour documented for the sysDSP block; it is not a gate-level copy of Lattice's library.
 */
module MULT18X18D #
(
    parameter REG_INPUTA_CLK = "NONE",
    parameter REG_INPUTA_CE = "CE0",
    parameter REG_INPUTA_RST = "RST0",
    parameter REG_INPUTB_CLK = "NONE",
    parameter REG_INPUTB_CE = "CE0",
    parameter REG_INPUTB_RST = "RST0",
    parameter REG_INPUTC_CLK = "NONE",
    parameter REG_PIPELINE_CLK = "NONE",
    parameter REG_OUTPUT_CLK = "NONE",
    parameter REG_OUTPUT_CE = "CE0",
    parameter REG_OUTPUT_RST = "RST0",
    parameter GSR = "ENABLED",
    parameter RESETMODE = "SYNC"
)
(
    input  wire A0,
    input  wire A1,
    input  wire A2,
    input  wire A3,
    input  wire A4,
    input  wire A5,
    input  wire A6,
    input  wire A7,
    input  wire A8,
    input  wire A9,
    input  wire A10,
    input  wire A11,
    input  wire A12,
    input  wire A13,
    input  wire A14,
    input  wire A15,
    input  wire A16,
    input  wire A17,
    input  wire B0,
    input  wire B1,
    input  wire B2,
    input  wire B3,
    input  wire B4,
    input  wire B5,
    input  wire B6,
    input  wire B7,
    input  wire B8,
    input  wire B9,
    input  wire B10,
    input  wire B11,
    input  wire B12,
    input  wire B13,
    input  wire B14,
    input  wire B15,
    input  wire B16,
    input  wire B17,
    input  wire C0,
    input  wire C1,
    input  wire C2,
    input  wire C3,
    input  wire C4,
    input  wire C5,
    input  wire C6,
    input  wire C7,
    input  wire C8,
    input  wire C9,
    input  wire C10,
    input  wire C11,
    input  wire C12,
    input  wire C13,
    input  wire C14,
    input  wire C15,
    input  wire C16,
    input  wire C17,
    input  wire SIGNEDA,
    input  wire SIGNEDB,
    input  wire SOURCEA,
    input  wire SOURCEB,
    input  wire CLK0,
    input  wire CE0,
    input  wire RST0,
    output wire P0,
    output wire P1,
    output wire P2,
    output wire P3,
    output wire P4,
    output wire P5,
    output wire P6,
    output wire P7,
    output wire P8,
    output wire P9,
    output wire P10,
    output wire P11,
    output wire P12,
    output wire P13,
    output wire P14,
    output wire P15,
    output wire P16,
    output wire P17,
    output wire P18,
    output wire P19,
    output wire P20,
    output wire P21,
    output wire P22,
    output wire P23,
    output wire P24,
    output wire P25,
    output wire P26,
    output wire P27,
    output wire P28,
    output wire P29,
    output wire P30,
    output wire P31,
    output wire P32,
    output wire P33,
    output wire P34,
    output wire P35
);

initial begin
    if (REG_INPUTA_CLK != "CLK0" || REG_INPUTB_CLK != "CLK0" || REG_OUTPUT_CLK != "CLK0"
            || REG_INPUTA_CE != "CE0" || REG_INPUTB_CE != "CE0" || REG_OUTPUT_CE != "CE0"
            || REG_INPUTA_RST != "RST0" || REG_INPUTB_RST != "RST0" || REG_OUTPUT_RST != "RST0"
            || REG_INPUTC_CLK != "NONE" || REG_PIPELINE_CLK != "NONE" || RESETMODE != "SYNC" || GSR != "DISABLED") begin
        $error("Error: this MULT18X18D model implements only A/B input and output registers on CLK0/CE0/RST0, GSR disabled (instance %m)");
        $finish;
    end
end

wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
wire [17:0] c = {C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0};

reg  [17:0] a_reg;
reg  [17:0] b_reg;
reg         signed_a_reg;
reg         signed_b_reg;
reg  [35:0] p_reg;

// each operand extended to 36 bits as signed or unsigned, then multiplied; the low 36 bits are the product
wire [35:0] a_wide = {{18{signed_a_reg & a_reg[17]}}, a_reg};
wire [35:0] b_wide = {{18{signed_b_reg & b_reg[17]}}, b_reg};
wire [35:0] product = a_wide * b_wide;

always @(posedge CLK0) begin
    if (RST0) begin
        a_reg <= 18'd0;
        b_reg <= 18'd0;
        signed_a_reg <= 1'b0;
        signed_b_reg <= 1'b0;
        p_reg <= 36'd0;
    end else if (CE0) begin
        a_reg <= a;
        b_reg <= b;
        signed_a_reg <= SIGNEDA;
        signed_b_reg <= SIGNEDB;
        p_reg <= product;
    end
end

// the unimplemented inputs must be tied low (sta_mul8x8_ecp5 does so)
always @(posedge CLK0) begin
    if (c != 18'd0 || SOURCEA || SOURCEB) begin
        $error("Error: MULT18X18D model: C and SOURCEA/B must be tied low (instance %m)");
        $finish;
    end
end

assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p_reg;

endmodule

`resetall{% endraw %}
