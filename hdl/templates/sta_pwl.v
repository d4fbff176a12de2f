{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Piecewise-linear (PWL) LUT approximator of {{ function }}, K = {{ entries }} segments.
 *
 * The integer datapath of the numeric contract (docs/numerics.md), bit for bit:
 *   q = in_data (signed, x = q * 2^-D_IN)
 *   i = #{ j : q >= p_j }                               segment index (thermometer of K-1 signed compares)
 *   acc = k_i * q + b_i * 2^D_IN                         exact, AW bits
 *   out = sat_OW(round_shift(acc, FK + D_IN - D_OUT))    round half up, then clamp to the signed OW-bit range
 * The breakpoints p_j and the slope/intercept codes k_i, b_i are baked in as ranged signed constants.
 *
 * Pipeline (fixed latency {{ latency }} cycles, one input accepted every cycle, no back-pressure):
 *   stage 1: compare q with every breakpoint, select k_i and b_i          -> k_reg, b_reg, q_reg
 *   stage 2: k_reg * q_reg at full width + b_reg * 2^D_IN                 -> acc_reg
 *   stage 3: round_shift and saturation                                   -> out_reg
 * An input presented with in_valid high in cycle t appears on out_data with out_valid high in cycle t + {{ latency }}.
 * rst (synchronous, active high) clears the valid pipeline only: inputs in flight are dropped. Data registers have
 * no reset and load every cycle; out_data is meaningful only while out_valid is high.
 */
module {{ name }} #
(
    // Input code width (signed); the contract's unit is INT8. Constants are sized for {{ in_bits }}.
    parameter IN_W = {{ in_bits }},
    // Slope/intercept code width CW (signed). Constants are sized for {{ coeff_bits }}.
    parameter CW = {{ coeff_bits }},
    // Output code width OW (signed, saturating)
    parameter OW = {{ output_bits }},
    // Segments K (K-1 breakpoints)
    parameter K = {{ entries }},
    // Input fraction bits D_IN: x = q * 2^-D_IN
    parameter D_IN = {{ d_in }},
    // Coefficient fraction bits FK: slope k * 2^-FK, intercept b * 2^-FK
    parameter FK = {{ fk }},
    // Output fraction bits D_OUT: y = out * 2^-D_OUT
    parameter D_OUT = {{ d_out }}
)
(
    input  wire                 clk,
    input  wire                 rst,

    /*
     * Input: one signed code per cycle
     */
    input  wire                 in_valid,
    input  wire [IN_W-1:0]      in_data,

    /*
     * Output: {{ latency }} cycles later
     */
    output wire                 out_valid,
    output wire [OW-1:0]        out_data
);

// bail out on hand edits: the constants below were computed for exactly these values (regenerate instead)
initial begin
    if (IN_W != {{ in_bits }} || CW != {{ coeff_bits }} || OW != {{ output_bits }} || K != {{ entries }}) begin
        $error("Error: IN_W, CW, OW, K must be {{ in_bits }}, {{ coeff_bits }}, {{ output_bits }}, {{ entries }}: regenerate with sta lut rtl (instance %m)");
        $finish;
    end
    if (D_IN != {{ d_in }} || FK != {{ fk }} || D_OUT != {{ d_out }}) begin
        $error("Error: D_IN, FK, D_OUT must be {{ d_in }}, {{ fk }}, {{ d_out }}: regenerate with sta lut rtl (instance %m)");
        $finish;
    end
end

// accumulator width: max(CW + IN_W, CW + D_IN) + 1, so k*q + b*2^D_IN is exact
localparam AW = {{ acc_bits }};

/*
 * Constants: breakpoints (IN_W-bit codes), slopes and intercepts (CW-bit codes), all ranged and signed
 */
{%- for c in breakpoints %}
localparam signed [IN_W-1:0] {{ c.name }} = {{ c.literal }};  // {{ c.value }}
{%- endfor %}
{%- for c in slopes %}
localparam signed [CW-1:0]   {{ c.name }} = {{ c.literal }};  // {{ c.value }}
{%- endfor %}
{%- for c in intercepts %}
localparam signed [CW-1:0]   {{ c.name }} = {{ c.literal }};  // {{ c.value }}
{%- endfor %}

wire signed [IN_W-1:0] q = in_data;

/*
 * Stage 1: segment select
 */
{%- if entries > 1 %}
// ge[j] = (q >= p_j); the breakpoints are sorted, so ge is a thermometer code and the highest set bit j selects
// segment j + 1 (= the number of set bits)
wire [K-2:0] ge;
{%- for c in breakpoints %}
assign ge[{{ loop.index0 }}] = q >= {{ c.name }};
{%- endfor %}
{%- endif %}

reg signed [CW-1:0] k_sel;
reg signed [CW-1:0] b_sel;

always @* begin
    k_sel = {{ first_slope }};
    b_sel = {{ first_intercept }};
{%- for s in selects %}
    if (ge[{{ s.bit }}]) begin
        k_sel = {{ s.slope }};
        b_sel = {{ s.intercept }};
    end
{%- endfor %}
end

reg signed [CW-1:0]   k_reg;
reg signed [CW-1:0]   b_reg;
reg signed [IN_W-1:0] q_reg;
reg                   valid_1_reg;

always @(posedge clk) begin
    k_reg <= k_sel;
    b_reg <= b_sel;
    q_reg <= q;
    if (rst) begin
        valid_1_reg <= 1'b0;
    end else begin
        valid_1_reg <= in_valid;
    end
end

/*
 * Stage 2: acc = k * q + b * 2^D_IN
 */
// the product at its full CW + IN_W width (both operands signed, assigned to a full-width net first)
wire signed [CW+IN_W-1:0] prod = k_reg * q_reg;
// the intercept at the accumulator's scale
wire signed [CW+D_IN-1:0] b_scaled = {{ b_scaled_expr }};
// both sign-extended to AW bits; the sum cannot overflow
wire signed [AW-1:0]      acc_next = {{ prod_ext }} + {{ b_ext }};

reg signed [AW-1:0] acc_reg;
reg                 valid_2_reg;

always @(posedge clk) begin
    acc_reg <= acc_next;
    if (rst) begin
        valid_2_reg <= 1'b0;
    end else begin
        valid_2_reg <= valid_1_reg;
    end
end

/*
 * Stage 3: round_shift(acc, SHIFT), then saturate to OW bits
 */
// output shift FK + D_IN - D_OUT = {{ shift }}; RW = {{ round_bits }} bits hold the rounded value exactly
localparam RW = {{ round_bits }};
{%- match rounding %}
{%- when Rounding::Right with { shift, half } %}
localparam SHIFT = {{ shift }};
// round half up: add 2^(SHIFT-1), then shift right arithmetically
localparam signed [RW-1:0] HALF = {{ half }};
wire signed [RW-1:0] acc_wide = {{ acc_to_round }};
wire signed [RW-1:0] biased = acc_wide + HALF;
wire signed [RW-1:0] rounded = biased >>> SHIFT;
{%- when Rounding::None %}
// the accumulator is already at the output scale
wire signed [RW-1:0] rounded = acc_reg;
{%- when Rounding::Left with { amount } %}
// exact left shift by {{ amount }}
wire signed [RW-1:0] rounded = {{ acc_to_round }};
{%- endmatch %}
{%- match saturation %}
{%- when Saturation::Clamp with { max_wide, min_wide, max_out, min_out } %}
localparam signed [RW-1:0] OUT_MAX = {{ max_wide }};  // 2^(OW-1) - 1
localparam signed [RW-1:0] OUT_MIN = {{ min_wide }};  // -2^(OW-1)
localparam [OW-1:0] OUT_MAX_CODE = {{ max_out }};
localparam [OW-1:0] OUT_MIN_CODE = {{ min_out }};
wire [OW-1:0] out_next = (rounded > OUT_MAX) ? OUT_MAX_CODE :
                         (rounded < OUT_MIN) ? OUT_MIN_CODE :
                         rounded[OW-1:0];
{%- when Saturation::Extend with { expr } %}
// OW >= RW: every rounded value fits, saturation never triggers
wire [OW-1:0] out_next = {{ expr }};
{%- endmatch %}

reg [OW-1:0] out_reg;
reg          valid_3_reg;

always @(posedge clk) begin
    out_reg <= out_next;
    if (rst) begin
        valid_3_reg <= 1'b0;
    end else begin
        valid_3_reg <= valid_2_reg;
    end
end

assign out_valid = valid_3_reg;
assign out_data = out_reg;

endmodule

`resetall
