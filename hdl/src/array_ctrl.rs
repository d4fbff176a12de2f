//! The PE array's controller, written in rust-hdl: stream join, pipeline valid/last tracking, accumulator
//! clear/capture, result-drain counter, the two-entry result output stage and performance counters.
//!
//! This block is pure control (no signed arithmetic, fixed widths), which is where rust-hdl's `#[hdl_gen]` emission
//! is safe. Its raw output (one module per DFF instance, `$` in names) is flattened into one clean module by
//! [`crate::rhdl_flatten`]. Every register here is a control register and has the synchronous active-high reset.

use rust_hdl::prelude::*;

/// Width of the performance counters (cycles, busy, stall).
pub const PERF_COUNTER_BITS: usize = 48;
/// Width of the result-drain counter; holds up to 64 rows (the largest legal array).
const ROW_COUNT_BITS: usize = 7;
/// Room for the adder-tree levels beyond the first (a 16-product tree has 4 levels: 3 extra).
const TREE_EXTRA_BITS: usize = 4;

#[derive(LogicBlock)]
pub struct ArrayCtrl {
    pub clk: Signal<In, Clock>,
    pub rst: Signal<In, Bit>,
    // input streams (joined: one beat needs both)
    pub w_valid: Signal<In, Bit>,
    pub w_last: Signal<In, Bit>,
    pub a_valid: Signal<In, Bit>,
    pub a_last: Signal<In, Bit>,
    pub w_ready: Signal<Out, Bit>,
    pub a_ready: Signal<Out, Bit>,
    // result stream
    pub y_ready: Signal<In, Bit>,
    pub y_valid: Signal<Out, Bit>,
    pub y_last: Signal<Out, Bit>,
    // the result output stage (its data registers are in the array top, a pair per column): whether the output and
    // the spare register hold a row after the next edge (reset included). Every column keeps its own copy of these
    // two flags and of shift and steers its pair from them and m_y_tready: one column's enables reach 2·ACC_W
    // flip-flops, where the controller's reached 2·COLS·ACC_W across the array (the critical path of 8x8 4:8 at
    // 97.7 MHz once the PE controls were relayed)
    pub out_valid_next: Signal<Out, Bit>,
    pub spare_valid_next: Signal<Out, Bit>,
    // to every PE: the broadcast controls, announced ahead. Every PE keeps its own copy of the five control registers
    // en (pipeline advance), acc_en, acc_clear, capture and shift (sta_pe_array.v), so the controller's registers drive
    // only the controller and nothing is pulled across the array by their loads.
    // en, acc_en, acc_clear and capture: their values two clock edges from now, if no reset comes in between. They
    // depend on nothing the next cycle brings, so the array relays them through one register per row to the PEs'
    // copies: a row's relay drives COLS copies, and the controller's next-state logic drives ROWS relays instead of
    // ROWS·COLS copies (that net was 8x8 4:8's critical path at 96.7 MHz on ECP5).
    pub en_next2: Signal<Out, Bit>,
    pub acc_en_next2: Signal<Out, Bit>,
    pub acc_clear_next2: Signal<Out, Bit>,
    pub capture_next2: Signal<Out, Bit>,
    // shift: its value at the next clock edge (reset included); it follows the consumer's ready of this cycle, so it
    // cannot be announced earlier and every PE's copy loads it directly
    pub shift_next: Signal<Out, Bit>,
    // status
    pub perf_cycles: Signal<Out, Bits<PERF_COUNTER_BITS>>,
    pub perf_busy: Signal<Out, Bits<PERF_COUNTER_BITS>>,
    pub perf_stall: Signal<Out, Bits<PERF_COUNTER_BITS>>,
    pub err_last: Signal<Out, Bit>,
    in_fire: Signal<Local, Bit>,
    stall: Signal<Local, Bit>,
    /// Next-cycle values of sum_valid / sum_last / "a result row will still be waiting", for the stall register.
    sum_valid_next: Signal<Local, Bit>,
    sum_last_next: Signal<Local, Bit>,
    rows_waiting_next: Signal<Local, Bit>,
    /// The consumer takes the output register's row this cycle.
    pop: Signal<Local, Bit>,
    /// The output register / the spare register takes the chain's row 0 (each column of the array top derives the
    /// same, and whether the output register takes the spare's row, from its copies).
    load_out: Signal<Local, Bit>,
    load_spare: Signal<Local, Bit>,
    /// drain_count's next value.
    drain_next: Signal<Local, Bits<ROW_COUNT_BITS>>,
    /// Rows in the output stage after this cycle, at most one: a row may move in next cycle whatever the consumer does.
    room_next: Signal<Local, Bit>,
    stall_next: Signal<Local, Bit>,
    /// One cycle on, from this cycle's next-state values: the sum stage's valid/last after the next edge, the value
    /// entering it then, drain_any then, the stall at the edge after next (for the two-edge announcements).
    pre_sum_valid_1: Signal<Local, Bit>,
    pre_sum_last_1: Signal<Local, Bit>,
    sum_valid_2: Signal<Local, Bit>,
    sum_last_2: Signal<Local, Bit>,
    drain_any_2: Signal<Local, Bit>,
    stall_2: Signal<Local, Bit>,
    /// `stall` and `acc_en`, computed a cycle ahead: `en` and `acc_en` fan out to every pipeline register, DSP
    /// clock enable and accumulator of the array, so they come straight from flip-flops (on ECP5 the
    /// combinational stall plus that fan-out was the critical path at 114 MHz for 8x8 2:8): these registers and
    /// every PE's copy of them (through the row relays, from `en_next2` / `acc_en_next2`). `acc_en_q` itself has no
    /// load in the array (synthesis drops it); it is the reference the tests hold the copies to.
    stall_q: DFF<Bit>,
    acc_en_q: DFF<Bit>,
    /// A beat is in the operand registers / the select registers / the multipliers' input registers / the product
    /// registers / the products' fabric landing registers / the last level of the adder tree (the sum).
    opnd_valid: DFF<Bit>,
    sel_valid: DFF<Bit>,
    mul_valid: DFF<Bit>,
    prod_valid: DFF<Bit>,
    land_valid: DFF<Bit>,
    sum_valid: DFF<Bit>,
    opnd_last: DFF<Bit>,
    sel_last: DFF<Bit>,
    mul_last: DFF<Bit>,
    prod_last: DFF<Bit>,
    land_last: DFF<Bit>,
    sum_last: DFF<Bit>,
    /// The adder tree's levels before the last one (bit k: level k + 1), a shift register; unused when the tree has
    /// one level (`tree_bypass`), otherwise the last of them is the bit `tree_tap` selects.
    tree_valid: DFF<Bits<TREE_EXTRA_BITS>>,
    tree_last: DFF<Bits<TREE_EXTRA_BITS>>,
    tree_bypass: Constant<Bit>,
    tree_tap: Constant<Bits<TREE_EXTRA_BITS>>,
    /// 1: both the bit shifted in and the shift distance (a literal would be emitted as an unsized 32-bit one).
    tree_in: Constant<Bits<TREE_EXTRA_BITS>>,
    tree_zero: Constant<Bits<TREE_EXTRA_BITS>>,
    /// The value that enters the sum stage when the pipeline advances.
    pre_sum_valid: Signal<Local, Bit>,
    pre_sum_last: Signal<Local, Bit>,
    /// The next beat to reach the accumulator starts a new tile.
    tile_start: DFF<Bit>,
    /// A tile's last beat was accumulated in the previous cycle: its sums move into the shadow registers now.
    /// (Copying the accumulator register one cycle late keeps the adder's carry chain out of the shadow path.)
    cap_pending: DFF<Bit>,
    /// Result rows still to leave the shadow chain.
    drain_count: DFF<Bits<ROW_COUNT_BITS>>,
    /// drain_count ≥ 1 and ≥ 2, kept as flags beside the counter: "rows left after this cycle" then needs no carry
    /// chain and no zero test, so `shift_next` (which reaches every PE's copy of `shift`) is two LUTs from registers
    /// (through the counter's decrement it held 8x8 2:8 at 115 MHz).
    drain_any: DFF<Bit>,
    drain_many: DFF<Bit>,
    /// drain_count ≥ 3, the flag drain_many takes when a row moves out, kept like the other two: the two-edge
    /// announcements read drain_many's next value, and a comparison of the counter there held 1:8 4x4 at 163 MHz.
    /// Its own next value is an OR of the counter's high bits (≥ 4 before a row moves out), not a comparison of the
    /// decremented counter (two carry chains: 155 MHz).
    drain_several: DFF<Bit>,
    /// drain_any after this cycle.
    drain_any_next: Signal<Local, Bit>,
    /// The chain moves its row 0 into the output stage this cycle: decided a cycle ahead, because `shift` reaches
    /// every PE's shadow register (R·C·ACC_W loads) and must come straight from a flip-flop (each PE's copy, loaded
    /// from `shift_next`); the output stage's two registers make that possible without knowing the consumer's ready
    /// in advance.
    shift_q: DFF<Bit>,
    /// The output and spare registers hold a row; whether it is a tile's last.
    out_valid: DFF<Bit>,
    out_last: DFF<Bit>,
    spare_valid: DFF<Bit>,
    spare_last: DFF<Bit>,
    cycles: DFF<Bits<PERF_COUNTER_BITS>>,
    busy: DFF<Bits<PERF_COUNTER_BITS>>,
    stalls: DFF<Bits<PERF_COUNTER_BITS>>,
    last_mismatch: DFF<Bit>,
    rows: Constant<Bits<ROW_COUNT_BITS>>,
    count_one: Constant<Bits<ROW_COUNT_BITS>>,
    count_zero: Constant<Bits<ROW_COUNT_BITS>>,
    /// drain_count's bits above the two lowest: any of them set means a count of 4 or more (a mask, not a slice:
    /// rust-hdl writes a slice's offset as an unsized 32-bit literal).
    count_four_up: Constant<Bits<ROW_COUNT_BITS>>,
    /// The array has at least two rows (drain_many right after a capture).
    rows_many: Constant<Bit>,
    /// The array has at least three rows (drain_several right after a capture).
    rows_several: Constant<Bit>,
    perf_one: Constant<Bits<PERF_COUNTER_BITS>>,
    perf_zero: Constant<Bits<PERF_COUNTER_BITS>>,
}

