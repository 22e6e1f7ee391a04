"""The GPU run's driver (scripts/gpu-bench.sh sets up the environment, then runs this).

    python scripts/gpu_bench.py --out DIR [--quick] [--allow-cpu]

1. Says which adapter wgpu_tensor opened; on a machine with an NVIDIA driver
   (nvidia-smi answers) it stops unless that adapter is a GPU (--allow-cpu: go on).
2. Runs a representative test subset (selection, fused, masking, counted, sort)
   in a subprocess, with a time limit, its log in DIR/tests.log.
3. Runs benchmarks/bench_select.py (beside torch.masked_select and torch's x[m]
   on CUDA when torch has CUDA) and benchmarks/bench_async.py in subprocesses,
   each writing its JSON (bench_select its PNG too) into DIR.
4. Writes DIR/gpu-bench.json: host, adapter, versions, test counts, the bench
   results, and prints a short table last.
--quick: tiny sizes and a few tests (about a minute on lavapipe), for the
suite's smoke test. The full run fits 8 minutes on a GPU: each stage has its
own time limit.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TESTS_FULL = ["tests/test_select.py", "tests/test_fused.py", "tests/test_masking.py", "tests/test_counted.py",
              "tests/test_sort.py", "tests/test_async.py"]
TESTS_QUICK = ["tests/test_select.py", "-k", "masked_select_async_exact or index_with_mask_exact or seed_examples"]
# (stage, seconds it may take) for the full run: 8 minutes in all with set-up
LIMITS_FULL = {"tests": 200, "bench_select": 180, "bench_async": 40}
LIMITS_QUICK = {"tests": 300, "bench_select": 300, "bench_async": 120}  # a loaded CI machine
SELECT_FULL = ["--sizes", "16,20,24,26", "--fracs", "0.01,0.5,0.99", "--repeat", "5"]
SELECT_QUICK = ["--sizes", "12", "--fracs", "0.5", "--repeat", "1", "--small-ops", "20"]
ASYNC_FULL = ["--log2n", "20", "--rounds", "5"]
ASYNC_QUICK = ["--log2n", "14", "--rounds", "1"]


def _cmd(args, timeout=20):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def host_info():
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for name in ("wgpu", "numpy", "torch", "matplotlib"):
        try:
            from importlib.metadata import version
            versions[name] = version(name)
        except Exception:
            versions[name] = None
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": platform.machine(),
            "kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count(),
            "nvidia_smi": _cmd(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                "--format=csv,noheader"]),
            "python": platform.python_version(), "versions": versions}


def adapter_info():
    """The adapter wgpu_tensor opens, from a subprocess (this process stays free of
    a device, so a crash while opening one is reported, not fatal)."""
    code = "import json, wgpu_tensor as wt; print(json.dumps(wt.device_info()))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"[gpu-bench] wgpu_tensor could not open an adapter:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def run_stage(name, args, limit, log):
    """Run ``args`` (a Python script and its arguments) with a time limit, output to ``log``."""
    t0 = time.perf_counter()
    with open(log, "a") as f:
        f.write(f"\n===== {name}: {' '.join(args)}\n")
        f.flush()
        try:
            rc = subprocess.run([sys.executable, *args], stdout=f, stderr=subprocess.STDOUT, cwd=ROOT,
                                timeout=limit, env={**os.environ, "PYTHONUNBUFFERED": "1"}).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    return {"rc": rc, "seconds": round(time.perf_counter() - t0, 1), "limit_s": limit}


def progress_counts(log):
    """Counts from pytest -q's progress characters in the tests' log (a run stopped at
    its time limit writes no junit file)."""
    text = log.read_text().split("===== tests:", 1)[-1]
    marks = "".join(re.findall(r"^([.FEsxX]+)\s*(?:\[\s*\d+%\])?$", text, re.M))
    return {"passed": marks.count("."), "failed": marks.count("F"), "errors": marks.count("E"),
            "skipped": marks.count("s"), "failed_names": [], "from": "progress (stopped at its limit)"}


def junit_counts(path):
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return {}
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    failed = [f"{c.get('classname')}::{c.get('name')}" for c in suite.iter("testcase")
              if c.find("failure") is not None or c.find("error") is not None]
    n = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return {"passed": n["tests"] - n["failures"] - n["errors"] - n["skipped"], "failed": n["failures"],
            "errors": n["errors"], "skipped": n["skipped"], "failed_names": failed[:50]}


def newest(out, pattern):
    files = sorted(out.glob(pattern), key=lambda p: p.stat().st_mtime)
    return files[-1] if files else None


def summary_lines(res):
    lines = [f"adapter: {res['adapter'].get('name')} ({res['adapter'].get('backend')}, "
             f"{res['adapter'].get('type')}); host CPU: {res['host']['cpu']}; GPU: {res['host']['nvidia_smi'] or '-'}"]
    t = res["tests"]
    lines.append(f"tests: {t.get('passed', '?')} passed, {t.get('failed', '?')} failed, {t.get('errors', '?')} "
                 f"errors, {t.get('skipped', '?')} skipped in {t['seconds']} s (rc {t['rc']})")
    sel = res.get("bench_select")
    if sel:
        lines.append(f"bench_select ({sel['timing']}): ratios to the copy kernel; vs torch = ours / torch")
        key = "device" if sel["timing"].startswith("device") else "wall"
        for r in sel["rows"]:
            vs = "; ".join(f"{k}: {v['wall']:.2f} wall" + (f", {v['device']:.2f} device" if v["device"] else "")
                           for k, v in r.get("vs_torch", {}).items())
            lines.append(f"  n=2^{r['n'].bit_length() - 1} {r['frac']:.0%}: copy "
                         f"{r['times']['copy_kernel'][key] * 1e3:.3f} ms, "
                         + ", ".join(f"{k} {v:.2f}" for k, v in r["ratio_vs_copy"].items())
                         + (f" | vs torch: {vs}" if vs else ""))
    asy = res.get("bench_async")
    if asy:
        lines.append(f"bench_async: longest loop stall {asy['plain']['max_gap_ms']:.1f} ms during "
                     f"{asy['tasks']} x masked_select_async of {asy['n']}")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--allow-cpu", action="store_true", help="go on when the adapter is not a GPU")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "tests.log"
    log.write_text("")
    res = {"quick": args.quick, "host": host_info()}
    res["adapter"] = adapter_info()
    print(f"[gpu-bench] adapter: {res['adapter']}", flush=True)
    is_gpu = res["adapter"].get("type") in ("DiscreteGPU", "IntegratedGPU")
    if res["host"]["nvidia_smi"] and not is_gpu and not args.allow_cpu:
        (out / "gpu-bench.json").write_text(json.dumps(res, indent=1))
        raise SystemExit(f"[gpu-bench] nvidia-smi sees {res['host']['nvidia_smi']!r} but wgpu opened "
                         f"{res['adapter'].get('name')!r} ({res['adapter'].get('type')}): is the Vulkan loader "
                         "installed and VK_DRIVER_FILES pointing at the NVIDIA ICD? (--allow-cpu to go on)")
    limits = LIMITS_QUICK if args.quick else LIMITS_FULL
    junit = out / "tests.xml"
    tests = TESTS_QUICK if args.quick else TESTS_FULL
    res["tests"] = run_stage("tests", ["-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                                       *tests], limits["tests"], log)
    res["tests"].update(junit_counts(junit) or progress_counts(log))
    res["tests"]["selection"] = " ".join(tests)
    junit.unlink(missing_ok=True)  # the counts are in the summary; $OUT keeps few files
    print(f"[gpu-bench] tests: {res['tests']}", flush=True)
    for name, script, extra in (
            ("bench_select", "benchmarks/bench_select.py", SELECT_QUICK if args.quick else SELECT_FULL),
            ("bench_async", "benchmarks/bench_async.py", ASYNC_QUICK if args.quick else ASYNC_FULL)):
        res[name + "_run"] = run_stage(name, [script, *extra, "--out", str(out)], limits[name], log)
        found = newest(out, ("bench-" if name == "bench_select" else "async-") + "*.json")
        res[name] = json.loads(found.read_text()) if found and res[name + "_run"]["rc"] == 0 else None
        res[name + "_run"]["json"] = found and found.name
        print(f"[gpu-bench] {name}: {res[name + '_run']}", flush=True)
    png = newest(out, "bench-*.png")
    res["png"] = png and png.name
    if png is None:
        res["png_missing_because"] = ("matplotlib is not installed" if res["host"]["versions"]["matplotlib"] is None
                                      else "bench_select did not write it (see tests.log)")
    res["seconds"] = round(time.perf_counter() - t_start, 1)
    (out / "gpu-bench.json").write_text(json.dumps(res, indent=1))
    print("\n".join(summary_lines(res)))
    print(f"[gpu-bench] wrote {out / 'gpu-bench.json'} in {res['seconds']} s")
    ok = (res["tests"]["rc"] == 0 and res["bench_select"] is not None and res["bench_async"] is not None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
