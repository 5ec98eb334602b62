"""Whole trials, split: where the wall time of a small and a large trial goes.

    make bench-trials                              # = .venv/bin/python bench/trials.py
    .venv/bin/python bench/trials.py --networks ffdnn-w8-d3 --label "Trials: quick"

For each network (default: the width sweep's smallest and largest FFDNN, 8 and 1024 units x 3, one
between, and the CNN feature-map sweep's 2-2-4 and 8-8-16), one trial of 3 seeds with its reference
spec's budgets (ffdnn-width: 10 float + 4 retraining epochs; cnn-maps: 8 + 3), bits 2 and 3, runs as
a sweep runs it: ``python -m quantlab sweep`` in a fresh process, into an empty results directory,
with no float network cached (every stage is trained). JAX's compilation cache is warm: a first run
of the same trial fills it and is not reported (``--cold`` reports the first run instead).

Reported per trial, from its record's provenance (:mod:`quantlab.training.phases`, written by every
sweep): the trial's wall time split into compilation (tracing, lowering and reading or building
``programs`` executables), upload (data and initial parameters to the device), scans (the training
epochs), evaluation (validation, training probe and test errors), steps (step searches, signal
calibration) and the rest (Python around the stages); the process's extra time (start-up, imports,
reading the data and the spec, writing records); and the share of the trial outside its scans, the
fixed cost that issue 23 sets at most 20 % for a small trial. Writes a section of bench/RESULTS.md
(keyed by the part of ``--label`` before its colon) and bench/results-<key>.csv.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import run as bench_run  # noqa: E402  (the shared helpers: machine, fresh_sweep, write_results)

from quantlab.experiments import spec as qspec  # noqa: E402
from quantlab.experiments import store as qstore  # noqa: E402
from quantlab.training import phases  # noqa: E402

NETWORKS = ("ffdnn-w8-d3", "ffdnn-w64-d3", "ffdnn-w1024-d3", "cnn-2-2-4", "cnn-8-8-16")
SOURCE = {"ffdnn": "ffdnn-width", "cnn": "cnn-maps"}
"""The reference spec whose budgets a network's trial uses."""
SEEDS = (0, 1, 2)


def trial_spec(network: str, folder: Path) -> tuple[Path, int]:
    """A one-trial spec file of ``network`` (a trial label, e.g. ``ffdnn-w8-d3``): its reference
    spec's budgets and bits, seeds :data:`SEEDS`; and the trial's training epochs (float, float
    control and one retraining per bit width)."""
    family = network.split("-")[0]
    if family not in SOURCE:
        raise SystemExit(f"error: --networks: {network!r} is not a trial label like ffdnn-w8-d3 or cnn-2-2-4")
    source = qspec.load_spec(SOURCE[family])
    config = next((c for c in source.trials() if qstore.trial_label(c) == network), None)
    if config is None:
        labels = ", ".join(qstore.trial_label(c) for c in source.trials())
        raise SystemExit(f"error: --networks: {network!r} is not in {SOURCE[family]} ({labels})")
    size = (f"widths = [{config.size[0]}]\ndepths = [{config.size[1]}]" if family == "ffdnn"
            else f"feature_maps = [{list(config.size)}]")
    text = "\n".join([
        f'description = "bench: {network}, {len(SEEDS)} seeds, the budgets of {SOURCE[family]}"',
        f'dataset = "{config.dataset}"', f'family = "{family}"', size, f"bits = {list(config.bits)}",
        f"seeds = {list(SEEDS)}",
        "[float_train]", f"epochs = {config.float_train.epochs}",
        "[retrain]", f"epochs = {config.retrain.epochs}", ""])
    path = folder / f"{network}.toml"
    path.write_text(text)
    return path, config.float_train.epochs + (1 + len(config.bits)) * config.retrain.epochs