impl ArrayCtrl {
    /// `rows` is the number of PE rows, i.e. result beats per tile (1..=64, checked by `ArrayShape`);
    /// `sum_levels` the registered levels of the PEs' adder tree (1..=4, `ArrayShape::sum_levels`).
    pub fn new(rows: usize, sum_levels: usize) -> Self {
        assert!(
            (1..=TREE_EXTRA_BITS).contains(&sum_levels),
            "the adder tree has 1 to {TREE_EXTRA_BITS} levels (checked by ArrayShape)"
        );
        let extra = sum_levels - 1;
        Self {
            clk: Default::default(),
            rst: Default::default(),
            w_valid: Default::default(),
            w_last: Default::default(),
            a_valid: Default::default(),
            a_last: Default::default(),
            w_ready: Default::default(),
            a_ready: Default::default(),
            y_ready: Default::default(),
            y_valid: Default::default(),
            y_last: Default::default(),
            out_valid_next: Default::default(),
            spare_valid_next: Default::default(),
            en_next2: Default::default(),
            acc_en_next2: Default::default(),
            acc_clear_next2: Default::default(),
            capture_next2: Default::default(),
            shift_next: Default::default(),
            perf_cycles: Default::default(),
            perf_busy: Default::default(),
            perf_stall: Default::default(),
            err_last: Default::default(),
            in_fire: Default::default(),
            stall: Default::default(),
            sum_valid_next: Default::default(),
            sum_last_next: Default::default(),
            rows_waiting_next: Default::default(),
            pop: Default::default(),
            load_out: Default::default(),
            load_spare: Default::default(),
            drain_next: Default::default(),
            room_next: Default::default(),
            stall_next: Default::default(),
            pre_sum_valid_1: Default::default(),
            pre_sum_last_1: Default::default(),
            sum_valid_2: Default::default(),
            sum_last_2: Default::default(),
            drain_any_2: Default::default(),
            stall_2: Default::default(),
            stall_q: Default::default(),
            acc_en_q: Default::default(),
            opnd_valid: Default::default(),
            sel_valid: Default::default(),
            mul_valid: Default::default(),
            prod_valid: Default::default(),
            land_valid: Default::default(),
            sum_valid: Default::default(),
            opnd_last: Default::default(),
            sel_last: Default::default(),
            mul_last: Default::default(),
            prod_last: Default::default(),
            land_last: Default::default(),
            sum_last: Default::default(),
            tree_valid: Default::default(),
            tree_last: Default::default(),
            tree_bypass: Constant::new(extra == 0),
            tree_tap: Constant::new((1u64 << extra.saturating_sub(1)).to_bits()),
            tree_in: Constant::new(1u64.to_bits()),
            tree_zero: Constant::new(0u64.to_bits()),
            pre_sum_valid: Default::default(),
            pre_sum_last: Default::default(),
            tile_start: Default::default(),
            cap_pending: Default::default(),
            drain_count: Default::default(),
            drain_any: Default::default(),
            drain_many: Default::default(),
            drain_several: Default::default(),
            drain_any_next: Default::default(),
            shift_q: Default::default(),
            out_valid: Default::default(),
            out_last: Default::default(),
            spare_valid: Default::default(),
            spare_last: Default::default(),
            cycles: Default::default(),
            busy: Default::default(),
            stalls: Default::default(),
            last_mismatch: Default::default(),
            rows: Constant::new((rows as u64).to_bits()),
            count_one: Constant::new(1u64.to_bits()),
            count_zero: Constant::new(0u64.to_bits()),
            count_four_up: Constant::new((((1u64 << ROW_COUNT_BITS) - 1) & !3).to_bits()),
            rows_many: Constant::new(rows >= 2),
            rows_several: Constant::new(rows >= 3),
            perf_one: Constant::new(1u64.to_bits()),
            perf_zero: Constant::new(0u64.to_bits()),
        }
    }
}

