"""quantlab's speed on this machine, side by side with its matmul peak and with plain PyTorch.

    make bench                                   # = .venv/bin/python bench/run.py (installs torch if missing)
    .venv/bin/python bench/run.py --cnn-impl lax --label "before: lax.conv"
    .venv/bin/python bench/run.py --quick        # fewer repeats, no epochs / sweep: a 2-minute look

Prints, and writes as one section of bench/RESULTS.md (replacing the section with the same label)
plus bench/results-<label>.csv:

* the measured fp32 matmul peak: a jitted ``jnp.dot`` of 2048^2 and 4096^2 float32 matrices, best
  of several (GFLOP/s = 2 n^3 / time);
* per network (FFDNN 784-1024x3-10 and 784-256x2-10, CNN (8,8,16) and (32,32,64) on 28x28x1), per
  forward (float, or straight-through ternary as in retraining) and per number of seeds trained
  together (1, or 3 vmapped as quantlab.training.train does): quantlab's time per training step of batch
  100 (Adam; per seed), its GFLOP/s and fraction of the peak, PyTorch's time for the same step
  (same architecture, Adam, batch 100, ``torch.set_num_threads(2)``; one seed) and the ratio
  torch time / quantlab time (> 1: quantlab is faster);
* one full training epoch (54,000 examples) of FFDNN 1024x3 and of CNNs, the time of the per-epoch
  optimal-step computation of retraining, the smoke sweep end to end, and the speed-up of training
  3 seeds vmapped over 3 sequential single-seed runs.

Timing: the quantlab step is ``quantlab.training.train``'s real jitted epoch (one ``lax.scan`` over shuffled
batches gathered on the device) on ``STEPS`` batches, divided by ``STEPS``; the torch step gathers
its batch from a uint8 tensor the same way. quantlab and torch runs alternate, repeat ``--reps``
times and the minimum is reported (the machine is shared; the load average is recorded).
FLOPs per step: 6 x (multiply-accumulates of the forward pass per example) x batch, the usual
forward + 2x backward count (it counts the first layer's unneeded input gradient; pooling, ReLU,
softmax and Adam are not counted).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from quantlab import data
from quantlab.experiments import environment
from quantlab.fileio import write_atomic
from quantlab.nn import models
from quantlab.training import train

ROOT = Path(__file__).resolve().parent.parent
BATCH = 100
STEPS = 20
DATASET = data.info("fashion_mnist")
EPOCH = DATASET["splits"]["train"]  # one epoch of the training split (after the validation carve)
NETS = [
    ("ffdnn", (1024, 3)),
    ("ffdnn", (256, 2)),
    ("cnn", (8, 8, 16)),
    ("cnn", (32, 32, 64)),
]
SHAPE = DATASET["image_shape"]


# ---- machine ---------------------------------------------------------------------------------------


def machine() -> dict:
    """This machine as the benchmark reports it: the CPU (:mod:`quantlab.experiments.environment`, as every record
    names it), cores, L3 and memory (``lscpu``), package versions and the date."""
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    field = lambda key: (re.search(rf"^{key}:\s*(.+)$", lscpu, re.M) or [None, "?"])[1].strip()  # noqa: E731
    isa = environment.cpu_isa() or "?"
    simd = "AVX-512" if "avx512f" in isa else "AVX2" if "avx2" in isa else "SSE"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = {"python": platform.python_version(),
                **{k: v or "-" for k, v in environment.package_versions((*environment.PACKAGES, "torch")).items()}}
    cores, threads = field(r"Core\(s\) per socket"), field(r"Thread\(s\) per core")
    return {
        "cpu": f"{environment.cpu_model() or '?'} ({isa.split(':')[0]}), {simd}+FMA",
        "cores": f"{os.cpu_count()} logical CPUs ({cores} cores/socket, {threads} thread/core), "
        f"{field('L3 cache')} L3, {mem:.0f} GiB RAM",
        "versions": versions,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def load() -> str:
    return "/".join(f"{v:.2f}" for v in os.getloadavg())


def matmul_peak(reps: int) -> dict:
    out = {}
    for n in (2048, 4096):
        a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
        b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
        f = jax.jit(jnp.dot)
        f(a, b).block_until_ready()
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            f(a, b).block_until_ready()
            times.append(time.perf_counter() - t)
        out[n] = 2 * n**3 / min(times) / 1e9
    return out


# ---- FLOPs -----------------------------------------------------------------------------------------


def macs_per_example(family: str, size) -> int:
    return models.network_cost(family, size, SHAPE)["macs"]


def name(family: str, size) -> str:
    if family == "ffdnn":
        return f"FFDNN 784-{size[0]}x{size[1]}-10"
    return f"CNN {tuple(size)}"


# ---- quantlab --------------------------------------------------------------------------------------


def fake_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, *SHAPE), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.int32)
    return jnp.asarray(images), jnp.asarray(labels)


def real_or_fake_train(n: int):
    try:
        images, labels = data.load("fashion_mnist", "train")
        assert len(images) >= n
        return jnp.asarray(images[:n]), jnp.asarray(labels[:n]), "Fashion-MNIST"
    except Exception as exc:  # no cached data set: timing does not depend on the pixel values
        print(f"  (Fashion-MNIST not available: {exc}; using random images)", file=sys.stderr)
        return *fake_data(n), "random images"


class QuantlabRun:
    """One jitted epoch of ``n`` examples for ``seeds`` seeds, callable repeatedly (it continues
    training from its own output: the epoch donates its buffers)."""

    def __init__(self, family, size, seeds: int, quantized: bool, n: int, impl: str, data=None):
        model = models.make_model(family, size)
        if family == "cnn":
            model = models.CNN(features=tuple(size), impl=impl)
        self.model = model
        keys = jax.random.split(jax.random.key(0), seeds)
        params = jax.vmap(lambda k: models.init_params(model, k, SHAPE))(keys)
        # a constant rate, as PyTorch's Adam below: the bench calls the epoch again and again, and a cosine
        # schedule over one epoch would leave the rate at 0 after the first (the network would stop learning)
        config = train.TrainConfig(batch_size=BATCH, epochs=1, learning_rate=1e-3, schedule="constant")
        optimizer = train.make_optimizer(config, n // BATCH)  # for its state
        self.quant = train.Quant(2, models.quantized_mask(jax.tree.map(lambda a: a[0], params))) if quantized else None
        self.epoch = train.make_epoch(model, config, n, self.quant)
        self.bits = np.int32(2)
        self.params, self.opt_state = params, jax.vmap(optimizer.init)(params)
        self.keys = keys
        self.steps = train.seed_steps(params, self.quant) if quantized else jnp.zeros((seeds,))
        self.images, self.labels = data if data is not None else fake_data(n)
        t = time.perf_counter()
        self()  # compile
        self.compile_s = time.perf_counter() - t

    def __call__(self) -> float:
        t = time.perf_counter()
        self.params, self.opt_state, self.steps, loss = self.epoch(
            self.params, self.opt_state, self.steps, self.keys, self.images, self.labels, None,  # float signals
            self.bits)
        loss.block_until_ready()
        return time.perf_counter() - t


# ---- torch -----------------------------------------------------------------------------------------


class TorchRun:
    """The same training step in plain PyTorch (one seed): Adam, batch 100, the batch gathered from a
    uint8 tensor and scaled to [0, 1]; quantized: straight-through ternary weights with a fixed step
    per layer (as quantlab holds the step during an epoch)."""

    def __init__(self, family, size, quantized: bool, steps: int):
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(2)
        torch.manual_seed(0)
        self.torch, self.F = torch, F
        self.family, self.size, self.quantized, self.nsteps = family, size, quantized, steps
        params = []

        def layer(shape, fan_in):
            w = torch.randn(*shape) / fan_in**0.5
            params.extend([w.requires_grad_(), torch.zeros(shape[0], requires_grad=True)])

        for d in models.layer_dims(family, size, SHAPE):  # the same layers as quantlab's model
            if d["kind"] == "conv":
                layer((d["outputs"], d["inputs"], 3, 3), 9 * d["inputs"])
            else:
                layer((d["outputs"], d["inputs"]), d["inputs"])
        self.params = params
        self.qsteps = [0.7 * float(p.detach().abs().mean()) for p in params[::2]]
        self.opt = torch.optim.Adam(params, lr=1e-3)
        n = steps * BATCH
        rng = np.random.default_rng(0)
        self.x = torch.from_numpy(rng.integers(0, 256, (n, SHAPE[2], SHAPE[0], SHAPE[1]), dtype=np.uint8))
        self.y = torch.from_numpy(rng.integers(0, 10, n).astype(np.int64))
        self()  # warm up

    def weight(self, i):
        w = self.params[2 * i]
        if not self.quantized:
            return w
        step = self.qsteps[i]
        q = self.torch.sign(w) * step * self.torch.clamp(self.torch.floor(w.abs() / step + 0.5), max=1.0)
        return w + (q - w).detach()

    def forward(self, x):
        F, p = self.F, self.params
        if self.family == "ffdnn":
            x = x.flatten(1)
            layers = len(p) // 2
            for i in range(layers):
                x = F.linear(x, self.weight(i), p[2 * i + 1])
                if i < layers - 1:
                    x = F.relu(x)
            return x
        for i in range(len(self.size)):
            x = F.max_pool2d(F.relu(F.conv2d(x, self.weight(i), p[2 * i + 1], padding=1)), 2)
        return F.linear(x.flatten(1), self.weight(len(self.size)), p[-1])

    def __call__(self) -> float:
        torch = self.torch
        t = time.perf_counter()
        order = torch.randperm(self.x.shape[0])
        for s in range(self.nsteps):
            idx = order[s * BATCH : (s + 1) * BATCH]
            x = self.x[idx].float() / 255.0
            loss = self.F.cross_entropy(self.forward(x), self.y[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        return time.perf_counter() - t


def torch_available() -> bool:
    try:
        import torch  # noqa: F401

        return True
    except ImportError:
        return False


# ---- sections --------------------------------------------------------------------------------------


def step_table(args, peak: float) -> list[dict]:
    """All rows are compiled first, then measured in ``args.reps`` passes over all rows (quantlab
    and torch alternating); each row keeps its minimum. A passing burst of load from other work
    then spoils one pass, not a row."""
    use_torch = not args.no_torch and torch_available()
    rows = []
    for family, size in NETS:
        for quantized in (False, True):
            torch_run = TorchRun(family, size, quantized, STEPS) if use_torch else None
            for seeds in (1, 3):
                run = QuantlabRun(family, size, seeds, quantized, STEPS * BATCH, args.cnn_impl)
                rows.append({"family": family, "size": size, "quantized": quantized, "seeds": seeds,
                             "run": run, "torch": torch_run, "q": [], "t": []})
    print(f"  compiled {len(rows)} rows; measuring in {args.reps} passes", flush=True)
    for rep in range(args.reps):
        for r in rows:
            r["q"].append(r["run"]() / STEPS / r["seeds"])
            if r["torch"] is not None and r["seeds"] == 1:  # torch trains one seed; both rows use it
                r["t"].append(r["torch"]() / STEPS)
        print(f"  pass {rep + 1}/{args.reps} done, load {load()}", flush=True)
    out = []
    for r in rows:
        family, size, seeds = r["family"], r["size"], r["seeds"]
        t_times = r["t"] or next(o["t"] for o in rows if o["torch"] is r["torch"] and o["seeds"] == 1)
        flops = 6 * macs_per_example(family, size) * BATCH
        q = min(r["q"])
        t = min(t_times) if t_times else float("nan")
        row = {
            "network": name(family, size),
            "forward": "ternary (STE)" if r["quantized"] else "float",
            "seeds": seeds,
            "quantlab_ms": q * 1e3,
            "quantlab_ms_median": statistics.median(r["q"]) * 1e3,
            "quantlab_gflops": flops / q / 1e9,
            "peak_fraction": flops / q / 1e9 / peak,
            "torch_ms": t * 1e3,
            "torch_ms_median": statistics.median(t_times) * 1e3 if t_times else float("nan"),
            "torch_gflops": flops / t / 1e9,
            "ratio": t / q,
            "compile_s": r["run"].compile_s,
        }
        out.append(row)
        print(
            f"  {row['network']:22s} {row['forward']:13s} seeds={seeds}  quantlab {row['quantlab_ms']:7.2f} ms"
            f" ({row['quantlab_gflops']:5.1f} GF/s, {100 * row['peak_fraction']:4.1f}% peak)  torch "
            f"{row['torch_ms']:7.2f} ms  ratio {row['ratio']:.2f}",
            flush=True,
        )
    return out


def epoch_section(args) -> list[dict]:
    images, labels, source = real_or_fake_train(EPOCH)
    out = []
    nets = [("ffdnn", (1024, 3), 1), ("ffdnn", (1024, 3), 3), ("cnn", (8, 8, 16), 3), ("cnn", (32, 32, 64), 3)]
    if args.cnn_impl == "lax":  # about 1.2 s per 3-seed step: 11 minutes per epoch
        nets = nets[:-1]
    for family, size, seeds in nets:
        for quantized in (False, True):
            run = QuantlabRun(family, size, seeds, quantized, EPOCH, args.cnn_impl, data=(images, labels))
            times = [run() for _ in range(args.epoch_reps)]
            extra = ""
            if quantized:
                steps_times = []
                for _ in range(5):
                    t = time.perf_counter()
                    jax.block_until_ready(train.seed_steps(run.params, run.quant))
                    steps_times.append(time.perf_counter() - t)
                extra = f"; optimal steps (once per epoch): {1e3 * min(steps_times):.1f} ms"
            row = {
                "what": f"{name(family, size)}, {'ternary' if quantized else 'float'}, {seeds} seed{'s' * (seeds > 1)}",
                "seconds": min(times),
                "per_seed": min(times) / seeds,
                "note": f"first call (compilation + 1 epoch) {run.compile_s:.1f} s{extra}",
                "load": load(),
            }
            out.append(row)
            print(f"  epoch {row['what']}: {row['seconds']:.2f} s ({row['note']}) load {row['load']}", flush=True)
    out.append({"what": f"(epoch data: {source}, {EPOCH} examples, batch {BATCH})", "seconds": float("nan"),
                "per_seed": float("nan"), "note": "", "load": ""})
    return out


def vmap_section(args) -> list[dict]:
    out = []
    for family, size in (("ffdnn", (32, 2)), ("ffdnn", (256, 2)), ("cnn", (4, 4, 8))):
        one = QuantlabRun(family, size, 1, False, EPOCH, args.cnn_impl)
        three = QuantlabRun(family, size, 3, False, EPOCH, args.cnn_impl)
        t1, t3 = [], []
        for _ in range(args.epoch_reps):
            t1.append(one())
            t3.append(three())
        row = {"network": name(family, size), "sequential_s": 3 * min(t1), "vmapped_s": min(t3),
               "speedup": 3 * min(t1) / min(t3), "load": load()}
        out.append(row)
        print(f"  vmap {row['network']}: 3 x 1 seed {row['sequential_s']:.2f} s, 3 seeds vmapped "
              f"{row['vmapped_s']:.2f} s, speed-up {row['speedup']:.2f}x", flush=True)
    return out


def fresh_sweep(spec: str, sweep_args: list[str] = (), executor: list[str] = (), compile_cache: bool = False) -> dict:
    """``python -m quantlab sweep SPEC`` in a fresh process, into an empty results directory, with a
    fresh ``$QUANTLAB_CACHE`` (no float network reused) that shares this machine's data arrays and,
    with ``compile_cache``, its JAX compilation cache (``$QUANTLAB_CACHE/jax``, so programs compiled
    before are read back). Returns ``{"seconds": the whole command, "records": [record dicts],
    "written": count, "trials": count, "rc", "load": "before -> after"}``."""
    with tempfile.TemporaryDirectory(prefix="ql-bench-") as tmp:
        cache, results = Path(tmp) / "cache", Path(tmp) / "results"
        cache.mkdir()
        (cache / "data").symlink_to(data.cache_dir() / "data")
        if compile_cache:
            (data.cache_dir() / "jax").mkdir(parents=True, exist_ok=True)
            (cache / "jax").symlink_to(data.cache_dir() / "jax")
        env = {**os.environ, "QUANTLAB_CACHE": str(cache), "RAY_TMPDIR": tmp, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "quantlab", "sweep", spec, "--results", str(results), "--no-progress",
                   *sweep_args, *executor]
        load_before = load()
        t = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
        seconds = time.perf_counter() - t
        records = [json.loads(p.read_text()) for p in results.glob("*.json")]
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-3000:], file=sys.stderr)
    return {"seconds": seconds, "records": records, "written": len(records),
            "trials": len({r["label"] for r in records}), "rc": proc.returncode, "load": f"{load_before} -> {load()}"}


def smoke_sweep() -> dict:
    """The smoke sweep end to end in a fresh process (compilation cache warm, float networks trained)."""
    r = fresh_sweep("smoke", compile_cache=True)
    print(f"  smoke sweep: {r['seconds']:.1f} s, {r['written']} records, exit {r['rc']}", flush=True)
    return {"seconds": r["seconds"], "records": r["written"], "rc": r["rc"], "load": r["load"]}


# ---- report ----------------------------------------------------------------------------------------


def fmt(value: float, digits: int) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


def markdown(label, info, load_before, load_after, peak, rows, epochs, vmaps, smoke, args) -> str:
    v = info["versions"]
    lines = [
        f"## {label}",
        "",
        f"- Date: {info['date']}; CNN layer implementation: `{args.cnn_impl}`; "
        f"passes: {args.reps} (minimum reported), load average (1/5/15 min) before {load_before}, after {load_after}.",
        f"- CPU: {info['cpu']}; {info['cores']}.",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        f"- Measured fp32 matmul peak (jitted `jnp.dot`, best of {args.peak_reps}): "
        + ", ".join(f"{n}^2: {g:.0f} GFLOP/s" for n, g in peak.items())
        + f"; **peak used below: {max(peak.values()):.0f} GFLOP/s**.",
        "",
        "Training step, batch 100, Adam; time per step and per seed (3 seeds: one vmapped step / 3); "
        "torch: the same step in PyTorch, one seed (so the same figure in the 1- and 3-seed rows); "
        "ratio = torch / quantlab (> 1: quantlab faster). Minimum over the passes; medians in the CSV.",
        "",
        "| network | forward | seeds | quantlab ms/step | GFLOP/s | % of peak | torch ms/step | torch GFLOP/s "
        "| torch/quantlab |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['network']} | {r['forward']} | {r['seeds']} | {r['quantlab_ms']:.2f} | {r['quantlab_gflops']:.1f} | "
            f"{100 * r['peak_fraction']:.0f}% | {fmt(r['torch_ms'], 2)} | {fmt(r['torch_gflops'], 1)} | "
            f"**{fmt(r['ratio'], 2)}** |"
        )
    if epochs:
        lines += ["", "One training epoch (54,000 examples, after compilation; validation not included):", "",
                  "| run | seconds | per seed | notes |", "|---|---:|---:|---|"]
        for e in epochs:
            if e["seconds"] == e["seconds"]:
                lines.append(f"| {e['what']} | {e['seconds']:.2f} | {e['per_seed']:.2f} | {e['note']} |")
            else:
                lines.append(f"| {e['what']} | | | |")
    if vmaps:
        lines += ["", "Seeds vmapped: one 54,000-example epoch of 3 seeds trained together vs 3 single-seed runs:", "",
                  "| network | 3 x 1 seed (s) | 3 seeds vmapped (s) | speed-up |", "|---|---:|---:|---:|"]
        for r in vmaps:
            lines.append(f"| {r['network']} | {r['sequential_s']:.2f} | {r['vmapped_s']:.2f} | {r['speedup']:.2f}x |")
    if smoke:
        lines += ["", f"Smoke sweep (`python -m quantlab sweep smoke` into an empty results directory, a fresh "
                  f"process: imports, compilation, 2 trials): **{smoke['seconds']:.1f} s** "
                  f"({smoke['records']} records, exit {smoke['rc']})."]
    return "\n".join(lines) + "\n"


HEADER = """# quantlab benchmarks

