"""The two network families of the paper, with a size parameter: FFDNN and CNN.

Flax Linen rather than NNX: a Linen module is a stateless description whose parameters are a plain
pytree, so the (quantized) forward pass is literally the pure function
``model.apply({"params": params}, images)``. That is what the quantizer (a pytree map), the
straight-through retraining step and ``vmap`` over seeds want; NNX's mutable objects would have to
be split back into exactly this form at every jitted boundary.

Both families take uint8 images ``[N, H, W, C]`` and return logits ``[N, num_classes]``; pixels are
scaled to [0, 1] inside the model so that data can stay uint8 on the device. The input pixels are
thus already 8-bit fixed-point signals. Given :class:`quantlab.numerics.signals.Signals`, a model
quantizes every hidden layer's output (after the ReLU; for the CNN after the pooling, which is the
same network) to fixed point, the last one that feeds the output layer included; every hidden
signal is also sown into the ``"signals"`` collection (float, before quantization), which is how
calibration reads them (``model.apply(..., mutable=["signals"])``).

Layer implementations are chosen per platform (:func:`layer_impl`): on a CPU the layers of
:mod:`quantlab.nn.conv` and :mod:`quantlab.nn.dense` (``"fused"``), written for XLA's CPU backend, where
they are 1.1-20x faster (bench/RESULTS.md); on any other platform (GPU, TPU) the plain Flax layers
``nn.Conv`` + ``nn.max_pool`` and ``nn.Dense`` (``"lax"``), which cuDNN / cuBLAS serve directly.
Both have the same parameters (names, shapes, initialisation) and equal results up to float
rounding; the record's provenance names the device (and ``layers``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from quantlab.config import FAMILIES as FAMILIES  # re-exported: the families and their sizes live in config
from quantlab.config import check_size as check_size
from quantlab.config import max_cnn_depth as max_cnn_depth
from quantlab.nn.conv import ConvReluPool
from quantlab.nn.shapes import layer_dims as layer_dims  # re-exported: the layer arithmetic, without JAX
from quantlab.nn.shapes import network_cost as network_cost
from quantlab.nn.dense import Dense
from quantlab.numerics.signals import Signals, hidden_signal

LAYER_IMPLS = ("fused", "lax")
ENV_LAYERS = "QUANTLAB_LAYERS"  # forces an implementation on every platform (benchmarks, tests)


def layer_impl(platform: str | None = None) -> str:
    """The layer implementation for ``platform`` (default: JAX's default backend): ``"fused"``
    (:mod:`quantlab.nn.conv`, :mod:`quantlab.nn.dense`) on ``"cpu"``, ``"lax"`` (``nn.Conv``,
    ``nn.Dense``) elsewhere. ``$QUANTLAB_LAYERS`` (``fused`` | ``lax``) overrides the choice."""
    forced = os.environ.get(ENV_LAYERS, "").strip()
    if forced:
        if forced not in LAYER_IMPLS:
            raise ValueError(f"${ENV_LAYERS} must be one of {', '.join(LAYER_IMPLS)}; got {forced!r}")
        return forced
    if platform is None:
        platform = jax.default_backend()
    return "fused" if platform == "cpu" else "lax"


def _dense(impl: str, features: int, name: str | None = None) -> nn.Module:
    if impl == "fused":
        return Dense(features, name=name)
    if impl == "lax":
        return nn.Dense(features, name=name)
    raise ValueError(f"impl must be 'fused' or 'lax'; got {impl!r}")


def _to_float(images: jax.Array) -> jax.Array:
    return images.astype(jnp.float32) / 255.0


def _signal(module: nn.Module, x: jax.Array, signals: Signals | None, layer: int) -> jax.Array:
    """Hidden layer ``layer``'s output as the next layer sees it; sown (float) as ``signal_<layer>``."""
    module.sow("signals", f"signal_{layer}", x)
    return hidden_signal(x, signals, layer)


class FFDNN(nn.Module):
    """Fully connected: input -> ``depth`` hidden ReLU layers of ``width`` units -> logits; with
    ``signals`` (steps ``[depth]``) each hidden layer's output is fixed-point.

    ``impl``: ``"fused"``: the layers are :class:`quantlab.nn.dense.Dense` (``nn.Dense``'s parameters,
    a faster backward pass on CPU); ``"lax"``: ``nn.Dense``; None (default): :func:`layer_impl`.
    """

    width: int
    depth: int
    num_classes: int = 10
    impl: str | None = None

    @nn.compact
    def __call__(self, images: jax.Array, signals: Signals | None = None) -> jax.Array:
        impl = self.impl or layer_impl()
        x = _to_float(images).reshape((images.shape[0], -1))
        for i in range(self.depth):
            x = _signal(self, nn.relu(_dense(impl, self.width, name=f"Dense_{i}")(x)), signals, i)
        return _dense(impl, self.num_classes, name=f"Dense_{self.depth}")(x)


class CNN(nn.Module):
    """Convolutional: per entry of ``features`` a 3x3 SAME conv with that many maps, ReLU and 2x2
    max pooling; then the flattened maps feed a dense softmax layer. With ``signals`` (steps
    ``[len(features)]``) each pooled output is fixed-point.

    ``impl`` picks how a layer is computed; both give the same parameters (``Conv_i/kernel``
    ``[3, 3, C, maps]``, ``Conv_i/bias``, ``Dense_0``, same initialisation) and the same results up
    to float rounding:

    * ``"fused"`` (the default on CPU): :func:`quantlab.nn.conv.conv_relu_pool`, the convolution as
      patches @ kernel with a hand-written backward pass, seeds looped under ``vmap``; 3-20x faster
      on CPU; the dense layer is :class:`quantlab.nn.dense.Dense`.
    * ``"lax"`` (the default elsewhere): ``nn.Conv`` (``lax.conv``) + ``nn.relu`` + ``nn.max_pool``
      and ``nn.Dense``, the plain reference (tests/test_conv.py checks the two against each other;
      bench/ times both).
    * None (default): :func:`layer_impl`.
    """

    features: tuple[int, ...]
    num_classes: int = 10
    impl: str | None = None

    @nn.compact
    def __call__(self, images: jax.Array, signals: Signals | None = None) -> jax.Array:
        impl = self.impl or layer_impl()
        x = _to_float(images)
        for i, maps in enumerate(self.features):
            if impl == "fused":
                x = ConvReluPool(maps, name=f"Conv_{i}")(x)  # the name nn.Conv gets: same params
            elif impl == "lax":
                x = nn.Conv(maps, (3, 3), padding="SAME", name=f"Conv_{i}")(x)
                x = nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2))
            else:
                raise ValueError(f"CNN impl must be 'fused' or 'lax'; got {impl!r}")
            x = _signal(self, x, signals, i)
        return _dense(impl, self.num_classes, name="Dense_0")(x.reshape((x.shape[0], -1)))


