// Inner design model for the bounded proof of the narrow-stream wrapper (generators/tests/formal.rs): a two-entry
// FIFO whose output beat is a fixed function of its input beat (bit i of the output is bit i mod IN_BITS of the
// input), with nondeterministic but fair stalls: it may refuse input and delay output for up to two cycles in a row.
// It obeys the valid/ready rule itself (out_valid is never withdrawn before out_ready, out_data stays put meanwhile).
`default_nettype none
module sta_formal_inner #(
    parameter IN_BITS = `STA_IN_BITS,
    parameter OUT_BITS = `STA_OUT_BITS
) (
    input  wire                clk,
    input  wire                rst,
    input  wire [IN_BITS-1:0]  in_data,
    input  wire                in_valid,
    output wire                in_ready,
    output wire [OUT_BITS-1:0] out_data,
    output wire                out_valid,
    input  wire                out_ready
);
    (* anyseq *) wire stall_in_any;
    (* anyseq *) wire stall_out_any;

    reg [IN_BITS-1:0] mem0, mem1;   // mem0 is the head
    reg [1:0]         count;
    reg [1:0]         in_streak, out_streak;
    reg               presented;    // out_valid was high and not taken last cycle: keep it

    wire stall_in = stall_in_any && in_streak < 2'd2;
    wire stall_out = stall_out_any && out_streak < 2'd2 && !presented;

    assign in_ready = count != 2'd2 && !stall_in;
    assign out_valid = count != 2'd0 && !stall_out;

    genvar i;
    generate
        for (i = 0; i < OUT_BITS; i = i + 1) begin : g_out
            assign out_data[i] = mem0[i % IN_BITS];
        end
    endgenerate

    wire push = in_valid && in_ready;
    wire pop = out_valid && out_ready;

    always @(posedge clk) begin
        if (pop) begin
            mem0 <= (count == 2'd2) ? mem1 : in_data;
        end else if (push && count == 2'd0) begin
            mem0 <= in_data;
        end
        if (push && ((count == 2'd1 && !pop) || (count == 2'd2 && pop))) begin
            mem1 <= in_data;
        end
        if (rst) begin
            count <= 2'd0;
            in_streak <= 2'd0;
            out_streak <= 2'd0;
            presented <= 1'b0;
        end else begin
            count <= count + {1'b0, push} - {1'b0, pop};
            in_streak <= stall_in ? in_streak + 2'd1 : 2'd0;
            out_streak <= stall_out ? out_streak + 2'd1 : 2'd0;
            presented <= out_valid && !out_ready;
        end
    end
endmodule
`default_nettype wire
