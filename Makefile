# sta: RTL generator for the STA N:M sparse transformer accelerator.
#   make demo    install tools if missing, generate a 2:8 16x16 array, run a GEMM through it in Verilator, print the report
#   make test    install tools (and the MiniLM test model) if missing, run every test: golden models, RTL lint,
#                Yosys checks, Verilator sweeps of the PE array, LUT units and softmax unit
#   make bench   benchmarks: PE array (generation, simulation speed, utilisation -> docs/benchmarks.json),
#                LUT search vs the GQA-LUT reference, LUT area (INT8 vs 32-bit units, Yosys)
#   make lint    Rust formatting and clippy

CARGO ?= cargo
STA := target/release/sta
OUT ?= out

.PHONY: all tools build demo test bench lint clean

all: build

tools:
	./scripts/install-tools.sh
	./scripts/install-fpga.sh
	./scripts/install-minilm.sh

build:
	$(CARGO) build --release --bin sta

demo: tools build
	$(STA) demo --out $(OUT)/demo --force

test: tools
	$(CARGO) test --release --workspace

REFERENCE ?= ../shared/reference/gqa-lut

bench: tools build
	$(STA) bench --out docs/benchmarks.json
	$(STA) lut compare --reference-dir $(REFERENCE)
	mkdir -p $(OUT)/bench
	$(STA) lut search --function gelu --entries 8 --out $(OUT)/bench/gelu8.json --force
	$(STA) lut search --function exp --entries 8 --out $(OUT)/bench/exp8.json --force
	$(CARGO) run --release -p sta-generators --example lut_area -- $(OUT)/bench/gelu8.json $(OUT)/bench/exp8.json
	$(STA) softmax accuracy

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(OUT)
