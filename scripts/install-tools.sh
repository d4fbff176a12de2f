#!/usr/bin/env bash
# Installs the simulation and synthesis tools sta needs (Debian/Ubuntu): Verilator, Icarus Verilog, Yosys.
# Safe to run repeatedly: does nothing when every tool is already on PATH.
set -euo pipefail

need=()
command -v verilator >/dev/null 2>&1 || need+=(verilator)
command -v iverilog >/dev/null 2>&1 || need+=(iverilog)
command -v yosys >/dev/null 2>&1 || need+=(yosys)
# Verilator's generated C++ needs a compiler and make
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
# the FPGA tools (scripts/install-fpga.sh) live in a Python virtual environment
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)

if [ ${#need[@]} -eq 0 ]; then
    echo "tools present: $(verilator --version | sed -n 1p); $(yosys -V | sed -n 1p)"
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
echo "tools installed: $(verilator --version | sed -n 1p); $(yosys -V | sed -n 1p)"
