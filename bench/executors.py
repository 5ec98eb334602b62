"""Wall time of a sweep with the local executor and with Ray on the same machine: Ray's overhead.

    make bench-executors                    # = .venv/bin/python bench/executors.py (Ray: the ray extra)
    .venv/bin/python bench/executors.py --only w8,w16 --label "Executors: quick"

For the smoke sweep and a slice of ffdnn-width (``--only``, default widths 8..64: 4 trials x 3 seeds,
the full 54,000-example budget of the spec), runs ``python -m quantlab sweep SPEC`` in a fresh
process into an empty results directory and a fresh ``$QUANTLAB_CACHE`` (so no float network is
reused; the data arrays are shared) three ways:

* ``local``: the default, one trial at a time in the sweep's process;
* ``ray, 2 CPUs per trial``: a local Ray cluster (``--num-cpus`` = this machine's CPUs) running one
  trial at a time, so the difference to ``local`` is Ray's cost: starting the cluster and a worker,
  shipping the trial, importing quantlab and JAX and compiling in the worker;
* ``ray, 1 CPU per trial``: the same cluster running as many trials at once as it has CPUs.

Prints a table and writes it as a section of bench/RESULTS.md (replacing the section with the same
label; bench/run.py writes the other sections). Wall times include the process start, imports,
cluster start and compilation; the records' own wall times (training in the worker) are summed
separately. The machine may be shared: the load averages are recorded.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import run as bench_run  # noqa: E402  (the shared helpers: machine, fresh_sweep, write_results)


def sweep(spec: str, only: str | None, executor: list[str]) -> dict:
    """One sweep in a fresh process, empty store and fresh float cache (compilation cache cold too)."""
    r = bench_run.fresh_sweep(spec, ["--only", only] if only else [], executor)
    walls = {(x["label"], x["provenance"]["date"]): x["provenance"]["wall_seconds"] for x in r.pop("records")}
    return {**r, "records": r["written"], "trial_seconds": sum(walls.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="w8,w16,w32,w64", help="the ffdnn-width slice (default: %(default)s)")
    parser.add_argument("--label", default="Executors: local vs Ray on this machine",
                        help="section title in RESULTS.md (the part before a colon keys the section)")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    import ray

    cpus = os.cpu_count()
    ways = [
        ("local", []),
        (f"ray, {cpus} CPUs per trial (1 at a time)",
         ["--executor", "ray", "--num-cpus", str(cpus), "--cpus-per-trial", str(cpus)]),
        (f"ray, 1 CPU per trial ({cpus} at a time)", ["--executor", "ray", "--num-cpus", str(cpus)]),
    ]
    sweeps = [("smoke", None), ("ffdnn-width", args.only)]
    info = bench_run.machine()
    rows = []
    for spec, only in sweeps:
        base = None
        for name, options in ways:
            r = sweep(spec, only, options)
            base = r["seconds"] if base is None else base
            r.update(spec=spec + (f" --only {only}" if only else ""), way=name,
                     per_trial=(r["seconds"] - base) / max(r["trials"], 1))
            rows.append(r)
            print(f"  {r['spec']:28} {name:32} {r['seconds']:7.1f} s  ({r['records']} records, "
                  f"{r['trial_seconds']:.1f} s in trials, exit {r['rc']}, load {r['load']})", flush=True)
    lines = [
        f"## {args.label}",
        "",
        f"- Date: {info['date']}; `bench/executors.py`; Ray {ray.__version__}.",
        f"- CPU: {info['cpu']}; {info['cores']}.",
        "",
        "`python -m quantlab sweep SPEC` in a fresh process, empty results directory, fresh float-network cache. "
        "Wall: the whole command (process start, imports, Ray cluster start, compilation, training). "
        "In trials: the records' wall times summed (training as measured in the worker; trials running "
        "at once share the CPUs). Overhead per trial: (wall - local wall) / trials.",
        "",
        "| sweep | executor | trials | wall (s) | in trials (s) | overhead per trial (s) | load before -> after |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        overhead = "-" if r["way"] == "local" else f"{r['per_trial']:+.1f}"
        lines.append(f"| `{r['spec']}` | {r['way']} | {r['trials']} | **{r['seconds']:.1f}** | "
                     f"{r['trial_seconds']:.1f} | {overhead} | {r['load']} |")
    bench_run.write_results(args.results, args.label, "\n".join(lines) + "\n")
    print(f"wrote the section to {args.results}")


if __name__ == "__main__":
    main()
