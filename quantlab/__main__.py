"""Command line: ``python -m quantlab sweep|results|specs|data|export|notebook`` (``--help`` on each for examples).

Exit codes: 0 done; 1 some trials diverged or failed (the others finished and were stored); 2 bad
input (spec, options, results directory, executor, data that cannot be had here), one message on
stderr; 130 / 143 interrupted by SIGINT (Ctrl-C) / SIGTERM, finished records kept.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import NoReturn

from quantlab import data
from quantlab.data import CacheError, DataUnavailableError
from quantlab.formatting import count, format_duration
from quantlab.experiments.executors import (DEFAULT_MAX_RETRIES, EXECUTORS, ClusterLostError, ExecutorError,
                                            make_executor)
from quantlab.experiments.preflight import PreflightError
from quantlab.experiments.spec import SpecError, describe_specs, load_spec
from quantlab.experiments.store import CorruptRecordWarning, ENV_RESULTS, Store, StoreError, default_results_dir
from quantlab.experiments.sweep import SEED_BLOCK
from quantlab.vocabulary import EXPORT_FORMATS, PACKINGS, signal_label

MAIN_EPILOG = """\
examples:
  python -m quantlab specs                       # the sweeps that ship with quantlab
  python -m quantlab sweep smoke --dry-run       # what would run, and an estimated time
  python -m quantlab sweep smoke                 # run what is missing (resumable)
  python -m quantlab results smoke               # mean/std test error per size, bits, method
  python -m quantlab data                        # prepare Fashion-MNIST once (make book does it)
  python -m quantlab export smoke --network ffdnn-w16-d1 --seed 0 --bits 2 --out net.safetensors

SPEC is a shipped spec name or a path to a .toml file (see quantlab/experiments/spec.py for the format).

exit codes: 0 done, 1 some trials diverged or failed, 2 bad input, 130 / 143 interrupted (SIGINT / SIGTERM)
"""

RESULTS_DIR_HELP = (
    f"results directory (default: ${ENV_RESULTS} if set, else results/ at the repository root for "
    "shipped specs and results/ next to the spec file for others)"
)

_BLOCKS = f"0-{SEED_BLOCK - 1}, {SEED_BLOCK}-{2 * SEED_BLOCK - 1}, ..."
SWEEP_EPILOG = f"""\
Runs every (trial, seed) of SPEC that has no record in the results directory yet; the seeds of a
trial train together in fixed blocks of {SEED_BLOCK} by value ({_BLOCKS}), as a record's
numbers depend, by float rounding, on the seeds trained with it. Each record is written atomically
as soon as its block finishes, so the sweep can be stopped at any point (Ctrl-C, kill) and
rerun with the same command: finished records are never recomputed, at most the block in flight is
lost. A corrupted record is reported, moved aside (*.corrupt) and recomputed; files not named like
records are left alone.

Before any training the sweep checks that the results directory is writable; the spec's values
were checked when it was read. Sweeps that share a results directory split its trials: each trial
is locked while it trains (the lock dies with its process), so none is trained twice.

A trial diverges when its training loss becomes NaN or infinite or exceeds 10 x ln(classes) (23 for
10 classes), or when its float network ends within 2 points of chance: it is reported in one line,
nothing of it is stored, the sweep goes on, and the summary lists it (exit code 1).

Trials are named like ffdnn-w256-d3 (width 256, 3 hidden layers) or cnn-4-4-8 (feature maps), followed,
where a spec trains one network several ways, by what tells those trials apart: ffdnn-w16-d3 signal_bits=4,
ffdnn-w8-d3 train_subset=1000, ffdnn-w1024-d3 step_policy=adaptive retrain_epochs=8.

