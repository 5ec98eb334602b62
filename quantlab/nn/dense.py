"""A dense layer ``x @ kernel + bias`` whose backward pass is written out, for speed on CPU.

Why: ``quantlab.training.train`` always trains under ``vmap`` over seeds. With a seed axis of size 1, XLA's
CPU backend computes ``nn.Dense``'s weight gradient transposed (``dy^T @ x``, ``[out, in]``) and
Adam's update then reads it with a stride of ``out``: about 4 ms per 1024 x 1024 layer, two thirds
of a 784-1024x3-10 training step (bench/RESULTS.md). Here both products of the backward pass are
spelled as einsums in the kernel's own ``[in, out]`` layout: the weight gradient
``einsum("ni,no->io", x, dy)`` and the input gradient ``einsum("no,io->ni", dy, kernel)`` (written
``dy @ kernel.T``, XLA materialises a transposed copy of the kernel when it is computed, as the
straight-through quantized kernel of retraining is). One seed, 784-1024x3-10, batch 100: float
step 14.5 -> ~6.3 ms, ternary straight-through step 14.7 -> ~6.5 ms, as fast per seed as 3
vmapped seeds.

The gradients equal ``nn.Dense``'s up to float rounding (the same products, summed in another
order; tests/test_dense.py); the parameters and their initialisation are identical.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


@jax.custom_vjp
def dense(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """``x [N, in] @ kernel [in, out] + bias [out]`` -> ``[N, out]``; differentiable (reverse mode),
    batchable with ``vmap``."""
    return x @ kernel + bias


def _dense_fwd(x, kernel, bias):
    return x @ kernel + bias, (x, kernel)


def _dense_bwd(residuals, dy):
    x, kernel = residuals
    return jnp.einsum("no,io->ni", dy, kernel), jnp.einsum("ni,no->io", x, dy), jnp.sum(dy, axis=0)


dense.defvjp(_dense_fwd, _dense_bwd)


class Dense(nn.Module):
    """Linen layer computing :func:`dense` with ``nn.Dense(features)``'s parameters: ``kernel``
    ``[in, features]`` (``lecun_normal``) and ``bias`` ``[features]`` (zeros), float32. Given the
    name ``nn.Dense`` would get (``Dense_0``, ...), its initial values are identical."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        return dense(x, kernel, bias)
