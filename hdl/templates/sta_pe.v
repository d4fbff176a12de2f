{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * One processing element of the N:M sparse PE array.
 *
 * N INT8 multipliers, each fed through an M:1 select driven by a log2(M)-bit index (sparse beats) or bypassed
 * (dense beats: lane s feeds multiplier s). The N products are summed into an ACC_W-bit wrapping accumulator.
 * When a tile ends the result is copied into the shadow register, which is one link of the column's result
 * shift chain, so the next tile accumulates while this one drains.
 *
 * Pipeline (6 + T cycles, T = SUM_LEVELS): operands -> register -> select -> register -> the multiplier's input
 * registers -> multiply -> register -> register in the fabric (in the LUT multiplier: partial products -> register
 * -> two sums -> register -> product -> register) -> T registered levels of a binary adder tree over the N products
 * -> accumulate -> register.
 * - The operand registers are this PE's own copy of the row's weights and the column's activations: a beat reaches
 *   every PE of a row (and of a column) over one long route, so that route ends in a register, not in the select
 *   logic (behind the stream wrapper on ECP5 the broadcast of the weight index set the clock at 89 MHz).
 * - The select is registered in the fabric before the multiplier's own input registers: a PE's DSP blocks sit in
 *   the chip's DSP rows, away from its logic, and the 8:1 select plus that route limited a 4:8 array to 115 MHz.
 * - The products land in a fabric register before the adder tree: the route out of a DSP block to its PE's logic
 *   gets a whole period (the DSP output -> adder route alone took 6.5 ns of 8.7 in an 8x8 array behind the stream
 *   wrapper on ECP5). Every multiplier kind has it, so the pipeline depth depends on N only.
 * - The adder tree adds two values per level (T = 1 for N <= 2, ceil(log2 N) above), so the accumulator's carry
 *   chain and one short adder are the longest logic between two registers whatever N is (the N-input sum in one
 *   stage limited 4:8 and 8:8 arrays on ECP5 to 96 and 74 MHz).
 * There is no reset: every register here is a data register; validity is tracked by the array controller.
 */
module {{ name }} #
(
    // Multipliers per PE (non-zeros per group); 1 <= N <= M
    parameter N = {{ n }},
    // Group size; a power of two in {2, 4, 8, 16}
    parameter M = {{ m }},
    // Accumulator width in bits (wraps on overflow); 17 <= ACC_W <= 48
    parameter ACC_W = {{ acc_width }}
)
(
    input  wire                       clk,

    /*
     * Control, shared by every PE (from the array controller)
     */
    input  wire                       en,          // pipeline advance (low while the array stalls)
    input  wire                       acc_en,      // a beat reaches the accumulator
    input  wire                       acc_clear,   // ... and it is the first beat of a tile
    input  wire                       capture,     // the previous cycle's beat ended a tile: copy the accumulator into the shadow register
    input  wire                       shift,       // move the result chain up by one row

    /*
     * Operands
     */
    input  wire                       dense,       // 1: select bypassed
    input  wire [N*8-1:0]             w_val,       // N signed INT8 weight values
    input  wire [N*$clog2(M)-1:0]     w_idx,       // N positions inside the group
    input  wire [M*8-1:0]             act,         // the M signed INT8 activations of the group

    /*
     * Result shift chain (towards row 0)
     */
    input  wire [ACC_W-1:0]           shadow_in,
    output wire [ACC_W-1:0]           shadow_out
);

localparam IW = $clog2(M);

// bail out on bad parameters (the generator checks them too; this guards hand edits)
initial begin
    if (M != 2 && M != 4 && M != 8 && M != 16) begin
        $error("Error: M must be 2, 4, 8 or 16 (instance %m)");
        $finish;
    end
    if (N < 1 || N > M) begin
        $error("Error: N must satisfy 1 <= N <= M (instance %m)");
        $finish;
    end
    if (ACC_W < 17 || ACC_W > 48) begin
        $error("Error: ACC_W must be in 17..48 (instance %m)");
        $finish;
    end
end

// stage 0: this PE's operand registers. They hold the same values as those of every other PE of the row (weights)
// or column (activations), so a synthesis tool would merge them back into one register per row and column and
// restore the long broadcast: (* keep *) on the process keeps every PE's copy (Yosys opt_merge honours it).
reg              dense_q;
reg  [N*8-1:0]   w_val_q;
reg  [N*IW-1:0]  w_idx_q;
reg  [M*8-1:0]   act_q;

(* keep *)
always @(posedge clk) begin
    if (en) begin
        dense_q <= dense;
        w_val_q <= w_val;
        w_idx_q <= w_idx;
        act_q <= act;
    end
end

wire [7:0] act_lane [0:M-1];

// product of every lane, 16-bit signed, packed
wire [N*16-1:0] prod_flat;

genvar j, s;

generate
    for (j = 0; j < M; j = j + 1) begin : g_act
        assign act_lane[j] = act_q[j*8 +: 8];
    end

    for (s = 0; s < N; s = s + 1) begin : g_lane
        wire [IW-1:0] idx = w_idx_q[s*IW +: IW];

        // stage 1: the select (or its bypass) and the weight, registered in the fabric next to the select logic, so
        // the route to the multiplier (a DSP block sits where the chip has one) starts at a register
        reg [7:0] sel_w;
        reg [7:0] sel_a;

        always @(posedge clk) begin
            if (en) begin
                sel_w <= w_val_q[s*8 +: 8];
                sel_a <= dense_q ? act_lane[s] : act_lane[idx];
            end
        end
{%- if let Some(mul) = mul_module %}

{%- if mul_lands %}
        // stages 2 to 4 inside the multiplier module {{ mul }}, {{ mul_desc }}: partial products, two sums, the
        // full 16-bit signed product
{%- else %}
        // stages 2 and 3 inside the multiplier module {{ mul }}, {{ mul_desc }}: its input registers take the
        // weight and the selected activation, its output register the full 16-bit signed product
{%- endif %}
        {{ mul }} mul (
            .clk(clk),
            .ce(en),
            .a(sel_w),
            .b(sel_a),
            .p(prod_flat[s*16 +: 16])
        );
{%- else %}

        // stage 2: the multiplier's input registers (a DSP block's own, if the synthesis tool moves them in)
        reg signed [7:0] op_w_reg;
        reg signed [7:0] op_a_reg;

        always @(posedge clk) begin
            if (en) begin
                op_w_reg <= sel_w;
                op_a_reg <= sel_a;
            end
        end

        // stage 3: the product at its full 16-bit width (both operands signed, so the multiply is signed;
        // assigning to a 16-bit net makes it a 16-bit multiply), registered: the multiplier's output register
        wire signed [15:0] product = op_w_reg * op_a_reg;
        reg  signed [15:0] prod_reg;

        always @(posedge clk) begin
            if (en) begin
                prod_reg <= product;
            end
        end

        assign prod_flat[s*16 +: 16] = prod_reg;
{%- endif %}
    end
endgenerate

{%- if mul_lands %}
// stage 4 is the multiplier's own last register (the LUT multiplier computes in the fabric, with one stage more
// than a DSP block): its product goes straight to the adder tree
wire [N*16-1:0] prod_land = prod_flat;
{%- else %}
// stage 4: the products, registered in the fabric next to the adder tree (the multiplier's output may be a DSP
// block's register, far from this PE's logic)
wire [N*16-1:0] prod_land;

generate
    for (s = 0; s < N; s = s + 1) begin : g_land
        reg [15:0] land_reg;

        always @(posedge clk) begin
            if (en) begin
                land_reg <= prod_flat[s*16 +: 16];
            end
        end

        assign prod_land[s*16 +: 16] = land_reg;
    end
endgenerate
{%- endif %}

// stages 5 .. 4 + SUM_LEVELS: the adder tree. |sum| <= N * 2^14 < 2^(16 + clog2(N)), so SW_FULL bits hold the sum
// and every partial sum exactly; an accumulator narrower than that wraps anyway, so the tree is min(SW_FULL, ACC_W)
// bits wide (sums modulo 2^SW are still exact modulo 2^ACC_W).
localparam SW_FULL = 17 + $clog2(N);
localparam SW = SW_FULL < ACC_W ? SW_FULL : ACC_W;
localparam SUM_LEVELS = N > 2 ? $clog2(N) : 1;

// level l of the tree holds ceil(N / 2^l) nodes (level 0: the products); node i of level l is the sum of nodes 2i
// and 2i+1 of level l-1, or node 2i alone when it has no partner. All levels live in one flat vector, level after
// level, node after node, SW bits each.
function integer level_nodes(input integer level);
    begin
        level_nodes = (N + (1 << level) - 1) >> level;
    end
endfunction

function integer level_base(input integer level);
    integer k;
    begin
        level_base = 0;
        for (k = 0; k < level; k = k + 1) begin
            level_base = level_base + level_nodes(k);
        end
    end
endfunction

localparam NODES = level_base(SUM_LEVELS + 1);

wire [NODES*SW-1:0] tree;

genvar l, t;

generate
    for (t = 0; t < N; t = t + 1) begin : g_leaf
        if (SW > 16) begin : g_ext
{%- raw %}
            assign tree[t*SW +: SW] = {{(SW-16){prod_land[t*16+15]}}, prod_land[t*16 +: 16]};
{%- endraw %}
        end else begin : g_same
            assign tree[t*SW +: SW] = prod_land[t*16 +: 16];
        end
    end

    for (l = 1; l <= SUM_LEVELS; l = l + 1) begin : g_level
        for (t = 0; t < level_nodes(l); t = t + 1) begin : g_node
            localparam LEFT = (level_base(l - 1) + 2*t) * SW;
            reg [SW-1:0] node_reg;

            if (2*t + 1 < level_nodes(l - 1)) begin : g_add
                always @(posedge clk) begin
                    if (en) begin
                        node_reg <= tree[LEFT +: SW] + tree[LEFT + SW +: SW];
                    end
                end
            end else begin : g_pass
                always @(posedge clk) begin
                    if (en) begin
                        node_reg <= tree[LEFT +: SW];
                    end
                end
            end

            assign tree[(level_base(l) + t)*SW +: SW] = node_reg;
        end
    end
endgenerate

wire [SW-1:0] sum_reg = tree[level_base(SUM_LEVELS)*SW +: SW];

// stage 5 + SUM_LEVELS: the sum, sign-extended to ACC_W, added to the accumulator (wrapping)
wire [ACC_W-1:0] sum_ext;

generate
    if (SW < ACC_W) begin : g_sum_ext
        assign sum_ext = {{"{{"}}(ACC_W-SW){sum_reg[SW-1]}}, sum_reg};
    end else begin : g_sum_full
        assign sum_ext = sum_reg;
    end
endgenerate

reg  [ACC_W-1:0] acc_reg;
reg  [ACC_W-1:0] shadow_reg;
wire [ACC_W-1:0] acc_next = (acc_clear ? {ACC_W{1'b0}} : acc_reg) + sum_ext;

always @(posedge clk) begin
    if (acc_en) begin
        acc_reg <= acc_next;
    end
    if (capture) begin
        shadow_reg <= acc_reg;
    end else if (shift) begin
        shadow_reg <= shadow_in;
    end
end

assign shadow_out = shadow_reg;

endmodule

`resetall
