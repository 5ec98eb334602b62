"""Bytes on disk of a network's exported files, beside the bit count the ECR uses.

A file's size depends on the layer shapes, the bits, the packing and the metadata, not on the
weights' values, so it is computed by writing each file (in memory) for a network of zero codes of
the right shapes: what :mod:`quantlab.deploy.export` writes for a trained one, less the exporter's
own metadata (record key, seed, versions: a few hundred bytes). The bit count is
:func:`quantlab.numerics.compression.memory_bits` (weights at ``b`` bits, biases at 32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quantlab import data
from quantlab.deploy import fileformat, onnxgraph
from quantlab.nn import integer, models
from quantlab.numerics import compression

ONNX_SIGNAL_BITS = 8
"""The signal word length of the ONNX graph whose size is reported (the graph needs fixed-point
signals; its size does not depend on their word length)."""


def _network(config: Any, bits: int, signal_bits: int | None = None) -> integer.FixedPointNetwork:
    meta = data.info(config.dataset)
    layers = models.layer_dims(config.family, config.size, meta["image_shape"], meta["num_classes"])
    codes = tuple(np.zeros((3, 3, d["inputs"], d["outputs"]) if d["kind"] == "conv" else (d["inputs"], d["outputs"]),
                           np.int8) for d in layers)
    biases = tuple(np.zeros(d["outputs"], np.float32) for d in layers)
    signal_steps = None if signal_bits is None else np.ones(len(layers) - 1, np.float32)
    return integer.FixedPointNetwork(config.family, codes, np.ones(len(layers), np.float32), biases, bits,
                                     signal_steps, signal_bits)


def file_bytes(config: Any) -> dict:
    """For the network of a trial config: ``params`` and ``weights`` (counts); ``float32`` (bytes of
    the float network's safetensors file); per bit width ``b`` of 2 and 3 ``bits_<b>`` (the ECR's
    count :func:`~quantlab.numerics.compression.memory_bits` in bytes) and ``packed_<b>`` (the
    packed safetensors file); ``base3`` (ternary, 5 weights a byte); ``onnx`` (the integer-only ONNX
    graph of ternary weights: int8 codes, one byte a weight, since ONNX has no 2-bit tensor type)."""
    net = _network(config, 2)
    params = sum(k.size + b.size for k, b in zip(net.codes, net.biases))
    weights = sum(k.size for k in net.codes)
    floats = {f"layer{i}": {"kernel": k.astype(np.float32), "bias": b}
              for i, (k, b) in enumerate(zip(net.codes, net.biases))}
    out = {"params": params, "weights": weights, "float32": len(fileformat.float_bytes(floats))}
    for b in (2, 3):
        out[f"bits_{b}"] = compression.memory_bits(params, weights, b) // 8
        out[f"packed_{b}"] = len(fileformat.to_bytes(_network(config, b)))
    out["base3"] = len(fileformat.to_bytes(net, packing_name="base3"))
    image_shape = tuple(data.info(config.dataset)["image_shape"])
    out["onnx"] = len(onnxgraph.to_model(_network(config, 2, ONNX_SIGNAL_BITS), image_shape).SerializeToString())
    return out


__all__ = ["ONNX_SIGNAL_BITS", "file_bytes"]
