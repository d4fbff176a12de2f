{{ header }}
{%- macro pe_instance(module, pad) %}
{{ pad }}{{ module }} #(
{{ pad }}    .N(N),
{{ pad }}    .M(M),
{{ pad }}    .ACC_W(ACC_W)
{{ pad }})
{{ pad }}pe (
{{ pad }}    .clk(clk),
{{ pad }}    .en(pe_en),
{{ pad }}    .acc_en(pe_acc_en),
{{ pad }}    .acc_clear(pe_acc_clear),
{{ pad }}    .capture(pe_capture),
{{ pad }}    .shift(pe_shift),
{{ pad }}    .dense(s_w_tuser),
{{ pad }}    .w_val(s_w_tdata[r*N*8 +: N*8]),
{{ pad }}    .w_idx(s_w_tidx[r*N*IW +: N*IW]),
{{ pad }}    .act(s_a_tdata[c*M*8 +: M*8]),
{{ pad }}    .shadow_in(chain[((r+1)*COLS + c)*ACC_W +: ACC_W]),
{{ pad }}    .shadow_out(chain[(r*COLS + c)*ACC_W +: ACC_W])
{{ pad }});
{%- endmacro %}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * N:M sparse PE array, ROWS x COLS processing elements, output stationary.
 *
 * Every accepted beat carries, per row, one compressed N:M weight group (or N dense weights) and, per column, the
 * M activations of the same group. Weights are broadcast along a row, activations down a column. When a tile's
 * last beat has been accumulated, the tile's results leave on m_y one row per transfer, row 0 first, while the
 * next tile is computed. Stream protocol, schedule and timing: docs/pe-array.md.
 */
module {{ name }} #
(
    // Multipliers per PE (non-zeros per group); 1 <= N <= M
    parameter N = {{ n }},
    // Group size; a power of two in {2, 4, 8, 16}
    parameter M = {{ m }},
    // PE rows (outputs per tile, result beats per tile); fixed by the controller {{ ctrl_name }}
    parameter ROWS = {{ rows }},
    // PE columns (activation columns per tile); 1..64
    parameter COLS = {{ cols }},
    // Accumulator and result width in bits (wraps on overflow); 17..48
    parameter ACC_W = {{ acc_width }}
)
(
    input  wire                          clk,
    input  wire                          rst,

    /*
     * Weight stream: ROWS x N slots, lane r*N+s = slot s of row r
     */
    input  wire [ROWS*N*8-1:0]           s_w_tdata,
    input  wire [ROWS*N*$clog2(M)-1:0]   s_w_tidx,
    input  wire                          s_w_tuser,   // 1 = dense beat (select bypassed)
    input  wire                          s_w_tlast,
    input  wire                          s_w_tvalid,
    output wire                          s_w_tready,

    /*
     * Activation stream: COLS x M lanes, lane c*M+j = activation j of column c
     */
    input  wire [COLS*M*8-1:0]           s_a_tdata,
    input  wire                          s_a_tlast,
    input  wire                          s_a_tvalid,
    output wire                          s_a_tready,

    /*
     * Result stream: one tile row per beat, lane c = column c
     */
    output wire [COLS*ACC_W-1:0]         m_y_tdata,
    output wire                          m_y_tlast,
    output wire                          m_y_tvalid,
    input  wire                          m_y_tready,

    /*
     * Status
     */
    output wire [{{ perf_msb }}:0]                   perf_cycles,  // cycles since reset
    output wire [{{ perf_msb }}:0]                   perf_busy,    // cycles in which a beat entered the array
    output wire [{{ perf_msb }}:0]                   perf_stall,   // cycles with both inputs valid but no room
    output wire                          err_last      // sticky: s_w_tlast != s_a_tlast on a beat
);

localparam IW = $clog2(M);
{%- if lut_pe_name.is_some() %}
// PEs with DSP multipliers (the rest multiply in LUTs): the DSP budget {{ dsp_budget }} / N, at most ROWS * COLS
localparam DSP_PES = {{ dsp_pes }};
{%- endif %}

// bail out on bad parameters (the generator checks them too; this guards hand edits)
initial begin
    if (ROWS != {{ rows }}) begin
        $error("Error: ROWS is fixed to {{ rows }} by {{ ctrl_name }}; regenerate for another size (instance %m)");
        $finish;
    end
    if (COLS < 1 || COLS > 64) begin
        $error("Error: COLS must be in 1..64 (instance %m)");
        $finish;
    end
end

wire en_next2;
wire acc_en_next2;
wire acc_clear_next2;
wire capture_next2;
wire shift_next;
wire out_valid_next;
wire spare_valid_next;