impl Logic for ArrayCtrl {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clk,
            opnd_valid,
            sel_valid,
            mul_valid,
            prod_valid,
            land_valid,
            sum_valid,
            opnd_last,
            sel_last,
            mul_last,
            prod_last,
            land_last,
            sum_last,
            tree_valid,
            tree_last,
            tile_start,
            cap_pending,
            drain_count,
            drain_any,
            drain_many,
            drain_several,
            shift_q,
            out_valid,
            out_last,
            spare_valid,
            spare_last,
            stall_q,
            acc_en_q,
            cycles,
            busy,
            stalls,
            last_mismatch
        );
        // A tile's last beat may only reach the accumulator once the previous tile's rows have all left (and been
        // captured): the whole pipeline holds (and the inputs see tready low) until then. That condition,
        //   stall = sum_valid & sum_last & (drain_count != 0 | cap_pending),
        // is evaluated on the next-state values below and registered, so tready depends on registers only.
        self.stall.next = self.stall_q.q.val();
        self.in_fire.next = self.w_valid.val() & self.a_valid.val() & !self.stall.val();
        self.w_ready.next = self.a_valid.val() & !self.stall.val();
        self.a_ready.next = self.w_valid.val() & !self.stall.val();

        // the output stage: a row moves in when shift_q says so (row 0 of the chain, the tile's last when it is the
        // last row left), the consumer takes the output register's row, the spare (if any) moves up
        self.pop.next = self.out_valid.q.val() & self.y_ready.val();
        self.y_valid.next = self.out_valid.q.val();
        self.y_last.next = self.out_last.q.val();
        self.load_out.next = false;
        self.load_spare.next = false;
        if self.shift_q.q.val() {
            if self.pop.val() {
                self.load_out.next = !self.spare_valid.q.val();
                self.load_spare.next = self.spare_valid.q.val();
            } else {
                self.load_out.next = !self.out_valid.q.val();
                self.load_spare.next = self.out_valid.q.val();
            }
        }
        if self.pop.val() {
            self.out_valid.d.next = self.spare_valid.q.val();
            self.out_last.d.next = self.spare_last.q.val();
            self.spare_valid.d.next = false;
        }
        if self.load_out.val() {
            self.out_valid.d.next = true;
            self.out_last.d.next = self.drain_any.q.val() & !self.drain_many.q.val();
        }
        if self.load_spare.val() {
            self.spare_valid.d.next = true;
            self.spare_last.d.next = self.drain_any.q.val() & !self.drain_many.q.val();
        }
        // after this cycle at most one row in the stage: with the spare taken, only if the consumer pops now
        self.room_next.next = !self.spare_valid.q.val()
            & !(self.out_valid.q.val() & self.shift_q.q.val() & !self.pop.val());
        if self.spare_valid.q.val() {
            self.room_next.next = self.pop.val() & !self.shift_q.q.val();
        }

        // the tree's levels before the last: level 1 takes the products, the tap is the level before the sum
        self.pre_sum_valid.next = self.land_valid.q.val();
        self.pre_sum_last.next = self.land_last.q.val();
        if !self.tree_bypass.val() {
            self.pre_sum_valid.next = (self.tree_valid.q.val() & self.tree_tap.val()).any();
            self.pre_sum_last.next = (self.tree_last.q.val() & self.tree_tap.val()).any();
        }

        if !self.stall.val() {
            self.opnd_valid.d.next = self.in_fire.val();
            self.opnd_last.d.next = self.w_last.val();
            self.sel_valid.d.next = self.opnd_valid.q.val();
            self.sel_last.d.next = self.opnd_last.q.val();
            self.mul_valid.d.next = self.sel_valid.q.val();
            self.mul_last.d.next = self.sel_last.q.val();
            self.prod_valid.d.next = self.mul_valid.q.val();
            self.prod_last.d.next = self.mul_last.q.val();
            self.land_valid.d.next = self.prod_valid.q.val();
            self.land_last.d.next = self.prod_last.q.val();
            self.tree_valid.d.next = self.tree_valid.q.val() << self.tree_in.val();
            self.tree_last.d.next = self.tree_last.q.val() << self.tree_in.val();
            if self.land_valid.q.val() {
                self.tree_valid.d.next =
                    (self.tree_valid.q.val() << self.tree_in.val()) | self.tree_in.val();
            }
            if self.land_last.q.val() {
                self.tree_last.d.next =
                    (self.tree_last.q.val() << self.tree_in.val()) | self.tree_in.val();
            }
            self.sum_valid.d.next = self.pre_sum_valid.val();
            self.sum_last.d.next = self.pre_sum_last.val();
            if self.sum_valid.q.val() {
                self.tile_start.d.next = self.sum_last.q.val();
            }
        }
        self.cap_pending.d.next =
            self.sum_valid.q.val() & self.sum_last.q.val() & !self.stall.val();

        // next-state values of the stall inputs (mirroring the updates above and below)
        self.sum_valid_next.next = self.sum_valid.q.val();
        self.sum_last_next.next = self.sum_last.q.val();
        if !self.stall.val() {
            self.sum_valid_next.next = self.pre_sum_valid.val();
            self.sum_last_next.next = self.pre_sum_last.val();
        }
        // drain_count after this cycle: the tile's R rows at a capture, one fewer per row moved out
        self.drain_next.next = self.drain_count.q.val();
        if self.shift_q.q.val() {
            self.drain_next.next = self.drain_count.q.val() - self.count_one.val();
        }
        if self.cap_pending.q.val() {
            self.drain_next.next = self.rows.val();
        }
        // the flags follow the counter: one row out moves "≥ 2" into "≥ 1" and "≥ 3" into "≥ 2"
        self.drain_any_next.next = self.drain_any.q.val();
        self.drain_many.d.next = self.drain_many.q.val();
        self.drain_several.d.next = self.drain_several.q.val();
        if self.shift_q.q.val() {
            self.drain_any_next.next = self.drain_many.q.val();
            self.drain_many.d.next = self.drain_several.q.val();
            self.drain_several.d.next = (self.drain_count.q.val() & self.count_four_up.val()).any();
        }
        if self.cap_pending.q.val() {
            self.drain_any_next.next = true;
            self.drain_many.d.next = self.rows_many.val();
            self.drain_several.d.next = self.rows_several.val();
        }
        self.drain_any.d.next = self.drain_any_next.val();
        // next cycle, drain_count != 0 or cap_pending: rows left after this cycle, or a capture coming
        self.rows_waiting_next.next = self.drain_any_next.val()
            | (self.sum_valid.q.val() & self.sum_last.q.val() & !self.stall.val());
        self.stall_next.next =
            self.sum_valid_next.val() & self.sum_last_next.val() & self.rows_waiting_next.val();
        self.stall_q.d.next = self.stall_next.val();
        self.acc_en_q.d.next = self.sum_valid_next.val() & !self.stall_next.val();
        self.drain_count.d.next = self.drain_next.val();
        self.shift_q.d.next = self.drain_any_next.val() & self.room_next.val();

        self.cycles.d.next = self.cycles.q.val() + self.perf_one.val();
        if self.in_fire.val() {
            self.busy.d.next = self.busy.q.val() + self.perf_one.val();
        }
        if self.w_valid.val() & self.a_valid.val() & self.stall.val() {
            self.stalls.d.next = self.stalls.q.val() + self.perf_one.val();
        }
        if self.in_fire.val() & (self.w_last.val() != self.a_last.val()) {
            self.last_mismatch.d.next = true;
        }

        if self.rst.val() {
            self.opnd_valid.d.next = false;
            self.sel_valid.d.next = false;
            self.mul_valid.d.next = false;
            self.prod_valid.d.next = false;
            self.land_valid.d.next = false;
            self.sum_valid.d.next = false;
            self.opnd_last.d.next = false;
            self.sel_last.d.next = false;
            self.mul_last.d.next = false;
            self.prod_last.d.next = false;
            self.land_last.d.next = false;
            self.sum_last.d.next = false;
            self.tree_valid.d.next = self.tree_zero.val();
            self.tree_last.d.next = self.tree_zero.val();
            self.tile_start.d.next = true;
            self.cap_pending.d.next = false;
            self.stall_q.d.next = false;
            self.acc_en_q.d.next = false;
            self.drain_count.d.next = self.count_zero.val();
            self.drain_any.d.next = false;
            self.drain_many.d.next = false;
            self.drain_several.d.next = false;
            self.shift_q.d.next = false;
            self.out_valid.d.next = false;
            self.out_last.d.next = false;
            self.spare_valid.d.next = false;
            self.spare_last.d.next = false;
            self.cycles.d.next = self.perf_zero.val();
            self.busy.d.next = self.perf_zero.val();
            self.stalls.d.next = self.perf_zero.val();
            self.last_mismatch.d.next = false;
        }
        self.shift_next.next = self.shift_q.d.val();
        self.out_valid_next.next = self.out_valid.d.val();
        self.spare_valid_next.next = self.spare_valid.d.val();

        // the same next-state rules applied once more, to the next-state values above (reset included): the controls
        // after the edge after next. None of them reads an input: the consumer's ready reaches them only through
        // shift_q's next value, which is known now.
        self.pre_sum_valid_1.next = self.land_valid.d.val();
        self.pre_sum_last_1.next = self.land_last.d.val();
        if !self.tree_bypass.val() {
            self.pre_sum_valid_1.next = (self.tree_valid.d.val() & self.tree_tap.val()).any();
            self.pre_sum_last_1.next = (self.tree_last.d.val() & self.tree_tap.val()).any();
        }
        self.sum_valid_2.next = self.sum_valid.d.val();
        self.sum_last_2.next = self.sum_last.d.val();
        if !self.stall_q.d.val() {
            self.sum_valid_2.next = self.pre_sum_valid_1.val();
            self.sum_last_2.next = self.pre_sum_last_1.val();
        }
        self.drain_any_2.next = self.drain_any.d.val();
        if self.shift_q.d.val() {
            self.drain_any_2.next = self.drain_many.d.val();
        }
        if self.cap_pending.d.val() {
            self.drain_any_2.next = true;
        }
        self.stall_2.next = self.sum_valid_2.val()
            & self.sum_last_2.val()
            & (self.drain_any_2.val()
                | (self.sum_valid.d.val() & self.sum_last.d.val() & !self.stall_q.d.val()));
        self.en_next2.next = !self.stall_2.val();
        self.acc_en_next2.next = self.sum_valid_2.val() & !self.stall_2.val();
        self.acc_clear_next2.next = self.tile_start.d.val();
        if !self.stall_q.d.val() & self.sum_valid.d.val() {
            self.acc_clear_next2.next = self.sum_last.d.val();
        }
        self.capture_next2.next =
            self.sum_valid.d.val() & self.sum_last.d.val() & !self.stall_q.d.val();

        self.perf_cycles.next = self.cycles.q.val();
        self.perf_busy.next = self.busy.q.val();
        self.perf_stall.next = self.stalls.q.val();
        self.err_last.next = self.last_mismatch.q.val();
    }
}

