# sta: RTL generator for the STA N:M sparse transformer accelerator.
#   make demo    install tools if missing, generate a 2:8 16x16 array, run a GEMM through it in Verilator, print the report
#   make test    install tools if missing, run every test (golden model, RTL lint, Yosys checks, Verilator sweeps)
#   make bench   benchmarks (generation time and size, simulation speed, utilisation); writes docs/benchmarks.json
#   make lint    Rust formatting and clippy

CARGO ?= cargo
STA := target/release/sta
OUT ?= out

.PHONY: all tools build demo test bench lint clean

all: build

tools:
	./scripts/install-tools.sh

build:
	$(CARGO) build --release --bin sta

demo: tools build
	$(STA) demo --out $(OUT)/demo --force

test: tools
	$(CARGO) test --release --workspace

bench: tools build
	$(STA) bench --out docs/benchmarks.json

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(OUT)
