{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Record sender: records of 1 ... {{ k }} words in, W = {{ w }}-bit stream words out, word k = record bits [k*W +: W],
 * m_tlast on the last word of each record.
 *
 * Two record registers: `cur` is being sent (its low word is on m_tdata), `nxt` holds the record taken while cur is
 * busy. in_ready is a register (nxt empty), so nothing combinational runs from m_tready back into the engines. When
 * cur's last word goes out, cur reloads from nxt, or straight from the input when nxt is empty: one-word records
 * leave at one per cycle. m_tdata, m_tlast and m_tvalid come from registers.
 */
module {{ name }}
(
    input  wire              clk,
    input  wire              rst,

    input  wire [{{ k * w - 1 }}:0]      in_data,
    input  wire [{{ cw - 1 }}:0]        in_words,   // words of this record, 1 ... {{ k }}
    input  wire              in_valid,
    output wire              in_ready,

    output wire [{{ w - 1 }}:0]       m_tdata,
    output wire              m_tlast,
    output wire              m_tvalid,
    input  wire              m_tready,

    output wire              idle        // nothing taken and not yet sent
);

reg [{{ k * w - 1 }}:0] cur;
reg [{{ cw - 1 }}:0]     left;         // words of cur still to send
reg [{{ k * w - 1 }}:0] nxt;
reg [{{ cw - 1 }}:0]     nxt_words;
reg           nxt_valid;

assign in_ready = !nxt_valid;
assign m_tdata = cur[{{ w - 1 }}:0];
assign m_tvalid = left != {{ cw }}'d0;
assign m_tlast = left == {{ cw }}'d1;
assign idle = !nxt_valid && left == {{ cw }}'d0;

wire fire = m_tvalid && m_tready;
wire in_fire = in_valid && in_ready;
// cur is empty, or its last word leaves now
wire cur_free = left == {{ cw }}'d0 || (left == {{ cw }}'d1 && fire);

always @(posedge clk) begin
    if (rst) begin
        left <= {{ cw }}'d0;
        nxt_valid <= 1'b0;
    end else if (cur_free) begin
        if (nxt_valid) begin
            cur <= nxt;
            left <= nxt_words;
            nxt_valid <= 1'b0;
        end else if (in_fire) begin
            cur <= in_data;
            left <= in_words;
        end else begin
            left <= {{ cw }}'d0;
        end
    end else begin
        if (fire) begin
{%- if k > 1 %}
            cur <= {{ "{{" }}{{ w }}{1'b0}}, cur[{{ k * w - 1 }}:{{ w }}]};
{%- endif %}
            left <= left - {{ cw }}'d1;
        end
        if (in_fire) begin
            nxt <= in_data;
            nxt_words <= in_words;
            nxt_valid <= 1'b1;
        end
    end
end

endmodule

`resetall