def measure(network: str, folder: Path, cold: bool) -> dict:
    """One trial of ``network`` in a fresh process (after a warm-up run unless ``cold``): the split."""
    path, epochs = trial_spec(network, folder)
    spec = str(path)
    if not cold:
        bench_run.fresh_sweep(spec, compile_cache=True)
    run = bench_run.fresh_sweep(spec, compile_cache=True)
    if run["rc"] != 0 or not run["records"]:
        raise SystemExit(f"error: the sweep of {network} failed (exit {run['rc']}); see above")
    prov = run["records"][0]["provenance"]
    row = {"network": network, "process": run["seconds"], "wall": prov["wall_seconds"],
           "compile": prov["compile_seconds"], "programs": prov["compiled_programs"],
           "ahead": prov.get("compile_ahead_seconds", 0.0),
           **prov["phase_seconds"], "load": run["load"]}
    row["per_epoch"] = row["scans"] / epochs
    row["rest"] = row["wall"] - row["compile"] - sum(row[p] for p in phases.PHASES)
    row["outside_scans"] = (row["wall"] - row["scans"]) / row["wall"]
    return row


COLUMNS = ("process", "wall", "compile", "programs", "ahead", *phases.PHASES, "per_epoch", "rest", "outside_scans")


def markdown(label: str, info: dict, rows: list[dict], cold: bool) -> str:
    cache = "cold (first run)" if cold else "warm (a first run filled it)"
    lines = [
        f"## {label}", "",
        f"- Date: {info['date']}; `bench/trials.py`; JAX compilation cache {cache}; no float network cached.",
        f"- CPU: {info['cpu']}; {info['cores']}.",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in info['versions'].items() if v != '-')}.", "",
        f"One trial, {len(SEEDS)} seeds, bits 2 and 3, the reference spec's budgets, as `python -m quantlab sweep` "
        "runs it. Seconds; process = the whole command; wall = the trial (the record's `wall_seconds`), split "
        "into compile (its programs), upload, scans, evaluation, steps and the rest; ahead = compiled meanwhile in "
        "the background, not part of the split; outside scans = (wall - scans) / wall; per epoch = scans / "
        "training epochs (FFDNN 22, CNN 17).", "",
        "| trial | process | wall | compile (programs) | ahead | upload | scans (per epoch) | evaluation | steps "
        "| rest | outside scans | load |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['network']} | {r['process']:.1f} | **{r['wall']:.1f}** | {r['compile']:.2f} ({r['programs']}) | "
            f"{r['ahead']:.2f} | "
            f"{r['upload']:.2f} | {r['scans']:.1f} ({r['per_epoch']:.2f}) | {r['evaluation']:.2f} | {r['steps']:.2f} | "
            f"{r['rest']:.2f} | "
            f"**{100 * r['outside_scans']:.0f} %** | {r['load']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", default=",".join(NETWORKS),
                        help="comma-separated trial labels (default: %(default)s)")
    parser.add_argument("--cold", action="store_true", help="report the first run (compilation cache as it is)")
    parser.add_argument("--label", default="Trials: where a whole trial's time goes",
                        help="section title in RESULTS.md (the part before a colon keys the section)")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    info = bench_run.machine()
    print(f"{info['cpu']}; {info['cores']}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ql-trials-") as tmp:
        for network in args.networks.split(","):
            r = measure(network.strip(), Path(tmp), args.cold)
            rows.append(r)
            print(f"  {r['network']:16} process {r['process']:6.1f} s  trial {r['wall']:6.1f} s: compile "
                  f"{r['compile']:.2f} s ({r['programs']} programs), scans {r['scans']:.1f} s, evaluation "
                  f"{r['evaluation']:.2f} s, outside scans {100 * r['outside_scans']:.0f} %", flush=True)
    bench_run.write_results(args.results, args.label, markdown(args.label, info, rows, args.cold))
    table = args.results.parent / f"results-{bench_run.slug(args.label)}.csv"
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["network", *COLUMNS, "load"])
        writer.writeheader()
        writer.writerows({k: r[k] for k in writer.fieldnames} for r in rows)
    print(f"wrote the section to {args.results} and the rows to {table}")


if __name__ == "__main__":
    main()