#[cfg(test)]
mod tests {
    //! The controller in rust-hdl's own simulator (small enough for it; the full array is judged by Verilator against
    //! the golden model, with random gaps and back-pressure).
    use super::*;

    /// The five broadcast controls and the output stage's two flags (the controller's own registers).
    fn controls(x: &ArrayCtrl) -> [bool; 7] {
        [
            !x.stall_q.q.val(),
            x.acc_en_q.q.val(),
            x.tile_start.q.val(),
            x.cap_pending.q.val(),
            x.shift_q.q.val(),
            x.out_valid.q.val(),
            x.spare_valid.q.val(),
        ]
    }

    /// The values the controller announces for them: the first four for two edges on, the other three for the next
    /// edge.
    fn announced(x: &ArrayCtrl) -> ([bool; 4], [bool; 3]) {
        (
            [
                x.en_next2.val(),
                x.acc_en_next2.val(),
                x.acc_clear_next2.val(),
                x.capture_next2.val(),
            ],
            [
                x.shift_next.val(),
                x.out_valid_next.val(),
                x.spare_valid_next.val(),
            ],
        )
    }

    /// What the array's copies hold, given the announcements read before the last edge (`now`) and the one before it
    /// (`before`): the four two-edge controls from `before`, the others from `now`.
    fn copies(before: ([bool; 4], [bool; 3]), now: ([bool; 4], [bool; 3])) -> [bool; 7] {
        let [en, acc_en, acc_clear, capture] = before.0;
        let [shift, out_valid, spare_valid] = now.1;
        [
            en,
            acc_en,
            acc_clear,
            capture,
            shift,
            out_valid,
            spare_valid,
        ]
    }

