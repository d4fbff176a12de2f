{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Decoder and dispatcher of the accelerator (docs/accelerator.md "Instructions", "Errors and reset", "Status").
 *
 * It takes records from the receiver one at a time, in stream order:
 *   - an instruction is checked (opcode, reserved bits zero, fields, buffer and mode combinations, the weight tile
 *     it names); a bad one sets the sticky error and stops the decoder;
 *   - a load (LOAD_X, LOAD_W, LOAD_NORM) is executed here: the decoder writes each following data record into its
 *     buffer, one record per cycle, while the compute engines run the earlier instructions. A load waits only for
 *     its own resource: LOAD_W for its tile half (no GEMM that reads it still in flight), LOAD_NORM for its norm
 *     bank (no LN that reads it), LOAD_X for everything (X is read and written by every engine);
 *   - SET_ATTN sets the attention scales, which travel with each later ATTN;
 *   - a compute instruction (GEMM, LN, ATTN, STORE, END) goes into the one-deep dispatch register. From there a GEMM
 *     starts when the GEMM engine can take it (its issue side is free and the instruction reads nothing a GEMM in
 *     flight still writes) and no other engine runs; LN, ATTN and STORE start when every engine is idle; END waits
 *     for every engine, then sends the STATUS record, clears the counters and lets the decoder go on.
 * After an error the decoder takes no more input, lets the dispatched instruction and the running engines finish,
 * sends STATUS with the error code and waits for rst.
 *
 * The receiver needs the size of the record it assembles (rec_need): the size of what this state expects, or, in a
 * cycle that takes a record, the size of what the next state expects.
 */
module {{ name }}
(
    input  wire              clk,
    input  wire              rst,

    /*
     * Records from the receiver
     */
    input  wire [{{ l.rx_bits - 1 }}:0]     rec_data,
    input  wire              rec_valid,
    output wire              rec_ready,
    output wire [{{ l.rx_cw - 1 }}:0]        rec_need,

    /*
     * Loads: X words (LOAD_X), channel parameters and weight beats (LOAD_W), norm parameters (LOAD_NORM)
     */
    output wire              x_we,
    output wire [{{ l.lb - 1 }}:0]        x_bank,
    output wire [{{ l.aw - 1 }}:0]       x_addr,
    output wire [{{ l.m * 8 - 1 }}:0]       x_wdata,
    output wire              par_we,
    output wire [{{ l.lb }}:0]        par_waddr,     // {half, row}
    output wire [61:0]       par_wdata,
    output wire              tile_we,
    output wire              tile_whalf,
    output wire [{{ l.aw_tile - 1 }}:0]       tile_waddr,
    output wire [{{ l.wb - 1 }}:0]      tile_wdata,
    output wire              norm_we,
    output wire              norm_wbank,
    output wire [{{ l.aw_norm - 1 }}:0]       norm_waddr,
    output wire [55:0]       norm_wdata,

    /*
     * Dispatch: the instruction in the dispatch register and the engines' state
     */
    output wire [63:0]       cmd,
    output wire [41:0]       cmd_scales,    // SET_ATTN fields [49:8] when the instruction was dispatched
    output wire              start_gemm,
    output wire              start_ln,
    output wire              start_attn,
    output wire              start_store,
    input  wire              gemm_can_start,
    input  wire              gemm_idle,
    input  wire              ln_idle,
    input  wire              attn_idle,
    input  wire              store_idle,
    input  wire              gemm_retire,   // a GEMM's last result was written ...
    input  wire              gemm_retire_half,   // ... and it read this tile half
    input  wire              ln_done,       // an LN finished ...
    input  wire              ln_done_bank,  // ... and it read this norm bank
    input  wire              pe_fire,       // a beat entered the PE array

    /*
     * STATUS record, and the state
     */
    output wire [{{ l.status_bits - 1 }}:0]     status_data,
    output wire              status_valid,
    input  wire              status_ready,
    output wire              err,
    output wire              running        // a program is under way (first instruction ... its STATUS)
);

localparam [3:0] OP_LOAD_X    = 4'd1;
localparam [3:0] OP_LOAD_W    = 4'd2;
localparam [3:0] OP_GEMM      = 4'd3;
localparam [3:0] OP_LN        = 4'd4;
localparam [3:0] OP_LOAD_NORM = 4'd5;
localparam [3:0] OP_SET_ATTN  = 4'd6;
localparam [3:0] OP_ATTN      = 4'd7;
localparam [3:0] OP_STORE     = 4'd8;
localparam [3:0] OP_END       = 4'd9;

localparam [2:0] BUF_V     = 3'd3;
localparam [2:0] BUF_RESID = 3'd5;
localparam [2:0] BUF_FFN   = 3'd7;

// error codes (STATUS [7:0])
localparam [7:0] E_OPCODE   = 8'd1;   // unknown opcode
localparam [7:0] E_COMBO    = 8'd2;   // illegal buffer or mode combination
localparam [7:0] E_RANGE    = 8'd3;   // field out of range
localparam [7:0] E_TILE     = 8'd4;   // the GEMM's tile half holds a tile of another length or density
localparam [7:0] E_RESERVED = 8'd5;   // a reserved instruction bit is set

localparam [2:0] S_INSTR = 3'd0;   // expecting an instruction
localparam [2:0] S_XDATA = 3'd1;   // LOAD_X data
localparam [2:0] S_PARAM = 3'd2;   // LOAD_W channel parameters
localparam [2:0] S_WBEAT = 3'd3;   // LOAD_W weight beats
localparam [2:0] S_NORM  = 3'd4;   // LOAD_NORM data
localparam [2:0] S_END   = 3'd5;   // END dispatched: waiting for its STATUS to go out
localparam [2:0] S_ERR   = 3'd6;   // error: waiting for the engines, then STATUS
localparam [2:0] S_DEAD  = 3'd7;   // STATUS of the error sent: waiting for rst

// words of each record on the stream
localparam [{{ l.rx_cw - 1 }}:0] W_INSTR = {{ l.rx_cw }}'d{{ l.words_instr }};
localparam [{{ l.rx_cw - 1 }}:0] W_XDATA = {{ l.rx_cw }}'d{{ l.words_x }};
localparam [{{ l.rx_cw - 1 }}:0] W_PARAM = {{ l.rx_cw }}'d{{ l.words_param }};
localparam [{{ l.rx_cw - 1 }}:0] W_WBEAT = {{ l.rx_cw }}'d{{ l.words_wbeat }};
localparam [{{ l.rx_cw - 1 }}:0] W_NORM  = {{ l.rx_cw }}'d{{ l.words_norm }};

localparam [12:0] T_MAX = 13'd{{ l.tmax }};
localparam [13:0] T_MAX14 = 14'd{{ l.tmax }};
localparam [13:0] D14 = 14'd{{ l.d }};
localparam [13:0] F14 = 14'd{{ l.f }};
localparam [13:0] B14 = 14'd{{ l.b }};
localparam [7:0]  HEADS = 8'd{{ l.h }};
localparam [12:0] MAX_BEATS = 13'd{{ l.max_beats }};
// beats of a tile: reduction over D or F (the width of src), sparse K/M or dense K/N
localparam [12:0] NB_D_SPARSE = 13'd{{ l.d / l.m }};
localparam [12:0] NB_D_DENSE  = 13'd{{ l.d / l.n }};
localparam [12:0] NB_F_SPARSE = 13'd{{ l.f / l.m }};
localparam [12:0] NB_F_DENSE  = 13'd{{ l.f / l.n }};
localparam [{{ l.gdw - 1 }}:0] GD_LAST = {{ l.gdw }}'d{{ l.gd - 1 }};     // X words per token - 1
localparam [{{ l.aw - 1 }}:0] GD = {{ l.aw }}'d{{ l.gd }};
localparam [{{ l.aw_norm - 1 }}:0] D_LAST = {{ l.aw_norm }}'d{{ l.d - 1 }};
localparam [{{ l.lb - 1 }}:0] ROW_LAST = {{ l.lb }}'d{{ l.b - 1 }};

/*
 * The instruction fields (valid while an instruction record waits)
 */
wire [63:0] ir = rec_data[63:0];
wire [3:0]  op = ir[3:0];
wire        f_half = ir[4];
wire        f_dense = ir[5];
wire [12:0] f_count = ir[20:8];      // LOAD_X tokens, LOAD_W beats
wire [2:0]  g_src = ir[10:8];
wire [2:0]  g_dst = ir[14:12];
wire [2:0]  g_skip = ir[18:16];
wire [1:0]  g_mode = ir[21:20];
wire [12:0] g_o0 = ir[34:22];
wire [12:0] g_tokens = ir[47:35];
wire [2:0]  n_dst = ir[10:8];
wire [12:0] n_tokens = ir[29:17];
wire [7:0]  a_head = ir[15:8];
wire [12:0] a_s0 = ir[28:16];
wire [12:0] a_len = ir[41:29];
wire [12:0] s_tokens = ir[23:11];

// a token count of a whole number of token tiles, 1 ... T_MAX tiles' worth
function tiles_ok;
    input [12:0] t;
    begin
        tiles_ok = t != 13'd0 && t[{{ l.lb - 1 }}:0] == {{ l.lb }}'d0 && t <= T_MAX;
    end
endfunction

// an INT8 token-banked buffer of width D (X, Q, K, Ctx, H1): a residual skip, an LN destination
function int8_d;
    input [2:0] id;
    begin
        int8_d = id != BUF_V && id != BUF_RESID && id != BUF_FFN;
    end
endfunction

// the bits of each instruction that are not a field
reg [63:0] reserved;

always @* begin
    case (op)
{%- for r in reserved %}
        {{ r.0 }} reserved = 64'h{{ r.1 }};
{%- endfor %}
    endcase
end

// the tile halves: what the last LOAD_W into each loaded (beats, dense)
reg [12:0] half_beats0, half_beats1;
reg        half_dense0, half_dense1;

wire        g_dense = f_dense;
wire [12:0] g_need = (g_src == BUF_FFN) ? (g_dense ? NB_F_DENSE : NB_F_SPARSE) : (g_dense ? NB_D_DENSE : NB_D_SPARSE);
wire [12:0] g_have = f_half ? half_beats1 : half_beats0;
wire        g_have_dense = f_half ? half_dense1 : half_dense0;
wire [13:0] g_width = (g_dst == BUF_FFN) ? F14 : D14;
wire        g_resid = g_mode == 2'd2;
wire        g_combo_ok = g_src != BUF_V && g_src != BUF_RESID && g_src != g_dst && g_mode != 2'd3 &&
                         (g_resid ? (g_dst == BUF_RESID && int8_d(g_skip) && g_skip != g_src) : g_dst != BUF_RESID);
wire        g_range_ok = tiles_ok(g_tokens) && g_o0[{{ l.lb - 1 }}:0] == {{ l.lb }}'d0 && {1'b0, g_o0} + B14 <= g_width;
wire        a_range_ok = a_head < HEADS && a_len != 13'd0 && a_s0[{{ l.lb - 1 }}:0] == {{ l.lb }}'d0 &&
                         {1'b0, a_s0} + {1'b0, a_len} <= T_MAX14;

