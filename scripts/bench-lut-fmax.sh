#!/usr/bin/env bash
# Fmax of the PWL LUT units on iCE40 UP5K and ECP5-25k (docs/lut.md "Fmax"): the softmax EXP and 1/x tables that ship
# with sta and the published GQA-LUT tables (data/gqa-lut) imported with their default formats, each generated with
# `sta lut rtl` and taken through `sta synth` (the unit's own ports on package pins, seed 1). Prints a Markdown table.
# Usage: scripts/bench-lut-fmax.sh OUT_DIR   (needs `make build` and ./scripts/install-fpga.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/bench-lut-fmax.sh OUT_DIR}
sta=target/release/sta
mkdir -p "$out"

params=()
for f in generators/data/softmax_exp8.json generators/data/softmax_reci8.json; do
    params+=("$f")
done
for ref in gelu_pwl_7 gelu_pwl_15 hswish_pwl_7 exp_pwl_7 sqrt_reci_pwl_7; do
    $sta lut import --reference "data/gqa-lut/$ref.json" --out "$out/$ref.json" --force >/dev/null
    params+=("$out/$ref.json")
done

echo "| unit | K | iCE40 UP5K LC | iCE40 Fmax MHz | ECP5-25k LUT4 | ECP5 DSP | ECP5 Fmax MHz |"
echo "|---|---|---|---|---|---|---|"
for p in "${params[@]}"; do
    name=$(basename "$p" .json)
    $sta lut rtl --params "$p" --out "$out/$name-rtl" --force >/dev/null
    for t in ice40-up5k ecp5-25k; do
        $sta synth --design "$out/$name-rtl" --target "$t" --no-bitstream --out "$out/$name-$t" --force >/dev/null 2>"$out/$name-$t.log"
    done
    python3 - "$out" "$name" "$p" <<'PY'
import json, sys
out, name, params = sys.argv[1:]
k = json.load(open(params))["entries"]
def get(t):
    s = json.load(open(f"{out}/{name}-{t}/reports/summary.json"))
    res = s["resources"]
    used = lambda key: res.get(key, {}).get("used", "")
    return s, used
i, iu = get("ice40-up5k")
e, eu = get("ecp5-25k")
f = lambda s: f"{s['fmax_min_mhz']:.1f}" if s.get("fmax_min_mhz") else "?"
print(f"| {name} | {k} | {iu('ICESTORM_LC')} | {f(i)} | {eu('TRELLIS_COMB')} | {eu('MULT18X18D')} | {f(e)} |")
PY
done