def make_model(family: str, size: Sequence[int], num_classes: int = 10, impl: str | None = None) -> nn.Module:
    """The module for ``family`` ("ffdnn" | "cnn") at ``size`` (see :func:`check_size`), with the
    layer implementation ``impl`` (default: :func:`layer_impl` of this process's JAX backend)."""
    size = check_size(family, size)
    impl = impl or layer_impl()
    if impl not in LAYER_IMPLS:
        raise ValueError(f"impl must be one of {', '.join(LAYER_IMPLS)}; got {impl!r}")
    if family == "ffdnn":
        return FFDNN(width=size[0], depth=size[1], num_classes=num_classes, impl=impl)
    return CNN(features=size, num_classes=num_classes, impl=impl)


def init_params(model: nn.Module, key: jax.Array, image_shape: Sequence[int]) -> Any:
    """Initial parameters for images of shape ``(H, W, C)``."""
    return model.init(key, jnp.zeros((1, *image_shape), jnp.uint8))["params"]


def quantized_mask(params: Any) -> Any:
    """Which leaves are quantized: the kernels of Dense and Conv layers (True); biases stay float.

    Every layer of both families is a Flax Dense or Conv whose weight leaf is called ``kernel``.
    """
    return jax.tree_util.tree_map_with_path(
        lambda path, _: getattr(path[-1], "key", None) == "kernel", params
    )


def count_params(params: Any, mask: Any | None = None) -> int:
    """Number of scalars in ``params`` (only the masked leaves when ``mask`` is given)."""
    leaves = jax.tree.leaves(params)
    flags = jax.tree.leaves(mask) if mask is not None else [True] * len(leaves)
    return int(sum(np.size(w) for w, q in zip(leaves, flags) if q))


def param_counts(family: str, size: Sequence[int], image_shape: Sequence[int], num_classes: int = 10) -> dict:
    """Exact counts without allocating: ``{"params": all, "weights": quantized kernels}``."""
    model = make_model(family, size, num_classes)
    shapes = jax.eval_shape(lambda: init_params(model, jax.random.key(0), image_shape))
    return {"params": count_params(shapes), "weights": count_params(shapes, quantized_mask(shapes))}
