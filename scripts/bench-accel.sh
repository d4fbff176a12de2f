#!/usr/bin/env bash
# The accelerator benchmarks of docs/accelerator.md "Measured": all six all-MiniLM-L6-v2 layers through generated
# accelerators in Verilator (every layer compared bit-exactly), dense, 4:8 and 2:8 programs, 16x16 and 8x8 arrays,
# 16 and 64 tokens and a batch of 8 x 16; then the cycle model against every run. About 20 minutes on 2 cores.
# Usage: scripts/bench-accel.sh OUT_DIR   (needs target/release/sta and the installed MiniLM: make tools build)
set -euo pipefail
OUT=${1:?usage: scripts/bench-accel.sh OUT_DIR}
STA=${STA:-target/release/sta}
mkdir -p "$OUT"
S16="The committee approved the new budget after a long debate on Tuesday night."
S64="When the river flooded the valley in early spring, the farmers who had lived there for many generations gathered their animals, packed what they could carry, and walked for two long days to the market town on the hill, where the mayor opened the school and the church to anyone who needed a dry place to sleep."
BATCH=(); for _ in 1 2 3 4 5 6 7 8; do BATCH+=(--text "$S16"); done

for nm in dense 4:8 2:8; do
  $STA compile --n-m "$nm" --out "$OUT/prog-${nm/:/of}" --force
done
$STA accel generate --n-m 2:8 --rows 16 --cols 16 --max-tokens 128 --out "$OUT/sta16-2of8" --force
$STA accel generate --n-m 4:8 --rows 16 --cols 16 --max-tokens 128 --out "$OUT/sta16-4of8" --force
$STA accel generate --n-m 2:8 --rows 8 --cols 8 --max-tokens 64 --word-bits 32 --out "$OUT/sta8-2of8" --force

run() { local name=$1; shift; $STA run "$@" --report "$OUT/run-$name.json" --force | tee "$OUT/run-$name.txt"; }
run 16-2of8-s16 --design "$OUT/sta16-2of8" --program "$OUT/prog-2of8" --text "$S16"
run 16-2of8-s64 --design "$OUT/sta16-2of8" --program "$OUT/prog-2of8" --text "$S64"
run 16-2of8-b8x16 --design "$OUT/sta16-2of8" --program "$OUT/prog-2of8" "${BATCH[@]}"
run 16-dense-s16 --design "$OUT/sta16-2of8" --program "$OUT/prog-dense" --text "$S16"
run 16-dense-b8x16 --design "$OUT/sta16-2of8" --program "$OUT/prog-dense" "${BATCH[@]}"
run 16-4of8-s16 --design "$OUT/sta16-4of8" --program "$OUT/prog-4of8" --text "$S16"
run 16-4of8-s64 --design "$OUT/sta16-4of8" --program "$OUT/prog-4of8" --text "$S64"
run 8-2of8-s16 --design "$OUT/sta8-2of8" --program "$OUT/prog-2of8" --text "$S16"
run 8-2of8-s64 --design "$OUT/sta8-2of8" --program "$OUT/prog-2of8" --text "$S64"
run 8-dense-s64 --design "$OUT/sta8-2of8" --program "$OUT/prog-dense" --text "$S64"

$STA estimate --design "$OUT/sta16-2of8" --against "$OUT"/run-16-2of8-*.json "$OUT"/run-16-dense-*.json
$STA estimate --design "$OUT/sta16-4of8" --against "$OUT"/run-16-4of8-*.json
$STA estimate --design "$OUT/sta8-2of8" --against "$OUT"/run-8-*.json