    /// The drain flags agree with the counter.
    fn flags_follow_the_counter(x: &ArrayCtrl) -> bool {
        let count = x.drain_count.q.val().to_u64();
        x.drain_any.q.val() == (count >= 1)
            && x.drain_many.q.val() == (count >= 2)
            && x.drain_several.q.val() == (count >= 3)
    }

    fn offer(x: &mut ArrayCtrl, valid: bool, last: bool) {
        x.w_valid.next = valid;
        x.a_valid.next = valid;
        x.w_last.next = last;
        x.a_last.next = last;
    }

    /// One-beat tiles offered back to back with the result stream blocked. On a 2-row array the first tile's rows
    /// move into the output stage, the second tile's wait in the shadow registers, the third tile's beat stops at
    /// the accumulator; on a 5-row array the first tile's last three rows stay in the shadow registers and the
    /// second tile's beat stops there. Then the pipeline fills and holds (tready low, stalls counted). Unblocked,
    /// every accepted tile's rows leave in order with the tile's last flagged on its last row. For every adder-tree
    /// depth; the 5-row array takes the drain flags through counts above 2.
    #[test]
    fn pipeline_holds_while_the_results_are_blocked() {
        for rows in [2, 5] {
            for sum_levels in 1..=TREE_EXTRA_BITS {
                tiles_with_blocked_results(rows, sum_levels);
            }
        }
    }