// the error this instruction raises (0: none)
reg [7:0] code;

always @* begin
    code = 8'd0;
    if (op == 4'd0 || op > OP_END) begin
        code = E_OPCODE;
    end else if ((ir & reserved) != 64'd0) begin
        code = E_RESERVED;
    end else begin
        case (op)
            OP_LOAD_X: if (!tiles_ok(f_count)) code = E_RANGE;
            OP_LOAD_W: if (f_count == 13'd0 || f_count > MAX_BEATS) code = E_RANGE;
            OP_GEMM: begin
                if (!g_combo_ok) code = E_COMBO;
                else if (!g_range_ok) code = E_RANGE;
                else if (g_have != g_need || g_have_dense != g_dense) code = E_TILE;
            end
            OP_LN: begin
                if (!int8_d(n_dst)) code = E_COMBO;
                else if (!tiles_ok(n_tokens)) code = E_RANGE;
            end
            OP_ATTN: if (!a_range_ok) code = E_RANGE;
            OP_STORE: if (s_tokens == 13'd0 || s_tokens > T_MAX) code = E_RANGE;
            default: code = 8'd0;
        endcase
    end
end

/*
 * State
 */
reg  [2:0]  state;
reg  [7:0]  err_code;
reg         disp_valid;
reg  [63:0] disp;
reg  [41:0] disp_scales;
reg  [41:0] scales;
reg         run_q;
reg  [15:0] icount;
reg  [2:0]  half_users0, half_users1;     // GEMMs dispatched or in flight that read each tile half
reg  [2:0]  norm_users0, norm_users1;     // LNs dispatched or running that read each norm bank

wire all_idle = gemm_idle && ln_idle && attn_idle && store_idle;

// can this instruction go now (its resource is free)?
reg go;

always @* begin
    case (op)
        OP_LOAD_X:    go = all_idle && !disp_valid;
        OP_LOAD_W:    go = (f_half ? half_users1 : half_users0) == 3'd0;
        OP_LOAD_NORM: go = (f_half ? norm_users1 : norm_users0) == 3'd0;
        OP_SET_ATTN:  go = 1'b1;
        default:      go = !disp_valid;
    endcase
end

assign rec_ready = (state == S_INSTR) ? (code == 8'd0 && go) :
                   (state == S_XDATA || state == S_PARAM || state == S_WBEAT || state == S_NORM);
wire take = rec_valid && rec_ready;
wire take_instr = take && state == S_INSTR;
wire bad_instr = rec_valid && state == S_INSTR && code != 8'd0;

/*
 * Loader counters
 */
reg [12:0]    ld_count_last;    // LOAD_X: tokens - 1; LOAD_W: beats - 1
reg           ld_half;          // LOAD_W half / LOAD_NORM bank
reg [12:0]    ld_t;             // LOAD_X token, LOAD_W beat
reg [{{ l.lb - 1 }}:0]     ld_bank;          // LOAD_X: token mod B; LOAD_W: parameter row
reg [{{ l.aw - 1 }}:0]    ld_base;          // LOAD_X: (token / B) * D/M
reg [{{ l.gdw - 1 }}:0]     ld_g;             // LOAD_X: group of M channels
reg [{{ l.aw_norm - 1 }}:0]     ld_c;             // LOAD_NORM: channel

wire x_group_last = ld_g == GD_LAST;
wire ld_count_end = ld_t == ld_count_last;

assign x_we = rec_valid && state == S_XDATA;
assign x_bank = ld_bank;
assign x_addr = ld_base + { {{ "{" }}{{ l.aw - l.gdw }}{1'b0}}, ld_g};
assign x_wdata = rec_data[{{ l.m * 8 - 1 }}:0];
assign par_we = rec_valid && state == S_PARAM;
assign par_waddr = {ld_half, ld_bank};
assign par_wdata = rec_data[61:0];
assign tile_we = rec_valid && state == S_WBEAT;
assign tile_whalf = ld_half;
assign tile_waddr = ld_t[{{ l.aw_tile - 1 }}:0];
assign tile_wdata = rec_data[{{ l.wb - 1 }}:0];
assign norm_we = rec_valid && state == S_NORM;
assign norm_wbank = ld_half;
assign norm_waddr = ld_c;
assign norm_wdata = rec_data[55:0];

/*
 * Next state (also tells the receiver the size of the next record)
 */
reg [2:0] state_nxt;

always @* begin
    state_nxt = state;
    case (state)
        S_INSTR: begin
            if (bad_instr) begin
                state_nxt = S_ERR;
            end else if (take) begin
                case (op)
                    OP_LOAD_X:    state_nxt = S_XDATA;
                    OP_LOAD_W:    state_nxt = S_PARAM;
                    OP_LOAD_NORM: state_nxt = S_NORM;
                    OP_END:       state_nxt = S_END;
                    default:      state_nxt = S_INSTR;
                endcase
            end
        end
        S_XDATA: if (take && x_group_last && ld_count_end) state_nxt = S_INSTR;
        S_PARAM: if (take && ld_bank == ROW_LAST) state_nxt = S_WBEAT;
        S_WBEAT: if (take && ld_count_end) state_nxt = S_INSTR;
        S_NORM:  if (take && ld_c == D_LAST) state_nxt = S_INSTR;
        default: state_nxt = state;
    endcase
end

function [{{ l.rx_cw - 1 }}:0] words_of;
    input [2:0] s;
    begin
        case (s)
            S_XDATA: words_of = W_XDATA;
            S_PARAM: words_of = W_PARAM;
            S_WBEAT: words_of = W_WBEAT;
            S_NORM:  words_of = W_NORM;
            default: words_of = W_INSTR;
        endcase
    end
endfunction

assign rec_need = words_of(take ? state_nxt : state);

/*
 * Dispatch
 */
wire [3:0] d_op = disp[3:0];
assign cmd = disp;
assign cmd_scales = disp_scales;
assign start_gemm = disp_valid && d_op == OP_GEMM && ln_idle && attn_idle && store_idle && gemm_can_start;
assign start_ln = disp_valid && d_op == OP_LN && all_idle;
assign start_attn = disp_valid && d_op == OP_ATTN && all_idle;
assign start_store = disp_valid && d_op == OP_STORE && all_idle;

// STATUS: at END once everything before it has finished; after an error once the dispatched instruction and the
// engines have finished
assign status_valid = all_idle && ((state == S_END && disp_valid) || (state == S_ERR && !disp_valid));
wire status_sent = status_valid && status_ready;
wire disp_pop = start_gemm || start_ln || start_attn || start_store || (status_sent && state == S_END);
wire disp_push = take_instr && (op == OP_GEMM || op == OP_LN || op == OP_ATTN || op == OP_STORE || op == OP_END);

wire gemm_push0 = disp_push && op == OP_GEMM && !f_half;
wire gemm_push1 = disp_push && op == OP_GEMM && f_half;
wire ln_push0 = disp_push && op == OP_LN && !ir[4];
wire ln_push1 = disp_push && op == OP_LN && ir[4];

always @(posedge clk) begin
    if (rst) begin
        state <= S_INSTR;
        err_code <= 8'd0;
        disp_valid <= 1'b0;
        run_q <= 1'b0;
        icount <= 16'd0;
        half_users0 <= 3'd0;
        half_users1 <= 3'd0;
        norm_users0 <= 3'd0;
        norm_users1 <= 3'd0;
        half_beats0 <= 13'd0;
        half_beats1 <= 13'd0;
        half_dense0 <= 1'b0;
        half_dense1 <= 1'b0;
    end else begin
        state <= state_nxt;
        if (bad_instr) begin
            err_code <= code;
            run_q <= 1'b1;
        end
        if (take_instr) begin
            icount <= icount + 16'd1;
            run_q <= 1'b1;
        end
        if (status_sent) begin
            run_q <= 1'b0;
            icount <= 16'd0;
            if (state == S_ERR) begin
                state <= S_DEAD;
            end else begin
                state <= S_INSTR;
            end
        end
        if (disp_push) begin
            disp_valid <= 1'b1;
        end else if (disp_pop) begin
            disp_valid <= 1'b0;
        end
        if (take_instr && op == OP_LOAD_W) begin
            if (f_half) begin
                half_beats1 <= f_count;
                half_dense1 <= f_dense;
            end else begin
                half_beats0 <= f_count;
                half_dense0 <= f_dense;
            end
        end
        half_users0 <= half_users0 + {2'd0, gemm_push0} - {2'd0, gemm_retire && !gemm_retire_half};
        half_users1 <= half_users1 + {2'd0, gemm_push1} - {2'd0, gemm_retire && gemm_retire_half};
        norm_users0 <= norm_users0 + {2'd0, ln_push0} - {2'd0, ln_done && !ln_done_bank};
        norm_users1 <= norm_users1 + {2'd0, ln_push1} - {2'd0, ln_done && ln_done_bank};
    end
end

// instruction and scales registers (data)
always @(posedge clk) begin
    if (disp_push) begin
        disp <= ir;
        disp_scales <= scales;
    end
    if (take_instr && op == OP_SET_ATTN) begin
        scales <= ir[49:8];
    end
end

// loader counters
always @(posedge clk) begin
    if (take_instr) begin
        ld_count_last <= f_count - 13'd1;
        ld_half <= ir[4];
        ld_t <= 13'd0;
        ld_bank <= {{ l.lb }}'d0;
        ld_base <= {{ l.aw }}'d0;
        ld_g <= {{ l.gdw }}'d0;
        ld_c <= {{ l.aw_norm }}'d0;
    end else if (take) begin
        case (state)
            S_XDATA: begin
                if (x_group_last) begin
                    ld_g <= {{ l.gdw }}'d0;
                    ld_t <= ld_t + 13'd1;
                    ld_bank <= ld_bank + {{ l.lb }}'d1;
                    if (ld_bank == ROW_LAST) begin
                        ld_base <= ld_base + GD;
                    end
                end else begin
                    ld_g <= ld_g + {{ l.gdw }}'d1;
                end
            end
            S_PARAM: ld_bank <= ld_bank + {{ l.lb }}'d1;
            S_WBEAT: ld_t <= ld_t + 13'd1;
            S_NORM: ld_c <= ld_c + {{ l.aw_norm }}'d1;
            default: ;
        endcase
    end
end

/*
 * Counters of the STATUS record (from the first instruction of a program to its STATUS)
 */
localparam CW = 56;
reg [CW-1:0] c_cycles, c_gemm, c_attn, c_ln, c_store, c_wait, c_beats_gemm, c_beats_attn;

always @(posedge clk) begin
    if (rst || status_sent) begin
        c_cycles <= {CW{1'b0}};
        c_gemm <= {CW{1'b0}};
        c_attn <= {CW{1'b0}};
        c_ln <= {CW{1'b0}};
        c_store <= {CW{1'b0}};
        c_wait <= {CW{1'b0}};
        c_beats_gemm <= {CW{1'b0}};
        c_beats_attn <= {CW{1'b0}};
    end else if (run_q || take_instr) begin
        c_cycles <= c_cycles + {{ "{{" }}(CW-1){1'b0}}, 1'b1};
        c_gemm <= c_gemm + { {(CW-1){1'b0}}, !gemm_idle};
        c_attn <= c_attn + { {(CW-1){1'b0}}, !attn_idle};
        c_ln <= c_ln + { {(CW-1){1'b0}}, !ln_idle};
        c_store <= c_store + { {(CW-1){1'b0}}, !store_idle};
        // the engines have nothing to do and the decoder is still reading the program: waiting for the stream
        c_wait <= c_wait + { {(CW-1){1'b0}}, all_idle && !disp_valid && state != S_END && state != S_ERR};
        c_beats_gemm <= c_beats_gemm + { {(CW-1){1'b0}}, pe_fire && attn_idle};
        c_beats_attn <= c_beats_attn + { {(CW-1){1'b0}}, pe_fire && !attn_idle};
    end
end

assign status_data = {{ "{" }}{{ l.status_bits - 64 - 8 * 56 }}'d0, c_beats_attn, c_beats_gemm, c_wait, c_store, c_ln, c_attn, c_gemm, c_cycles,
                      32'd0, icount, 8'd0, err_code};
assign err = err_code != 8'd0;
assign running = run_q;

{{ unused_rec }}
endmodule

`resetall