Produced by `make bench` (= `.venv/bin/python bench/run.py`, after installing the optional
`torch==2.13.0`); see bench/run.py's docstring for what is measured and how. Each run replaces its
own section below (keyed by the part of `--label` before its colon; `make bench` writes "Current")
and writes `bench/results-<key>.csv`. The machine is shared with other work: compare rows measured
in the same section, and read the load averages.
"""


def slug(label: str) -> str:
    """The key of a section: the label up to its first colon, e.g. "before" for "Before: lax.conv"."""
    return re.sub(r"[^a-z0-9]+", "-", label.split(":")[0].lower()).strip("-")


def write_results(path: Path, label: str, section: str) -> None:
    key = slug(label)
    begin, end = f"<!-- section: {key} -->", f"<!-- end: {key} -->"
    block = f"{begin}\n{section}{end}\n"
    text = path.read_text() if path.exists() else HEADER
    if begin in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end) + r"\n", lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    write_atomic(path, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cnn-impl", default="fused", choices=("fused", "lax"), help="CNN layer implementation")
    parser.add_argument("--label", help="section title in RESULTS.md; the part before a colon keys the section "
                        "and the CSV file (default: 'current: CNN layer <impl>')")
    parser.add_argument("--reps", type=int, default=7, help="passes over all step measurements (min reported)")
    parser.add_argument("--epoch-reps", type=int, default=2, help="repeats of each epoch measurement")
    parser.add_argument("--peak-reps", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 repeats, no epochs, no vmap section, no sweep")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--no-epochs", action="store_true")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.no_epochs, args.no_sweep = 3, True, True
    label = args.label or f"Current: CNN layer {args.cnn_impl}"

    info = machine()
    load_before = load()
    print(f"{info['date']}  {info['cpu']}; {info['cores']}\nload {load_before}; versions {info['versions']}")
    if not args.no_torch and not torch_available():
        print("  torch is not installed: no torch columns (make bench installs torch==2.13.0)", file=sys.stderr)
    peak = matmul_peak(args.peak_reps)
    print("matmul peak: " + ", ".join(f"{n}^2 {g:.0f} GFLOP/s" for n, g in peak.items()), flush=True)
    print("training steps:")
    rows = step_table(args, max(peak.values()))
    epochs = vmaps = smoke = None
    if not args.no_epochs:
        print("epochs:")
        epochs = epoch_section(args)
        print("vmap over seeds:")
        vmaps = vmap_section(args)
    if not args.no_sweep:
        smoke = smoke_sweep()
    section = markdown(label, info, load_before, load(), peak, rows, epochs, vmaps, smoke, args)
    print()
    print(section)
    write_results(args.results, label, section)
    csv_path = args.results.parent / f"results-{slug(label)}.csv"

    def write(f):
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    write_atomic(csv_path, write, newline="")
    print(f"wrote {args.results} and {csv_path}")


if __name__ == "__main__":
    main()