{{ ctrl_name }} ctrl (
    .clk(clk),
    .rst(rst),
    .w_valid(s_w_tvalid),
    .w_last(s_w_tlast),
    .a_valid(s_a_tvalid),
    .a_last(s_a_tlast),
    .w_ready(s_w_tready),
    .a_ready(s_a_tready),
    .y_ready(m_y_tready),
    .y_valid(m_y_tvalid),
    .y_last(m_y_tlast),
    .out_valid_next(out_valid_next),
    .spare_valid_next(spare_valid_next),
    .en_next2(en_next2),
    .acc_en_next2(acc_en_next2),
    .acc_clear_next2(acc_clear_next2),
    .capture_next2(capture_next2),
    .shift_next(shift_next),
    .perf_cycles(perf_cycles),
    .perf_busy(perf_busy),
    .perf_stall(perf_stall),
    .err_last(err_last)
);

// result shift chain: link (r, c) is the shadow register of PE (r, c); row ROWS is the zero fill at the bottom
wire [(ROWS+1)*COLS*ACC_W-1:0] chain;

assign chain[ROWS*COLS*ACC_W +: COLS*ACC_W] = {COLS*ACC_W{1'b0}};

genvar r, c;

// result output stage: an output register and a spare per column, so that the chain's shift (which reaches every PE)
// is decided a cycle ahead and comes from a flip-flop, never from m_y_tready in the same cycle. Each column steers its
// own pair from its copies of the controller's shift and occupancy flags (loaded with the values the controller's
// registers take at the same edge, reset included; kept, or Yosys merges them back), so no enable crosses the array.
generate
    for (c = 0; c < COLS; c = c + 1) begin : g_out
        reg col_shift;
        reg col_out_valid;
        reg col_spare_valid;

        (* keep *)
        always @(posedge clk) begin
            col_shift <= shift_next;
            col_out_valid <= out_valid_next;
            col_spare_valid <= spare_valid_next;
        end

        // the consumer takes the output register's row; the chain's row 0 moves in (into the output register when
        // it is free after this cycle, else into the spare); the spare's row moves up
        wire col_pop = col_out_valid & m_y_tready;
        wire col_load_out = col_shift & (col_pop ? ~col_spare_valid : ~col_out_valid);
        wire col_load_spare = col_shift & (col_pop ? col_spare_valid : col_out_valid);
        wire col_out_from_spare = col_pop & col_spare_valid;

        reg [ACC_W-1:0] y_out_reg;
        reg [ACC_W-1:0] y_spare_reg;

        always @(posedge clk) begin
            if (col_load_spare) begin
                y_spare_reg <= chain[c*ACC_W +: ACC_W];
            end
            if (col_out_from_spare) begin
                y_out_reg <= y_spare_reg;
            end else if (col_load_out) begin
                y_out_reg <= chain[c*ACC_W +: ACC_W];
            end
        end

        assign m_y_tdata[c*ACC_W +: ACC_W] = y_out_reg;
    end
endgenerate

generate
    for (r = 0; r < ROWS; r = r + 1) begin : g_row
        // this row's relay of the controls the controller announces two edges ahead: it holds their values for the
        // next edge, so the controller's logic drives ROWS relays and each relay the COLS copies of its row. Kept:
        // Yosys opt_merge would fold identical registers back into one. No reset needed: the announcements made
        // during reset are already the values after it.
        reg row_en;
        reg row_acc_en;
        reg row_acc_clear;
        reg row_capture;

        (* keep *)
        always @(posedge clk) begin
            row_en <= en_next2;
            row_acc_en <= acc_en_next2;
            row_acc_clear <= acc_clear_next2;
            row_capture <= capture_next2;
        end

        for (c = 0; c < COLS; c = c + 1) begin : g_col
            // this PE's own copy of the controller's five broadcast controls, equal to the controller's registers at
            // every edge: each copy drives one PE, the controller's registers drive only the controller, so neither is
            // pulled across the array by the other's loads. The relayed four take the reset values themselves (the
            // relay, loaded a cycle earlier, cannot know of a reset); shift is loaded with the value the controller's
            // register takes at the same edge, reset included.
            reg pe_en;
            reg pe_acc_en;
            reg pe_acc_clear;
            reg pe_capture;
            reg pe_shift;

            (* keep *)
            always @(posedge clk) begin
                if (rst) begin
                    pe_en <= 1'b1;
                    pe_acc_en <= 1'b0;
                    pe_acc_clear <= 1'b1;
                    pe_capture <= 1'b0;
                end else begin
                    pe_en <= row_en;
                    pe_acc_en <= row_acc_en;
                    pe_acc_clear <= row_acc_clear;
                    pe_capture <= row_capture;
                end
                pe_shift <= shift_next;
            end

{%- if let Some(lut_pe) = lut_pe_name %}
            // the first DSP_PES = {{ dsp_pes }} PEs (row-major) multiply in DSP blocks, the others in LUTs
            if (r*COLS + c < DSP_PES) begin : g_dsp
{%- call pe_instance(pe_name, "                ") %}{% endcall %}
            end else begin : g_lut
{%- call pe_instance(lut_pe, "                ") %}{% endcall %}
            end
{%- else %}
{%- call pe_instance(pe_name, "            ") %}{% endcall %}
{%- endif %}
        end
    end
endgenerate

endmodule

`resetall