Executors: --executor local (default) trains one trial at a time in this process. --executor ray
makes each missing trial a Ray task (pip install 'quantlab[ray]'): without --address on a local Ray
cluster started on this machine, with --address on a running cluster (README: "Running on a
cluster"). A task asks for a GPU when the cluster has GPUs, else --cpus-per-trial CPUs; trials run in
parallel. This process stays the only writer of the results directory (workers return metrics and
provenance), so the records are the same. A worker lost mid-trial is retried --max-retries times,
then the trial is reported as failed (exit code 1); rerunning finishes what is missing.

examples:
  python -m quantlab sweep smoke                           # tiny: well under a minute on a CPU
  python -m quantlab sweep ffdnn-width --dry-run           # list runs, status, estimated time
  python -m quantlab sweep ffdnn-width --only w64,w128     # only trials whose name contains these
  python -m quantlab sweep ffdnn-depth --only 'w512-*'     # * and ? are wildcards
  python -m quantlab sweep signals-ffdnn --only 'w16*signal_bits=4'   # one variant of a network
  python -m quantlab sweep my-sweep.toml --results /tmp/my-results
  {ENV_RESULTS}=/tmp/r python -m quantlab sweep smoke
  python -m quantlab sweep ffdnn-width --executor ray                  # local Ray cluster, all CPUs
  python -m quantlab sweep cnn-maps --executor ray --address HEAD:6379  # a running Ray cluster
"""

RESULTS_EPILOG = """\
Prints one row per trial, bit width and method (float, direct quantization, retraining) over the
seeds in the results directory: parameters, number of seeds, mean and sample std of the test error
(in percent), and the gaps (percentage points) to the float network and to its float control (the
float network trained on for the retraining's epochs: the book's baseline). The trial column also
names the quantizer rule, training subset, step policy, retraining budget and signal word length
where a spec varies them. Missing records are left out and counted on stderr, and the exit code is then \
1 (--partial: 0);
a missing results directory, or one that is a file, exits 2. In the CSV, bits is 32 for the float rows.

examples:
  python -m quantlab results smoke
  python -m quantlab results ffdnn-width --only w1024
  python -m quantlab results ffdnn-width --csv > ffdnn-width.csv     # errors as fractions
"""

DATA_EPILOG = f"""\
Reads each dataset through tensorflow-datasets once and caches its train, validation and test splits
as verified .npz files in $QUANTLAB_CACHE/data (default ~/.cache/quantlab/data); every later load
reads those files without TensorFlow. Fashion-MNIST is prepared offline from the Debian package
dataset-fashion-mnist (about a minute); MNIST and CIFAR-10 need the network once. `make book` and
`make test` run this first, so that no chapter prepares data while it executes. Prints one line per
dataset; exit code 2 (with what to do) when a dataset cannot be had here.

valid names: {", ".join(data.DATASETS)}

examples:
  python -m quantlab data
  QUANTLAB_CACHE=/tmp/cache python -m quantlab data fashion_mnist
"""


EXPORT_EPILOG = """\
Writes one network of a sweep, retrained at --bits, as a file other tools open:

  safetensors  the weight codes packed (--packing bits: B bits a weight, 4 ternary weights a byte;
               base3: 5 ternary weights a byte), the weight and signal steps, the float32 biases and
               metadata (family, size, bits, signal bits, quantizer rule, seed, record key, versions);
               quantlab.deploy.fileformat.load reads it back into quantlab.nn.integer's network.
  onnx         the integer-only network as ONNX operators (MatMulInteger / ConvInteger on uint8
               codes and int8 weights, int32 accumulators, fixed-point requantization), for ONNX
               Runtime and other engines; needs fixed-point signals (--signal-bits).

Records keep no weights, so the trial is re-run: the float network comes from the float-network cache
when this machine trained it (else it is trained again), then calibration, direct quantization and the
retraining at --bits run as the sweep ran them, with the seeds the record was trained with. A progress
bar counts the epochs. On the machine kind that made the record the re-run's test error is the
record's; a warning says when it is not. Exit code 2 names the valid networks, seeds and bits.

examples:
  python -m quantlab export smoke --network ffdnn-w16-d1 --seed 0 --bits 2 --out tiny.safetensors
  python -m quantlab export ffdnn-width --network ffdnn-w1024-d3 --seed 0 --bits 2 --packing base3 \
--out w1024.safetensors
  python -m quantlab export signals-ffdnn --network ffdnn-w256-d3 --seed 0 --bits 2 --signal-bits 4 --format onnx \
--out w256.onnx
"""

NOTEBOOK_EPILOG = """\
Runs the chapter in its folder (as `make book` does; it reads the committed records and stops, naming
the command, where one is missing) and writes it as a Jupyter notebook whose text carries its numbers:
the glue roles become the values the cells computed, cross-references the titles and figure numbers
they stand for, and each chart is followed by its caption (quantlab.notebooks). Opened from book/ in
JupyterLab with jupytext, the same chapter shows the roles themselves. Exit code 1 when a cell fails.

examples:
  python -m quantlab notebook book/ffdnn_width.md --out /tmp/ffdnn_width.ipynb
  python -m quantlab notebook book/report.md --out report.ipynb
"""


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m quantlab", formatter_class=fmt, epilog=MAIN_EPILOG,
        description="quantlab: size sweeps of quantized networks (Sung, Shin & Hwang, arXiv 1511.06488).",
    )
    sub = parser.add_subparsers(dest="command", metavar="{sweep,results,specs,data,export,notebook}", required=True)

    sweep = sub.add_parser("sweep", help="run what is missing from a sweep", formatter_class=fmt,
                           description="Run the missing trials of a sweep.", epilog=SWEEP_EPILOG)
    sweep.add_argument("spec", metavar="SPEC", help="shipped spec name (see `specs`) or path to a .toml file")
    sweep.add_argument("--dry-run", action="store_true",
                       help="list the runs (done/missing) and an estimated time; run nothing")
    sweep.add_argument("--only", metavar="PATTERN",
                       help="only trials whose name (as --dry-run lists them: the network, then the "
                            "values that tell the spec's trials of one network apart, e.g. "
                            "'ffdnn-w16-d3 signal_bits=4') contains one of these comma-separated patterns "
                            "(* and ? are wildcards), e.g. w64,w128 or 'w512-*' or 'w16*signal_bits=4'")
    sweep.add_argument("--results", metavar="DIR", help=RESULTS_DIR_HELP)
    sweep.add_argument("--no-progress", action="store_true", help="no progress bars")
    sweep.add_argument("--force", action="store_true",
                       help="run even when the preflight refuses: a trial estimated to need more memory than "
                            "the device has, less free disk than the records need, or an estimate over a day")
    sweep.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="where trials run: local (this process, default) or ray (Ray tasks)")
    sweep.add_argument("--address", metavar="ADDR",
                       help="ray: the cluster to join (HOST:PORT, ray://HOST:PORT or auto); "
                            "default: start a local cluster on this machine")
    sweep.add_argument("--num-cpus", metavar="N", type=int,
                       help="ray without --address: CPUs of the local cluster (default: all)")
    sweep.add_argument("--cpus-per-trial", metavar="N", type=float,
                       help="ray: CPUs a trial asks for when the cluster has no GPU (default 1)")
    sweep.add_argument("--max-retries", metavar="N", type=int,
                       help=f"ray: retries of a trial whose worker is lost (default {DEFAULT_MAX_RETRIES})")

    results = sub.add_parser("results", help="print the results table of a sweep", formatter_class=fmt,
                             description="Summarise a sweep's records.", epilog=RESULTS_EPILOG)
    results.add_argument("spec", metavar="SPEC", help="shipped spec name (see `specs`) or path to a .toml file")
    results.add_argument("--csv", action="store_true", help="CSV on stdout (errors as fractions)")
    results.add_argument("--only", metavar="PATTERN", help="only trials whose name matches (as for sweep)")
    results.add_argument("--results", metavar="DIR", help=RESULTS_DIR_HELP)
    results.add_argument("--partial", action="store_true",
                         help="exit 0 even when records are missing (print what exists)")

    sub.add_parser("specs", help="list the shipped specs", formatter_class=fmt,
                   description="List the sweep specs that ship with quantlab.",
                   epilog="example:\n  python -m quantlab specs\n  python -m quantlab sweep smoke --dry-run\n")

    prepare = sub.add_parser("data", help="prepare datasets in the data cache (first use only)",
                             formatter_class=fmt, description="Prepare datasets once, before anything reads them.",
                             epilog=DATA_EPILOG)
    prepare.add_argument("names", metavar="NAME", nargs="*",
                         help=f"datasets, of {', '.join(data.DATASETS)} (default: fashion_mnist)")

    exporting = sub.add_parser("export", help="write one retrained network as a packed or ONNX file",
                               formatter_class=fmt, description="Export one retrained network of a sweep.",
                               epilog=EXPORT_EPILOG)
    exporting.add_argument("spec", metavar="SPEC", help="shipped spec name (see `specs`) or path to a .toml file")
    exporting.add_argument("--network", metavar="LABEL", required=True,
                           help="the trial, e.g. ffdnn-w256-d3 or cnn-4-4-8")
    exporting.add_argument("--seed", metavar="S", type=int, required=True, help="one of the spec's seeds")
    exporting.add_argument("--bits", metavar="B", type=int, required=True, help="weight bit width (2 = ternary)")
    exporting.add_argument("--signal-bits", metavar="S", type=int,
                           help="signal word length of the trial (signals specs); default: float signals")
    exporting.add_argument("--format", choices=EXPORT_FORMATS, default=EXPORT_FORMATS[0], help="file format")
    exporting.add_argument("--packing", choices=PACKINGS, default=PACKINGS[0],
                           help="safetensors: B bits a weight, or (ternary) 5 weights a byte")
    exporting.add_argument("--out", metavar="FILE", required=True, help="the file to write (replaced atomically)")
    exporting.add_argument("--results", metavar="DIR", help=RESULTS_DIR_HELP)
    exporting.add_argument("--no-progress", action="store_true", help="no progress bar")

    notebook = sub.add_parser("notebook", help="run a chapter and write it as a notebook with its numbers",
                              formatter_class=fmt, description="Run one chapter of the book as a notebook.",
                              epilog=NOTEBOOK_EPILOG)
    notebook.add_argument("chapter", metavar="CHAPTER", help="the chapter's MyST notebook, book/<page>.md")
    notebook.add_argument("--out", metavar="FILE", required=True, help="the .ipynb to write (replaced atomically)")
    notebook.add_argument("--timeout", metavar="S", type=int, default=1800, help="seconds a cell may run (1800)")
    return parser


_showwarning = warnings.showwarning


def _warn_one_line(message, category, filename, lineno, file=None, line=None):
    """quantlab's own warnings (store, data cache) as one line each; others as Python prints them."""
    if not (category.__module__.startswith("quantlab") or str(message).startswith("quantlab")):
        return _showwarning(message, category, filename, lineno, file, line)
    from tqdm import tqdm

    tqdm.write(f"warning: {message}", file=sys.stderr)


_interrupt_message = "interrupted"  # what an interrupt prints; a sweep names its store and command


def _store(spec, args) -> Store:
    return Store(args.results if args.results else default_results_dir(spec))


def _command(args, command: str) -> str:
    """The command that does ``command`` on what the user's command named (spec, --only, --results;
    for a sweep also the executor options)."""
    words = ["python", "-m", "quantlab", command, args.spec]
    if args.only:
        words += ["--only", args.only]
    if args.results:
        words += ["--results", args.results]
    if command == "sweep" and getattr(args, "executor", "local") != "local":
        words += ["--executor", args.executor]
        for option in ("address", "num_cpus", "cpus_per_trial", "max_retries"):
            value = getattr(args, option, None)
            if value is not None:
                words += [f"--{option.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else str(value)]
    return shlex.join(words)


def _executor(args):
    """The executor the options name (ExecutorError for options that do not fit it)."""
    options = {"address": args.address, "num_cpus": args.num_cpus, "cpus_per_trial": args.cpus_per_trial,
               "max_retries": args.max_retries}
    if args.executor == "ray" and args.address and args.num_cpus is not None:
        raise ExecutorError("--num-cpus sizes a local Ray cluster; a cluster joined with --address has its own")
    try:
        return make_executor(args.executor, **options)
    except ValueError as e:
        raise ExecutorError(str(e)) from None


def _cmd_specs(args) -> int:
    specs = describe_specs()
    width = max(len(name) for name, _ in specs)
    for name, text in specs:
        print(f"{name:{width}}  {text}")
    print("\nrun one with: python -m quantlab sweep NAME   (add --dry-run to see the plan first)")
    return 0


def _cmd_sweep(args) -> int:
    from quantlab.experiments import preflight, sweep

    spec = load_spec(args.spec)
    data.check_cache()
    store = _store(spec, args)
    executor = _executor(args)
    if args.dry_run:
        local = args.executor == "local"  # ray: trials run elsewhere
        p = sweep.plan(spec, store, args.only, **({} if local else {"platform": None}))
        print(sweep.format_plan(p))
        problems = p.problems(preflight.device_memory_bytes() if local else None)
        if problems:
            print("\nthe sweep would be refused:\n" + "\n".join(problems) + f"\n{preflight.OVERRIDE}")
        return 0
    global _interrupt_message
    _interrupt_message = (f"interrupted: finished records are kept in {store.root}; to resume, rerun: "
                          f"{_command(args, 'sweep')}")
    try:
        tally = sweep.run_sweep(spec, store, only=args.only, progress=not args.no_progress, executor=executor,
                                force=args.force)
    except ClusterLostError as e:  # the cluster went away mid-sweep: what is done is kept
        trials = sweep.select(spec, args.only)
        done = sum(store.has(t, seed) for t in trials for seed in spec.seeds)
        expected = len(trials) * len(spec.seeds)
        print(f"error: {e}\n{done} of {count(expected, 'record')} of this sweep are in {store.root} (kept); "
              f"the trials in flight were not stored. To finish, rerun: {_command(args, 'sweep')}", file=sys.stderr)
        return 1
    others = tally["records_by_others"]
    print(
        f"sweep {spec.name!r}: {count(tally['trials_run'], 'trial')} run, {count(tally['records_written'], 'record')} "
        f"written, {tally['records_skipped']} already present"
        + (f", {others} written meanwhile by another process" if others else "")
        + f", in {sweep.format_duration(tally['seconds'])}; results in {store.root}\n"
        f"see them with: {_command(args, 'results')}",
        file=sys.stderr,
    )
    code = 0
    if tally["diverged"]:
        print(f"{sweep.format_diverged(tally['diverged'])}\n"
              f"change the budget in {spec.source} (e.g. a lower learning_rate) and rerun: {_command(args, 'sweep')}",
              file=sys.stderr)
        code = 1
    if tally["failed"]:
        print(f"{sweep.format_failed(tally['failed'])}\n"
              f"rerun to compute them (the worker logs are in the Ray session's logs/ folder): "
              f"{_command(args, 'sweep')}", file=sys.stderr)
        code = 1
    return code


SUMMARY_CSV_FIELDS = ("trial", "size_label", "params", "weights", "quantizer", "signal_bits", "train_subset",
                      "step_policy", "retrain_epochs", "bits", "method", "seeds", "test_error", "test_error_std", "gap",
                      "gap_se", "gap_control", "gap_control_se")
"""The columns of ``results --csv``: fields of the flat summary rows
(:meth:`quantlab.analysis.rows.SummaryRow.as_dict`; errors and gaps as fractions; an empty ``train_subset``: the
whole training split)."""

_VARIANTS = {
    "quantizer": str,
    "train_subset": lambda n: "all data" if n is None else f"{n:,} ex",
    "step_policy": str,
    "retrain_epochs": lambda e: f"{e}ep",
    "signal_bits": lambda b: f"{signal_label(b)} signals",
}
"""How the trial column names what else tells two networks of one size apart (the fields of
:data:`quantlab.analysis.rows.NETWORK_FIELDS` besides the trial), shown when the rows hold several values."""


def _trial_text(row: dict, varied: list[str]) -> str:
    return " ".join([row["trial"], *(_VARIANTS[f](row.get(f)) for f in varied)])


def format_summary(summary: list[dict]) -> str:
    """A plain-text table of flat summary rows (:meth:`quantlab.analysis.rows.SummaryRow.as_dict`; errors in
    percent, gaps in points, to the float network and to its float control); the trial names its quantizer
    rule, training subset, step policy and retraining budget when the rows have several."""
    from quantlab.formatting import pp

    varied = [f for f in _VARIANTS if len({r.get(f) for r in summary}) > 1]
    head = ("trial", "params", "bits", "method", "seeds", "test error %", "std", "gap to float", "gap to control")
    body = [(
        _trial_text(r, varied),
        f"{r['params']:,}",
        f"{r['bits']} (float)" if r["method"] == "float" else str(r["bits"]),
        r["method"],
        str(r["seeds"]),
        pp(r["test_error"], sign=False),
        "-" if r["test_error_std"] is None else pp(r["test_error_std"], sign=False),
        "-" if r["gap"] is None else f"{pp(r['gap'])} pp",
        "-" if r.get("gap_control") is None else f"{pp(r['gap_control'])} pp",
    ) for r in summary]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(head)]
    left = {0, 3}

    def fmt(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *(fmt(row) for row in body)])


