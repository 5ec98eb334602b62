"""Experiment (not applied to quantlab): why a 1-seed FFDNN 784-1024x3-10 step reaches only ~27% of
the matmul peak while 3 vmapped seeds reach ~60%, and a drop-in fix.

Cause (from the compiled HLO and a profile): under ``vmap`` with a seed axis of size 1, XLA computes
each ``nn.Dense`` weight gradient as ``dy^T @ x`` (``[out, in]``) and transposes it inside Adam's
update fusion, which then reads 1024 x 1024 matrices with a stride of 1024: about 4 ms per layer,
two thirds of the step. With 3 seeds the batched dot keeps the ``[in, out]`` layout.

Fix: a dense layer whose backward pass is written out (``jax.custom_vjp``) with the weight
gradient as ``einsum("ni,no->io", x, dy)``: same parameters (``kernel`` ``[in, out]``, ``bias``),
same initialisation, gradients equal up to float rounding (checked below).

    .venv/bin/python bench/ffdnn_dense_vjp.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402

from quantlab import models  # noqa: E402


@jax.custom_vjp
def dense(x, kernel, bias):
    return x @ kernel + bias


def _dense_fwd(x, kernel, bias):
    return x @ kernel + bias, (x, kernel)


def _dense_bwd(res, g):
    x, kernel = res
    return g @ kernel.T, jnp.einsum("ni,no->io", x, g), jnp.sum(g, axis=0)


dense.defvjp(_dense_fwd, _dense_bwd)


class Dense(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        return dense(x, kernel, bias)


class FFDNN(nn.Module):
    width: int
    depth: int
    num_classes: int = 10

    @nn.compact
    def __call__(self, images):
        x = images.astype(jnp.float32).reshape((images.shape[0], -1)) / 255.0
        for i in range(self.depth):
            x = nn.relu(Dense(self.width, name=f"Dense_{i}")(x))
        return Dense(self.num_classes, name=f"Dense_{self.depth}")(x)


def check_equal():
    ref, new = models.FFDNN(1024, 3), FFDNN(1024, 3)
    params = models.init_params(ref, jax.random.key(0), (28, 28, 1))
    assert jax.tree.all(jax.tree.map(jnp.array_equal, params, models.init_params(new, jax.random.key(0), (28, 28, 1))))
    x, y = bench.fake_data(100)

    def loss(model, p):
        logits = model.apply({"params": p}, x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

    ga = jax.grad(lambda p: loss(ref, p))(params)
    gb = jax.grad(lambda p: loss(new, p))(params)
    worst = max(float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a))) for a, b in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)))
    print(f"same parameters; largest gradient difference relative to the leaf's max: {worst:.1e}")


def main():
    check_equal()
    original = models.make_model
    runs = {}
    for variant in ("flax nn.Dense", "custom-VJP Dense"):
        if variant.startswith("custom"):
            models.make_model = lambda f, s, n=10: FFDNN(s[0], s[1], n) if f == "ffdnn" else original(f, s, n)
        for seeds in (1, 3):
            runs[variant, seeds] = bench.QuantlabRun("ffdnn", (1024, 3), seeds, False, bench.STEPS * bench.BATCH, "fused")
    models.make_model = original
    times = {k: [] for k in runs}
    for _ in range(7):  # interleaved passes, minimum kept
        for k, r in runs.items():
            times[k].append(r() / bench.STEPS / k[1])
    flops = 6 * bench.macs_per_example("ffdnn", (1024, 3)) * bench.BATCH
    for (variant, seeds), ts in times.items():
        t = min(ts)
        print(f"{variant:17s} seeds={seeds}: {1e3 * t:6.2f} ms/step/seed ({flops / t / 1e9:5.0f} GFLOP/s)")
    print(f"load {bench.load()}; peak: {bench.matmul_peak(10)}")


if __name__ == "__main__":
    main()
