"""Inference per batch of 1,000 images: the float network against the fixed-point network in integers.

    .venv/bin/python bench/inference.py          # make bench runs it

For the largest FFDNN of the width sweep (784-1024x3-10) and two CNNs of the feature-map sweep, with
ternary weights and 4-bit signals, on 1,000 Fashion-MNIST test images (uint8, from host memory, the
logits back in host memory), the median of 20 calls after a warm-up of:

* float: ``model.apply`` of the float32 network, jitted (the layers the book trains with on a CPU);
* simulated: the same with the quantized weights and fixed-point signals (what the book measures);
* JAX rescaled / JAX integer: :func:`quantlab.nn.integer.run`, the two integer variants;
* ONNX Runtime: the integer-only graph of :mod:`quantlab.deploy.onnxgraph` (CPU execution provider).

Timings do not depend on the weights' values: random codes and float weights of the right shapes
stand in for trained networks (the agreement of the variants is tested on trained ones,
tests/test_integer.py and tests/test_deploy.py). Writes the "Inference" section of bench/RESULTS.md.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import run as bench_run  # noqa: E402  (the shared helpers: machine, write_results)

from quantlab import data  # noqa: E402
from quantlab.deploy import onnxgraph  # noqa: E402
from quantlab.nn import integer, models  # noqa: E402
from quantlab.numerics import quantize as qz  # noqa: E402
from quantlab.numerics.signals import Signals  # noqa: E402

NETWORKS = (("ffdnn", (1024, 3)), ("cnn", (8, 8, 16)), ("cnn", (32, 32, 64)))
BITS, SIGNAL_BITS, BATCH, REPS = 2, 4, 1000, 20
LABEL = "Inference: float against integer, per batch of 1,000 images"


def median_ms(call) -> float:
    call()
    times = []
    for _ in range(REPS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def measure(family: str, size: tuple, images: np.ndarray) -> dict:
    model = models.make_model(family, size)
    params = models.init_params(model, jax.random.key(0), images.shape[1:])
    steps = {name: float(qz.optimal_step(layer["kernel"], BITS)) for name, layer in params.items()}
    quantized = {name: {"kernel": qz.quantize(layer["kernel"], steps[name], BITS), "bias": layer["bias"]}
                 for name, layer in params.items()}
    signal_steps = np.full(len(params) - 1, 0.25, np.float32)
    signals = Signals(jnp.asarray(signal_steps), SIGNAL_BITS)
    net = integer.fixed_point(family, jax.device_get(quantized), steps, BITS, signal_steps, SIGNAL_BITS)
    apply = jax.jit(lambda p, x, s: model.apply({"params": p}, x, s))
    session = onnxgraph.session(onnxgraph.to_model(net, images.shape[1:]))
    return {
        "network": f"{family} {'x'.join(map(str, size)) if family == 'ffdnn' else '-'.join(map(str, size))}",
        "float": median_ms(lambda: np.asarray(apply(params, images, None))),
        "simulated": median_ms(lambda: np.asarray(apply(quantized, images, signals))),
        "rescaled": median_ms(lambda: integer.run(net, images, "rescaled")),
        "integer": median_ms(lambda: integer.run(net, images, "integer")),
        "onnxruntime": median_ms(lambda: session.run(["logits"], {"images": images})[0]),
    }


def markdown(info: dict, rows: list[dict]) -> str:
    lines = [f"## {LABEL}", "", f"{info['cpu']}; {info['cores']}; {info['date']}; jax {info['versions']['jax']}.",
             "", f"Milliseconds per call of {BATCH:,} Fashion-MNIST test images (median of {REPS}; ternary weights, "
             f"{SIGNAL_BITS}-bit signals; bench/inference.py). Ratio: JAX integer / float.", "",
             "| network | float | simulated | JAX rescaled | JAX integer | ONNX Runtime integer | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['float']:.1f} | {r['simulated']:.1f} | {r['rescaled']:.1f} | "
                     f"{r['integer']:.1f} | {r['onnxruntime']:.1f} | {r['integer'] / r['float']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    info = bench_run.machine()
    print(f"{info['cpu']}; {info['cores']}", flush=True)
    images = data.load("fashion_mnist", "test")[0][:BATCH]
    rows = []
    for family, size in NETWORKS:
        rows.append(measure(family, size, images))
        r = rows[-1]
        print(f"  {r['network']:14} ms per {BATCH} images: float {r['float']:.1f}, simulated {r['simulated']:.1f}, "
              f"JAX rescaled {r['rescaled']:.1f}, JAX integer {r['integer']:.1f}, ONNX Runtime {r['onnxruntime']:.1f}",
              flush=True)
    path = ROOT / "bench" / "RESULTS.md"
    bench_run.write_results(path, LABEL, markdown(info, rows))
    print(f"wrote the section to {path}")


if __name__ == "__main__":
    main()
