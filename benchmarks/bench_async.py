"""Benchmark: how long the event loop stalls while several masked_select_async run.

    python benchmarks/bench_async.py [--log2n 20] [--tasks 6] [--rounds 5]

A ticker task sleeps 1 ms at a time and records the gaps between its wake-ups
while ``asyncio.gather`` awaits ``--tasks`` ``x.masked_select_async(m)`` calls of
2^log2n float32 elements each (50% selected). The longest gap is the longest
time the loop could not run anything else: with nothing blocking, it is the
1 ms sleep plus scheduling noise. The same gather runs with asyncio's debug
mode on (``loop.slow_callback_duration`` = --slow ms), which logs each task
step that held the loop longer; the script collects those reports. Rounds
after a warm-up round (kernels compiled, pool filled); every result is
checked against numpy. Prints the figures and writes JSON to --out.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import wgpu_tensor as wt  # noqa: E402
from wgpu_tensor.runtime import get_device  # noqa: E402


class _SlowSteps(logging.Handler):
    """Collects asyncio debug mode's 'Executing <...> took 0.012 seconds' reports."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.steps = []

    def emit(self, record):
        m = re.search(r"took ([0-9.]+) seconds", record.getMessage())
        if m:
            self.steps.append(float(m.group(1)))


async def _gather_with_ticker(xs, ms):
    gaps = []
    done = asyncio.Event()

    async def ticker():
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.ensure_future(ticker())
    await asyncio.sleep(0.005)  # the ticker is running before the first select
    t0 = time.perf_counter()
    res = await asyncio.gather(*(x.masked_select_async(m) for x, m in zip(xs, ms)))
    wall = time.perf_counter() - t0
    done.set()
    await tick
    return [r.numpy() for r in res], gaps, wall


def one_round(xs, ms, debug, slow_ms):
    box = []

    async def main():
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = slow_ms / 1e3
        box.append(await _gather_with_ticker(xs, ms))

    asyncio.run(main(), debug=debug)
    return box[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log2n", type=int, default=20)
    ap.add_argument("--tasks", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--slow", type=float, default=5.0, help="debug mode's slow-step threshold, ms")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args(argv)
    dev = get_device()
    info = wt.device_info()
    n = 2 ** args.log2n
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(n).astype(np.float32) for _ in range(args.tasks)]
    masks = [rng.random(n) < 0.5 for _ in range(args.tasks)]
    xs, ms = [wt.tensor(a) for a in arrays], [wt.tensor(m) for m in masks]
    refs = [a[m] for a, m in zip(arrays, masks)]
    dev.synchronize()

    handler = _SlowSteps()
    log = logging.getLogger("asyncio")
    log.addHandler(handler)
    old_level, log.propagate = log.level, False
    log.setLevel(logging.WARNING)
    out = {}
    try:
        for debug in (False, True):
            one_round(xs, ms, debug, args.slow)  # warm-up
            handler.steps.clear()
            max_gaps, walls, steps = [], [], []
            for _ in range(args.rounds):
                handler.steps.clear()
                got, gaps, wall = one_round(xs, ms, debug, args.slow)
                for g, r in zip(got, refs):
                    assert np.array_equal(g, r), "masked_select_async result differs from numpy"
                max_gaps.append(max(gaps))
                walls.append(wall)
                steps.extend(handler.steps)
            out["debug" if debug else "plain"] = {
                "max_gap_ms": max(max_gaps) * 1e3, "median_max_gap_ms": statistics.median(max_gaps) * 1e3,
                "gather_ms_median": statistics.median(walls) * 1e3,
                "slow_steps": len(steps), "longest_step_ms": max(steps, default=0.0) * 1e3}
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
        log.propagate = True
    print(f"adapter: {info['name']} ({info['backend']}); {args.tasks} x masked_select_async of 2^{args.log2n} "
          f"float32, 50% selected, {args.rounds} rounds")
    for mode, r in out.items():
        print(f"  {mode:5}: longest ticker gap {r['max_gap_ms']:.1f} ms (median over rounds "
              f"{r['median_max_gap_ms']:.1f}), gather {r['gather_ms_median']:.1f} ms"
              + (f"; task steps over {args.slow:g} ms: {r['slow_steps']}, longest {r['longest_step_ms']:.1f} ms"
                 if mode == "debug" else ""))
    res = {"adapter": info, "n": n, "tasks": args.tasks, "rounds": args.rounds, "slow_ms": args.slow,
           "date": time.strftime("%Y-%m-%d %H:%M:%S"), **out}
    path = Path(args.out)
    path.mkdir(parents=True, exist_ok=True)
    path = path / f"async-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(res, indent=1))
    print(f"wrote {path}")
    res["json"] = str(path)
    return res


if __name__ == "__main__":
    main()