def write_summary_csv(summary: list[dict], file=None) -> None:
    """Writes flat summary rows (:meth:`quantlab.analysis.rows.SummaryRow.as_dict`) as CSV
    (:data:`SUMMARY_CSV_FIELDS`; errors and gaps as fractions; ``bits`` 32 for float rows; empty cells for None)."""
    import csv

    writer = csv.DictWriter(file or sys.stdout, fieldnames=SUMMARY_CSV_FIELDS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for r in summary:
        writer.writerow({k: ("" if r.get(k) is None else r[k]) for k in SUMMARY_CSV_FIELDS})


def _cmd_results(args) -> int:
    from quantlab.analysis import rows
    from quantlab.experiments import sweep
    from quantlab.vocabulary import METHODS

    spec = load_spec(args.spec)
    store = _store(spec, args)
    root = Path(store.root)
    if root.exists() and not root.is_dir():
        raise StoreError(f"results directory {root} is a file, not a directory (--results or ${ENV_RESULTS})")
    if not root.is_dir():
        raise StoreError(f"no results directory {root}; run: {_command(args, 'sweep')}")
    trials = sweep.select(spec, args.only)  # by name: a network, or one variant of it
    stored = [row for record in store.records(spec, trials) for row in rows.record_rows(record, METHODS, spec.name)]
    summary = [r.as_dict() for r in rows.summarise(stored) if r.method in spec.methods]
    expected = len(trials) * len(spec.seeds)
    present = sum(store.has(t, s) for t in trials for s in spec.seeds)
    if args.csv:
        write_summary_csv(summary, sys.stdout)
    elif summary:
        print(f"{spec.name}: {spec.family} on {spec.dataset}, test error over seeds {list(spec.seeds)}\n")
        print(format_summary(summary))
    if present < expected:
        print(f"{expected - present} of {expected} records missing in {store.root}; "
              f"run: {_command(args, 'sweep')}", file=sys.stderr)
        return 0 if args.partial else 1
    return 0


def _cmd_data(args) -> int:
    names = list(dict.fromkeys(args.names or ["fashion_mnist"]))
    if unknown := [n for n in names if n not in data.DATASETS]:
        print(f"error: unknown dataset {', '.join(map(repr, unknown))}; valid names: {', '.join(data.DATASETS)}",
              file=sys.stderr)
        return 2
    data.check_cache()
    for name in names:
        display = data.info(name)["display_name"]
        if data.is_cached(name):
            print(f"{display}: ready in {data.cache_dir() / 'data'}")
            continue
        print(f"{display}: preparing (first use; about a minute for Fashion-MNIST) ...", flush=True)
        start = time.monotonic()
        sizes = {split: len(data.load(name, split)[1]) for split in data.SPLITS}
        counts = ", ".join(f"{split} {n:,}" for split, n in sizes.items())
        print(f"{display}: prepared in {format_duration(time.monotonic() - start)} ({counts} examples) "
              f"in {data.cache_dir() / 'data'}")
    return 0


def _cmd_export(args) -> int:
    from tqdm import tqdm

    from quantlab.deploy import export

    spec = load_spec(args.spec)
    store = _store(spec, args)
    try:
        config = export.check(spec, args.network, args.seed, args.bits, args.format, args.signal_bits, args.packing)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with tqdm(desc=f"{args.network} seed {args.seed}, {args.bits}-bit", unit="epoch", file=sys.stderr,
              total=config.float_train.epochs + config.retrain.epochs, disable=args.no_progress,
              dynamic_ncols=True) as bar:
        meta = export.export(spec, store, args.network, args.seed, args.bits, args.out, args.format,
                             args.signal_bits, args.packing, progress=bar.update)
    record = meta.get("record_test_error")
    print(f"wrote {args.out} ({Path(args.out).stat().st_size:,} bytes, {args.format}): {meta['label']} seed "
          f"{args.seed}, {args.bits}-bit weights, signals {args.signal_bits or 'float'}; test error "
          f"{meta['test_error']:.2%}" + (f" (record: {record:.2%})" if record is not None else " (no record)"))
    return 0


def _cmd_notebook(args) -> int:
    from quantlab import notebooks
    from quantlab.fileio import write_atomic

    chapter = Path(args.chapter)
    if chapter.suffix != ".md" or not chapter.is_file():
        print(f"error: CHAPTER must be a chapter's MyST notebook, e.g. book/ffdnn_width.md; got {args.chapter!r}",
              file=sys.stderr)
        return 2
    start = time.monotonic()
    print(f"running {chapter} ...", file=sys.stderr, flush=True)
    from nbclient.exceptions import CellExecutionError

    try:
        nb = notebooks.execute(chapter, timeout=args.timeout)
    except CellExecutionError as e:
        print(f"error: a cell of {chapter} failed:\n{e}", file=sys.stderr)
        return 1
    write_atomic(Path(args.out), notebooks.dumps(nb).encode())
    print(f"wrote {args.out} in {format_duration(time.monotonic() - start)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs the command line ``argv`` in this process; returns the exit code (130 on Ctrl-C)."""
    args = _parser().parse_args(argv)
    commands = {"specs": _cmd_specs, "sweep": _cmd_sweep, "results": _cmd_results, "data": _cmd_data,
                "export": _cmd_export, "notebook": _cmd_notebook}
    with warnings.catch_warnings():
        warnings.simplefilter("always", CorruptRecordWarning)
        warnings.showwarning = _warn_one_line
        try:
            return commands[args.command](args)
        except (SpecError, StoreError, ExecutorError, DataUnavailableError, CacheError, PreflightError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"\n{_interrupt_message}", file=sys.stderr)
            return 128 + signal.SIGINT


def _exit_on_signal(signum, frame) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - e.g. the signal came in the middle of a write to it
            pass
    os.write(2, f"\n{_interrupt_message}\n".encode())
    os._exit(128 + signum)


def run(argv: list[str] | None = None) -> NoReturn:
    """:func:`main` as a process (``python -m quantlab``): exits with its code, and on SIGINT
    (Ctrl-C) or SIGTERM at once, with 130 / 143 and the interrupt message.

    The signal ends the process in its handler (``os._exit``), without raising KeyboardInterrupt
    and without Python's teardown. Letting KeyboardInterrupt unwind, then exit normally, crashed:
    the interrupt pulls the main thread out of a JAX call, but the XLA work that call started (a
    compilation, an epoch) goes on in XLA's own threads, and the normal exit destroys the XLA client
    under it (SIGSEGV in ``xla::ifrt::PjRtLoadedExecutable::Create`` while the main thread ran
    ``~PjRtClient``; exit 139 in 3 of 10 tries). Raised during ``import jax`` the exception aborted
    the process (SIGABRT / SIGSEGV), and raised inside JAX's garbage-collection callback it was
    swallowed and the sweep ran on. Nothing is lost by ending at once: records and the data cache
    are written atomically (an interrupted write leaves at most a ``.*.tmp`` file, ignored), and
    the kernel releases the trial locks.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_on_signal)
    sys.exit(main(argv))


if __name__ == "__main__":
    run()
