{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Simple dual-port RAM of the accelerator's buffers: {{ depth }} words of {{ width }} bits, one synchronous write port{% if byte_enables %}
 * with byte enables (wbe[i] writes bits [8i +: 8]){% endif %} and one synchronous read port with a read enable.
 *
 * rdata is the word at raddr one clock edge after a cycle with re high, and holds while re is low: the engines
 * use the read register as a pipeline stage that stalls by not reading. Reading and writing one address in the
 * same cycle returns the old word (no engine does it). No reset: the contents and rdata are data.
 *
 * Written as the plain pattern every synthesis tool maps to block RAM (Yosys: one $mem_v2 cell with one write and
 * one read port, then memory_bram / the FPGA flow's RAM mapping).
 */
module {{ name }}
(
    input  wire              clk,
    input  wire              we,
    input  wire [{{ aw - 1 }}:0]       waddr,
    input  wire [{{ width - 1 }}:0]     wdata,{% if byte_enables %}
    input  wire [{{ width / 8 - 1 }}:0]      wbe,{% endif %}
    input  wire              re,
    input  wire [{{ aw - 1 }}:0]       raddr,
    output reg  [{{ width - 1 }}:0]     rdata
);

reg [{{ width - 1 }}:0] mem [0:{{ depth - 1 }}];
{% if byte_enables %}
integer i;

always @(posedge clk) begin
    if (we) begin
        for (i = 0; i < {{ width / 8 }}; i = i + 1) begin
            if (wbe[i]) begin
                mem[waddr][i*8 +: 8] <= wdata[i*8 +: 8];
            end
        end
    end
end
{% else %}
always @(posedge clk) begin
    if (we) begin
        mem[waddr] <= wdata;
    end
end
{% endif %}
always @(posedge clk) begin
    if (re) begin
        rdata <= mem[raddr];
    end
end

endmodule

`resetall
