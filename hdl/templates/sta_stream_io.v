{{ header }}
`resetall
`timescale 1ns / 1ps
`default_nettype none

/*
 * Narrow-stream I/O wrapper of {{ inner }}:
 * the design behind one W-bit valid/ready word stream in and one out, so that its {{ in_bits }} input and {{ out_bits }} output
 * payload bits fit the pins of an FPGA package (docs/stream-io.md).
 *
 * Input: one beat of the inner design is the concatenation of (first field at bit 0)
{%- for f in in_fields %}
 *   [{{ f.lo }} +: {{ f.bits }}] {{ f.name }}
{%- endfor %}
 * sent as K_IN = {{ k_in }} word{% if k_in > 1 %}s{% endif %}, word k = beat bits [k*W +: W].{% if !in_pad_note.is_empty() %}
 * {{ in_pad_note }}{% endif %}
 * The assembled beat is offered on {{ in_valid_list }}.
 * Output: one beat of the inner design
{%- for f in out_fields %}
 *   [{{ f.lo }} +: {{ f.bits }}] {{ f.name }}
{%- endfor %}
 * leaves as K_OUT = {{ k_out }} word{% if k_out > 1 %}s{% endif %} the same way.{% if !out_pad_note.is_empty() %}
 * {{ out_pad_note }}{% endif %}
 * m_tlast marks the last word of each output beat (framing only: the inner design's own last flag is in the payload).
 *
 * Throughput: one word per cycle each way, so one input beat per K_IN cycles and one output beat per K_OUT cycles:
 * with one output beat per input beat, one beat per max(K_IN, K_OUT) = {{ k_max }} cycle{% if k_max > 1 %}s{% endif %}, as long as the inner design
 * keeps up and the host sends and takes a word every cycle. The deserializer takes the next beat's first word in the
 * cycle it hands a full beat over, and the serializer loads the next beat in the cycle it sends the last word.
 * Latency: a beat is offered to the inner design two clock edges after its last word is accepted; an output beat's
 * first word is on m_tdata two clock edges after the one at which the inner design gives the beat.
 *
 * Timing: every port is a register. s_tdata/s_tvalid are captured in registers (a head word and a skid word, so that
 * s_tready can be a register too); m_tdata, m_tvalid and m_tlast are register outputs. The inner design's ready comes
 * from a register (a one-beat holding buffer behind the serializer), and m_tready reaches only the port stage (a port
 * register and a skid register after the serializer): there is no combinational path from m_tready to s_tready, to
 * the serializer or into the inner design.
 */
module {{ name }} #
(
    // Word width in bits (8, 16 or 32); the payload layout above is computed for {{ word_bits }}: regenerate for another
    parameter W = {{ word_bits }}
)
(
    input  wire          clk,
    input  wire          rst,

    /*
     * Input words: K_IN = {{ k_in }} per beat of the inner design
     */
    input  wire [W-1:0]  s_tdata,
    input  wire          s_tvalid,
    output wire          s_tready,

    /*
     * Output words: K_OUT = {{ k_out }} per beat of the inner design, m_tlast on the last
     */
    output wire [W-1:0]  m_tdata,
    output wire          m_tlast,
    output wire          m_tvalid,
    input  wire          m_tready,

    /*
     * Status
     */
    output wire          err           // {{ err_comment }}
);

localparam IN_BITS = {{ in_bits }};       // input payload bits
localparam K_IN = {{ k_in }};          // words per input beat, ceil(IN_BITS / W)
localparam OUT_BITS = {{ out_bits }};      // output payload bits
localparam K_OUT = {{ k_out }};         // words per output beat, ceil(OUT_BITS / W)

// bail out on hand edits: the payload layout was computed for exactly this word width
initial begin
    if (W != {{ word_bits }}) begin
        $error("Error: W must be {{ word_bits }}: regenerate with --io-width for another word width (instance %m)");
        $finish;
    end
end

/*
 * Input words: the head word waits for the deserializer; a word that arrives while the head cannot move on is
 * parked in the skid register. s_tready is high exactly when the skid register is free, so it can be registered.
 */
reg  [W-1:0]          word_data;
reg                   word_valid;
reg  [W-1:0]          skid_data;
reg                   skid_valid;
reg                   s_ready_reg;
wire                  word_take;        // the deserializer takes the head word this cycle

wire s_fire = s_tvalid && s_ready_reg;
wire head_moves = !word_valid || word_take;
wire skid_next = !head_moves && (skid_valid || s_fire);

assign s_tready = s_ready_reg;

always @(posedge clk) begin
    if (s_ready_reg) begin
        skid_data <= s_tdata;
    end
    if (head_moves) begin
        word_data <= skid_valid ? skid_data : s_tdata;
    end
    if (rst) begin
        word_valid <= 1'b0;
        skid_valid <= 1'b0;
        s_ready_reg <= 1'b0;
    end else begin
        word_valid <= head_moves ? (skid_valid || s_fire) : 1'b1;
        skid_valid <= skid_next;
        s_ready_reg <= !skid_next;
    end
end

/*
 * Deserializer: the head word is written into its slot of the beat register (word k to bits [k*W +: W]), the slot
 * chosen by a one-hot pointer, so no flip-flop of the beat depends on more than the head word and its own slot's
 * enable. A full beat is offered to the inner design; the cycle it is taken, the next beat's first word may already
 * go into slot 0. Slots 1 and up are only written while the beat is incomplete (des_full low), so their enables
 * depend on registers only; only slot 0 (W flip-flops) and the pointer wait for the inner design's ready.
 */
{%- if k_in > 1 %}
reg  [IN_BITS-1:0]    des_data;
{%- else %}
reg  [K_IN*W-1:0]     des_data;
{%- endif %}
reg                   des_full;
wire [{{ in_ready_count - 1 }}:0]            in_ready;         // the inner design's input readys
wire                  in_fire = des_full && (&in_ready);
wire [IN_BITS-1:0]    in_beat = des_data[IN_BITS-1:0];

assign word_take = word_valid && (!des_full || in_fire);
{%- if k_in > 1 %}

reg  [K_IN-1:0]       des_slot;         // one-hot: the slot of the head word
wire [K_IN-1:0]       des_wr = {des_slot[K_IN-1:1] & {(K_IN-1){word_valid}}, des_slot[0] && word_take};
integer               k;

always @(posedge clk) begin
    for (k = 0; k < K_IN - 1; k = k + 1) begin
        if (des_wr[k]) begin
            des_data[k*W +: W] <= word_data;
        end
    end
    if (des_wr[K_IN-1]) begin
        des_data[IN_BITS-1:(K_IN-1)*W] <= word_data[IN_BITS-(K_IN-1)*W-1:0];
    end
    if (rst) begin
        des_slot <= {{ k_in }}'d1;
        des_full <= 1'b0;
    end else begin
        if (word_take) begin
            des_slot <= {des_slot[K_IN-2:0], des_slot[K_IN-1]};
        end
        if (des_wr[K_IN-1]) begin
            des_full <= 1'b1;
        end else if (in_fire) begin
            des_full <= 1'b0;
        end
    end
end
{%- else %}

always @(posedge clk) begin
    if (word_take) begin
        des_data <= word_data;
    end
    if (rst) begin
        des_full <= 1'b0;
    end else if (word_take) begin
        des_full <= 1'b1;           // every word is a whole beat
    end else if (in_fire) begin
        des_full <= 1'b0;
    end
end
{%- endif %}

/*
 * Output: the serializer sends its beat from the low W bits and shifts; a beat the inner design gives while the
 * serializer is busy waits in the holding register, whose emptiness is the inner design's ready. The serializer's
 * word goes to the port through a registered stage with a one-word skid register, whose ready (ser_ready) is itself a
 * register: m_tready reaches only that stage's enables, never the serializer (the pin's routing plus the serializer's
 * enable fan-out held an 8x8 PE array behind this wrapper at 98.5 MHz on ECP5). Whether a serializer move loads a new
 * beat or shifts is the register ser_reload, set one cycle ahead from a down-counter of the words left.
 */
wire [OUT_BITS-1:0]   out_beat;
wire                  out_valid;
reg  [OUT_BITS-1:0]   hold_data;
reg                   hold_valid;
reg  [K_OUT*W-1:0]    ser_data;
reg                   ser_valid;
{%- if k_out > 1 %}
reg                   ser_last;         // the word on m_tdata is the last of its beat
reg                   ser_reload;       // !ser_valid || ser_last: the next move loads a beat
reg  [{{ out_count_bits - 1 }}:0]            ser_left;         // words of the beat after the one on m_tdata
{%- endif %}

// the port stage: the word on m_tdata, and the word that arrived while m_tdata was blocked
reg  [W-1:0]          port_data;
reg                   port_valid;
reg                   port_last;
reg  [W-1:0]          port_skid_data;
reg                   port_skid_valid;
reg                   port_skid_last;
reg                   ser_ready;        // the port stage takes a serializer word this cycle (the skid is empty)
reg                   ser_ready_copy;   // the same register, for the serializer's side (see below)

wire out_ready = !hold_valid;
wire out_fire = out_valid && out_ready;
wire ser_move = !ser_valid || ser_ready_copy;  // the serializer's word is taken, or there is none
{%- if k_out > 1 %}
wire ser_free = ser_move && ser_reload;
{%- else %}
wire ser_free = ser_move;
{%- endif %}

{%- if k_out > 1 %}
wire ser_word_last = ser_last;
{%- else %}
wire ser_word_last = 1'b1;          // every output beat is one word
{%- endif %}

assign m_tdata = port_data;
assign m_tvalid = port_valid;
assign m_tlast = port_last;

always @(posedge clk) begin
    if (out_ready) begin
        hold_data <= out_beat;
    end
    if (ser_move) begin
{%- if k_out > 1 %}
        if (ser_reload) begin
            ser_data <= {{ ser_load }};
        end else begin
            ser_data <= ser_data >> W;
        end
{%- else %}
        ser_data <= {{ ser_load }};
{%- endif %}
    end
    if (rst) begin
        ser_valid <= 1'b0;
        hold_valid <= 1'b0;
{%- if k_out > 1 %}
        ser_last <= 1'b0;
        ser_reload <= 1'b1;
        ser_left <= {{ out_count_bits }}'d0;
{%- endif %}
    end else begin
{%- if k_out > 1 %}
        if (ser_move) begin
            if (ser_reload) begin
                // a waiting beat first; else the inner design's beat of this cycle, if any
                ser_valid <= hold_valid || out_fire;
                ser_reload <= !(hold_valid || out_fire);
                ser_last <= 1'b0;
                ser_left <= {{ out_first_left }};
            end else begin
                ser_last <= ser_left == {{ out_count_bits }}'d1;
                ser_reload <= ser_left == {{ out_count_bits }}'d1;
                ser_left <= ser_left - 1'b1;
            end
        end
{%- else %}
        if (ser_move) begin
            // a waiting beat first; else the inner design's beat of this cycle, if any
            ser_valid <= hold_valid || out_fire;
        end
{%- endif %}
        // (the inner design cannot give a beat while one waits)
        if (ser_free) begin
            hold_valid <= 1'b0;
        end else if (out_fire) begin
            hold_valid <= 1'b1;
        end
    end
end

// the port stage: while ser_ready, a serializer word goes to the port register when that is empty or being taken,
// else to the skid register (and ser_ready drops); otherwise the skid's word moves up when the port's is taken.
// ser_ready for the next cycle: the skid will be empty.
wire port_free = !port_valid || m_tready;
wire ser_ready_next = m_tready || (!port_skid_valid && !(port_valid && ser_valid));

always @(posedge clk) begin
    if (ser_ready) begin
        if (port_free) begin
            port_data <= ser_data[W-1:0];
            port_last <= ser_word_last;
        end else begin
            port_skid_data <= ser_data[W-1:0];
            port_skid_last <= ser_word_last;
        end
    end else if (m_tready) begin
        port_data <= port_skid_data;
        port_last <= port_skid_last;
    end
    if (rst) begin
        port_valid <= 1'b0;
        port_skid_valid <= 1'b0;
        ser_ready <= 1'b1;
    end else begin
        if (ser_ready) begin
            if (port_free) begin
                port_valid <= ser_valid;
            end else begin
                port_skid_valid <= ser_valid;
            end
        end else if (m_tready) begin
            port_valid <= port_skid_valid;
            port_skid_valid <= 1'b0;
        end
        ser_ready <= ser_ready_next;
    end
end

// ser_ready twice: the port stage's copy sits by the pins, the serializer's by its K_OUT*W-bit register and the holding
// buffer, whose enables it drives (one register for both sides held an 8x8 PE array behind this wrapper at 120 MHz on
// ECP5, the path crossing from the pins to the array's side and back). Kept: Yosys would merge the two.
(* keep *)
always @(posedge clk) begin
    ser_ready_copy <= rst || ser_ready_next;
end

/*
 * The inner design
 */
{%- for d in declarations %}
{{ d }}
{%- endfor %}

{{ inner }} inner (
{%- for c in connections %}
    {{ c }}{% if !loop.last %},{% endif %}
{%- endfor %}
);
{%- if !err_source %}

assign err = 1'b0;
{%- endif %}
{%- if !unused.is_empty() %}

// unused: {{ unused_reason }}
wire _unused = &{1'b0, {{ unused|join(", ") }}};
{%- endif %}

endmodule

`resetall
