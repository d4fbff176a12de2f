// Formal harness of the narrow-stream wrapper (generators/tests/formal.rs; not part of any generated design).
// The wrapper `STA_WRAPPER (W-bit words, K_IN words per IN_BITS-bit input beat, K_OUT per OUT_BITS-bit output beat)
// around sta_formal_inner; s_tdata, s_tvalid and m_tready are free in every cycle, rst is high in the first cycle
// and low afterwards. Checked (bounded, SymbiYosys BMC):
//   A1 valid/ready: once m_tvalid is high without m_tready it stays high, and m_tdata and m_tlast stay put;
//   A2 framing: m_tlast is high on exactly every K_OUT-th output word, and the pad bits of the last word are 0;
//   A3 no beat created or duplicated: an output beat is completed only after more input beats were completed, and
//      at most DEPTH_BEATS beats are inside the wrapper;
//   A4 order and data: output beat number PICK (any index: PICK is a free constant) carries exactly the function of
//      input beat number PICK, word for word;
//   A5 bounded liveness: once input beat PICK is complete, its output beat is complete after at most LIVE cycles in
//      which m_tready is high.
// A lost beat shows up in A4 (beat PICK would carry the data of beat PICK + 1) or in A5.
`default_nettype none
module sta_stream_io_formal #(
    parameter W = `STA_W,
    parameter IN_BITS = `STA_IN_BITS,
    parameter OUT_BITS = `STA_OUT_BITS,
    parameter K_IN = (IN_BITS + W - 1) / W,
    parameter K_OUT = (OUT_BITS + W - 1) / W,
    parameter DEPTH_BEATS = `STA_DEPTH_BEATS,
    parameter LIVE = `STA_LIVE,
    parameter CW = 6                       // counter width: beats complete at most once a cycle, depth <= 63
) (
    input  wire         clk,
    input  wire         rst,
    input  wire [W-1:0] s_tdata,
    input  wire         s_tvalid,
    input  wire         m_tready
);
    wire         s_tready;
    wire [W-1:0] m_tdata;
    wire         m_tlast;
    wire         m_tvalid;
    wire         err;

    `STA_WRAPPER dut (
        .clk(clk), .rst(rst),
        .s_tdata(s_tdata), .s_tvalid(s_tvalid), .s_tready(s_tready),
        .m_tdata(m_tdata), .m_tlast(m_tlast), .m_tvalid(m_tvalid), .m_tready(m_tready),
        .err(err)
    );

`ifdef FORMAL
    (* anyconst *) wire [CW-1:0] pick;
    // Input beat PICK carries MAGIC (any value): the check compares output beat PICK with a constant instead of a
    // register captured from the stream, which the solver handles in seconds instead of hours (a trace with any
    // data is covered by the MAGIC equal to its beat PICK).
    (* anyconst *) wire [K_IN*W-1:0] magic;

    reg init = 1'b1;
    always @(posedge clk) init <= 1'b0;

    wire s_fire = s_tvalid && s_tready;
    wire m_fire = m_tvalid && m_tready;

    // input side: word position in the beat, completed beats, whether beat PICK is complete
    reg  [CW-1:0]          in_word;
    reg  [CW-1:0]          in_beats;
    reg                    picked_valid;
    wire                   in_beat_done = s_fire && in_word == K_IN - 1;

    always @* begin
        assume(rst == init);
    end
    genvar i;
    generate
        for (i = 0; i < K_IN; i = i + 1) begin : g_magic
            always @* begin
                if (s_tvalid && in_beats == pick && in_word == i) assume(s_tdata == magic[i*W +: W]);
            end
        end
    endgenerate

    // output side: word position, completed beats
    reg  [CW-1:0]          out_word;
    reg  [CW-1:0]          out_beats;
    reg                    out_done;     // output beat PICK is complete
    reg  [CW-1:0]          wait_cycles;  // cycles with m_tready high since input beat PICK was complete

    // what output beat PICK must be
    wire [K_OUT*W-1:0]     expected;
    generate
        for (i = 0; i < K_OUT * W; i = i + 1) begin : g_exp
            if (i < OUT_BITS) begin : g_bit
                assign expected[i] = magic[i % IN_BITS];
            end else begin : g_pad
                assign expected[i] = 1'b0;
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            in_word <= 0;
            in_beats <= 0;
            picked_valid <= 1'b0;
            out_word <= 0;
            out_beats <= 0;
            out_done <= 1'b0;
            wait_cycles <= 0;
        end else begin
            if (s_fire) begin
                in_word <= in_beat_done ? 0 : in_word + 1;
                if (in_beat_done) begin
                    in_beats <= in_beats + 1;
                    if (in_beats == pick) begin
                        picked_valid <= 1'b1;
                    end
                end
            end
            if (m_fire) begin
                out_word <= m_tlast ? 0 : out_word + 1;
                if (m_tlast) begin
                    out_beats <= out_beats + 1;
                    if (out_beats == pick) out_done <= 1'b1;
                end
            end
            if (picked_valid && !out_done && m_tready) begin
                wait_cycles <= wait_cycles + 1;
            end
        end
    end

    // A4, data: one assertion per word position (a constant part-select, cheaper than indexing by out_word)
    generate
        for (i = 0; i < K_OUT; i = i + 1) begin : g_a4
            always @* begin
                if (!rst && m_fire && out_beats == pick && out_word == i) begin
                    assert(m_tdata == expected[i*W +: W]);
                end
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (!init && !$past(rst)) begin
            // A1
            if ($past(m_tvalid && !m_tready)) begin
                assert(m_tvalid);
                assert(m_tdata == $past(m_tdata));
                assert(m_tlast == $past(m_tlast));
            end
        end
    end

    always @* begin
        if (!rst) begin
            // A2
            if (m_fire) begin
                assert(m_tlast == (out_word == K_OUT - 1));
            end
            // A3
            if (m_fire && m_tlast) begin
                assert(out_beats < in_beats);
            end
            assert(in_beats - out_beats <= DEPTH_BEATS);
            // A4 (pad bits included: expected has 0 there)
            if (m_fire && out_beats == pick) begin
                assert(picked_valid);
            end
            // A5
            assert(wait_cycles <= LIVE);
        end
    end
`endif
endmodule
`default_nettype wire
