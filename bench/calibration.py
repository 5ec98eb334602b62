"""The exact step searches on real networks: their time, and their agreement with the committed records.

    .venv/bin/python bench/calibration.py                      # signals-ffdnn and signals-cnn
    .venv/bin/python bench/calibration.py signals-cnn --signal-bits 8

For every trial of the given specs whose float network (seeds 0-2) is cached (after `make reference`;
this script never trains), it recomputes what a sweep computes before retraining: every seed's
fixed-point signal steps (:func:`quantlab.training.experiment.calibrate`, the exact search over the
float network's signals of the calibration set) and its direct weight steps at every bit width
(:func:`quantlab.training.train.seed_steps`), and checks them against the committed records' ``direct``
steps, which must be equal to the last bit. It prints the time of each trial's signal calibration and
writes the "Calibration" section of bench/RESULTS.md. Exit status 1 if any step differs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import run as bench_run  # noqa: E402  (the shared helpers: machine, write_results)

from quantlab.experiments.spec import load_spec  # noqa: E402
from quantlab.experiments.store import Store  # noqa: E402
from quantlab.training import experiment, netcache  # noqa: E402
from quantlab.training.train import Quant, seed_steps  # noqa: E402

SEEDS = [0, 1, 2]
LABEL = "Calibration: exact step searches on the reference networks"


def weight_steps(trial, float_stage, bits: int) -> np.ndarray:
    """The direct steps ``[seeds, quantized layers]`` of the float network at ``bits`` (l2 rule)."""
    tree = seed_steps(float_stage.params, Quant(bits, trial.mask, rule=trial.config.quantizer))
    leaves = [np.asarray(leaf) for leaf, quantized in zip(jax.tree.leaves(tree), jax.tree.leaves(trial.mask))
              if quantized]
    return np.stack(leaves, axis=1)


def check(config, store: Store) -> dict | None:
    """One trial's calibration time and whether its recomputed steps equal its records'; None when
    its float network is not cached or its records are missing."""
    records = [store.get(config, seed) for seed in SEEDS]
    if any(r is None for r in records) or not netcache.has(netcache.key(experiment.float_identity(config, SEEDS))):
        return None
    trial = experiment.prepare(config, SEEDS)
    float_stage = experiment.train_float(trial)  # read from the cache (checked above)
    start = time.perf_counter()
    signals = experiment.calibrate(trial, float_stage)
    seconds = time.perf_counter() - start
    equal = True
    for bits in config.bits:
        steps = weight_steps(trial, float_stage, bits)
        for s, record in enumerate(records):
            direct = record["metrics"]["direct"][str(bits)]
            equal &= np.array_equal(steps[s], np.float32(direct["steps"]))
            if signals is not None:
                equal &= np.array_equal(np.asarray(signals.steps)[s], np.float32(direct["signal_steps"]))
    return {"trial": config.describe(), "signal_bits": config.signal_bits or "float", "seconds": seconds,
            "bits": ", ".join(map(str, config.bits)), "equal": equal}


def markdown(info: dict, specs: list[str], rows: list[dict]) -> str:
    lines = [f"## {LABEL}", "", f"{info['cpu']}; {info['cores']}; {info['date']}; jax {info['versions']['jax']}.",
             "", f"Specs {', '.join(specs)}; seeds {SEEDS[0]}-{SEEDS[-1]}; the float networks read from the cache "
             "(bench/calibration.py). Seconds of each trial's signal calibration (every seed and hidden layer); "
             "equal: its recomputed signal and direct weight steps are the committed records', bit for bit.", "",
             "| trial | signal bits | weight bits | calibration s | equal |", "|---|---:|---|---:|---|"]
    lines += [f"| {r['trial']} | {r['signal_bits']} | {r['bits']} | {r['seconds']:.1f} | "
              f"{'yes' if r['equal'] else '**no**'} |" for r in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs", nargs="*", default=["signals-ffdnn", "signals-cnn"], help="shipped specs")
    parser.add_argument("--signal-bits", type=int, help="only the trials with this signal width")
    args = parser.parse_args()
    info = bench_run.machine()
    print(f"{info['cpu']}; {info['cores']}", flush=True)
    store, rows, skipped = Store(ROOT / "results"), [], []
    for name in args.specs:
        for config in load_spec(name).trials():
            if args.signal_bits is not None and config.signal_bits != args.signal_bits:
                continue
            row = check(config, store)
            if row is None:
                skipped.append(config.describe())
                continue
            rows.append(row)
            print(f"  {row['trial']:40} signals {row['signal_bits']!s:5} calibration {row['seconds']:6.1f} s  "
                  f"steps equal: {row['equal']}", flush=True)
    if skipped:
        print(f"skipped {len(skipped)} trials without a cached float network or records "
              f"(`make reference` caches them): {'; '.join(skipped)}")
    if not rows:
        sys.exit("no trial to check: run `make reference` (and `make reference-maps`) first")
    bench_run.write_results(ROOT / "bench" / "RESULTS.md", LABEL, markdown(info, args.specs, rows))
    print(f"total calibration {sum(r['seconds'] for r in rows):.1f} s; wrote the section to bench/RESULTS.md")
    sys.exit(0 if all(r["equal"] for r in rows) else 1)


if __name__ == "__main__":
    main()
