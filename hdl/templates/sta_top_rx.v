{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Record receiver: W = {{ w }}-bit stream words in, records of 1 ... {{ k }} words out (docs/accelerator.md "The
 * stream": word k of a record is record bits [k*W +: W]).
 *
 * The receiver does not know the record formats: the decoder tells it, through `need`, how many words the record
 * being assembled has. While no record waits, that is the record the decoder expects next; in a cycle in which the
 * decoder takes the waiting record (rec_valid && rec_ready) it is the record after that one, which only the decoder
 * can know (it may depend on the opcode it is taking). A word is accepted while no complete record waits, or in the
 * cycle the waiting one is taken, so records of one word pass at one per cycle.
 *
 * rec_data holds the record in its low need*W bits; bits above are left from earlier, longer records (the decoder
 * reads only the fields of the record it expects).
 */
module {{ name }}
(
    input  wire              clk,
    input  wire              rst,

    input  wire [{{ w - 1 }}:0]       s_tdata,
    input  wire              s_tvalid,
    output wire              s_tready,

    input  wire [{{ cw - 1 }}:0]        need,       // words of the record under assembly, 1 ... {{ k }}
    output wire [{{ k * w - 1 }}:0]      rec_data,
    output wire              rec_valid,
    input  wire              rec_ready
);

reg           full;         // a complete record waits in rec
reg [{{ cw - 1 }}:0]     cnt;          // words of the record under assembly received so far

assign s_tready = !full || rec_ready;
assign rec_valid = full;

wire take = s_tvalid && s_tready;
wire done = cnt + {{ cw }}'d1 == need;

always @(posedge clk) begin
    if (rst) begin
        full <= 1'b0;
        cnt <= {{ cw }}'d0;
    end else begin
        if (take) begin
            cnt <= done ? {{ cw }}'d0 : cnt + {{ cw }}'d1;
        end
        if (take && done) begin
            full <= 1'b1;
        end else if (rec_ready) begin
            full <= 1'b0;
        end
    end
end

genvar gk;

generate
    for (gk = 0; gk < {{ k }}; gk = gk + 1) begin : g_word
        reg [{{ w - 1 }}:0] word_q;

        always @(posedge clk) begin
            if (take && cnt == gk) begin
                word_q <= s_tdata;
            end
        end

        assign rec_data[gk*{{ w }} +: {{ w }}] = word_q;
    end
endgenerate

endmodule

`resetall