    fn tiles_with_blocked_results(tile_rows: u32, sum_levels: usize) {
        let mut sim = Simulation::new();
        sim.add_clock(5, |x: &mut Box<ArrayCtrl>| x.clk.next = !x.clk.val());
        sim.add_testbench(move |mut sim: Sim<ArrayCtrl>| {
            let mut x = sim.init()?;
            x.rst.next = true;
            wait_clock_cycle!(sim, clk, x);
            x.rst.next = false;
            x.y_ready.next = false;
            offer(&mut x, true, true);
            // the array's copies of the broadcast controls follow the controller's registers exactly (checked from
            // the third edge on: the values read before the first were computed before the inputs changed)
            let mut before = announced(&x);
            for cycle in 0..40 {
                let now = announced(&x);
                wait_clock_cycle!(sim, clk, x);
                sim_assert!(sim, cycle < 2 || controls(&x) == copies(before, now), x);
                sim_assert!(sim, flags_follow_the_counter(&x), x);
                before = now;
            }
            // beats accepted so far, by the controller's own counter (the count of tiles: one beat each)
            let accepted = x.perf_busy.val().to_u64() as u32;
            // held: one or two tiles buffered (output stage, shadow registers), one at the accumulator, at most the
            // pipeline's 5 + T registers' worth behind it
            let registers = 5 + sum_levels as u32;
            let buffered = if tile_rows <= 2 { 2 } else { 1 };
            sim_assert!(sim, accepted > buffered && accepted <= 2 + registers, x);
            sim_assert!(
                sim,
                !x.w_ready.val() && !x.a_ready.val() && x.stall_q.q.val(),
                x
            );
            sim_assert!(sim, x.y_valid.val() && !x.y_last.val(), x);
            offer(&mut x, false, false);
            // unblocked: every tile's rows, its last flagged on the last
            x.y_ready.next = true;
            let mut rows = 0;
            let mut lasts = 0;
            for cycle in 0..200 {
                if x.y_valid.val() {
                    rows += 1;
                    if x.y_last.val() {
                        lasts += 1;
                        sim_assert!(sim, rows % tile_rows == 0, x);
                    }
                }
                let now = announced(&x);
                wait_clock_cycle!(sim, clk, x);
                sim_assert!(sim, cycle < 2 || controls(&x) == copies(before, now), x);
                sim_assert!(sim, flags_follow_the_counter(&x), x);
                before = now;
            }
            sim_assert!(sim, rows == tile_rows * accepted && lasts == accepted, x);
            sim_assert!(
                sim,
                x.perf_stall.val() != 0u64.to_bits::<PERF_COUNTER_BITS>(),
                x
            );
            sim_assert!(sim, !x.err_last.val(), x);
            sim.done(x)
        });
        let mut uut = ArrayCtrl::new(tile_rows as usize, sum_levels);
        uut.connect_all();
        sim.run(Box::new(uut), 100_000).unwrap();
    }
}
