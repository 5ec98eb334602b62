"""The layer arithmetic of both families: every layer's dimensions, parameters, quantized weights,
multiply-accumulates and signals, from the family, the size and the image shape. Standard library
only, so that planning a sweep (:func:`quantlab.experiments.sweep.plan`) needs no JAX;
:mod:`quantlab.nn.models` builds exactly these layers (tests/test_models_train.py compares the counts).
"""

from __future__ import annotations

from collections.abc import Sequence

from quantlab.config import check_size


def layer_dims(family: str, size: Sequence[int], image_shape: Sequence[int], num_classes: int = 10) -> list[dict]:
    """The layers of a network, in order, as the modules above build them: per layer ``kind``
    (``"dense"`` | ``"conv"``), ``inputs`` and ``outputs`` (units or maps), ``positions`` (output
    pixels a conv kernel is applied at: H x W of its SAME input; 1 for dense), ``kernel`` (weights:
    ``inputs x outputs``, times 9 for a 3x3 conv) and ``bias`` (``outputs``)."""
    size = check_size(family, size)
    h, w, c = (int(d) for d in image_shape)
    layers = []
    if family == "ffdnn":
        width, depth = size
        dims = [h * w * c] + [width] * depth + [num_classes]
        for a, b in zip(dims, dims[1:]):
            layers.append({"kind": "dense", "inputs": a, "outputs": b, "positions": 1, "kernel": a * b, "bias": b})
        return layers
    for maps in size:
        layers.append({"kind": "conv", "inputs": c, "outputs": maps, "positions": h * w, "kernel": 9 * c * maps,
                       "bias": maps})
        c, h, w = maps, h // 2, w // 2
    layers.append({"kind": "dense", "inputs": h * w * c, "outputs": num_classes, "positions": 1,
                   "kernel": h * w * c * num_classes, "bias": num_classes})
    return layers


def network_cost(family: str, size: Sequence[int], image_shape: Sequence[int], num_classes: int = 10) -> dict:
    """``{"params", "weights", "macs", "signals"}`` of a network from :func:`layer_dims`: all
    parameters, the quantized ones (kernels), multiply-accumulates per example of the forward pass
    (``params`` and ``weights`` equal :func:`param_counts`, without building the model) and the hidden
    signals per example: the values every hidden layer passes to the next (a CNN's after pooling),
    which fixed-point signals quantize (the input pixels are not among them)."""
    layers = layer_dims(family, size, image_shape, num_classes)
    weights = sum(layer["kernel"] for layer in layers)
    return {"params": weights + sum(layer["bias"] for layer in layers), "weights": weights,
            "macs": sum(layer["kernel"] * layer["positions"] for layer in layers),
            "signals": sum(layer["inputs"] * layer["positions"] for layer in layers[1:])}


__all__ = ["layer_dims", "network_cost"]
