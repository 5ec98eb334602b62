"""A fixed-point network as an ONNX graph of integer operators, run by ONNX Runtime.

The graph computes the ``"integer"`` variant of :mod:`quantlab.nn.integer` with standard operators
(opset :data:`OPSET`), so that a deployment engine runs the network the book measured:

* ``images`` uint8 ``[N, H, W, C]`` in; an FFDNN flattens them, a CNN transposes them to NCHW;
* per layer ``MatMulInteger`` (dense) or ``ConvInteger`` (3x3, pads 1) of the uint8 codes and the
  int8 weight codes (initializers; a conv kernel as ``[D, C, 3, 3]``) -> int32 accumulators;
  ``Mul`` by ``2**guard`` and ``Add`` of the int32 bias;
* a hidden layer: ``Max`` with 0 (ReLU), ``Cast`` to int64, ``Mul`` by the multiplier ``m``, ``Add``
  of ``2**(shift - 1)``, ``Div`` by ``2**shift`` (exact: the 62-bit product fits int64, and on
  values >= 0 the division's truncation is the floor), ``Min`` with the top code, ``Cast`` to uint8;
  a CNN then ``MaxPool`` 2x2 (on the codes: pooling and requantization commute);
* ``logits`` int32 ``[N, classes]`` out: the output layer's accumulators, as in the JAX variant.

The integer-only variant needs fixed-point signals; a network with float signals is refused.
ONNX and ONNX Runtime come with the ``deploy`` extra (in requirements.lock).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from quantlab import fileio
from quantlab.nn.integer import BATCH, FixedPointNetwork, integer_layers

OPSET = 17


def to_model(net: FixedPointNetwork, image_shape: tuple[int, int, int], meta: dict | None = None) -> Any:
    """The ``onnx.ModelProto`` of ``net`` on uint8 images of ``image_shape`` ``(H, W, C)`` (checked
    with ``onnx.checker``); ``meta`` goes into the model's metadata properties (as strings)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op, inputs, **attrs):
        out = f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    conv = net.codes[0].ndim == 4
    x = node("Transpose", ["images"], perm=[0, 3, 1, 2]) if conv else node("Flatten", ["images"], axis=1)
    layers = integer_layers(net)
    for i, (k, q) in enumerate(zip(net.codes, layers)):
        if k.ndim == 4:
            acc = node("ConvInteger", [x, const(f"layer{i}.codes", k.transpose(3, 2, 0, 1))], pads=[1, 1, 1, 1])
            bias = q.bias.reshape(-1, 1, 1)
        else:
            if conv:  # leaving the conv layers: NCHW -> NHWC, then flatten as the JAX model does
                conv = False
                x = node("Flatten", [node("Transpose", [x], perm=[0, 2, 3, 1])], axis=1)
            acc = node("MatMulInteger", [x, const(f"layer{i}.codes", k)])
            bias = q.bias
        y = node("Add", [node("Mul", [acc, const(f"layer{i}.scale", np.int32(1 << q.guard))]),
                         const(f"layer{i}.bias", bias)])
        if i == len(layers) - 1:
            nodes[-1].output[0] = "logits"
            break
        r = node("Cast", [node("Max", [y, const(f"layer{i}.zero", np.int32(0))])], to=TensorProto.INT64)
        r = node("Add", [node("Mul", [r, const(f"layer{i}.m", np.int64(q.m))]),
                         const(f"layer{i}.half", np.int64(1 << (q.shift - 1)))])
        r = node("Min", [node("Div", [r, const(f"layer{i}.divisor", np.int64(1 << q.shift))]),
                         const(f"layer{i}.top", np.int64(q.top))])
        x = node("Cast", [r], to=TensorProto.UINT8)
        if k.ndim == 4:
            x = node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    graph = helper.make_graph(
        nodes, "quantlab_fixed_point",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["N", *image_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.INT32, ["N", int(net.codes[-1].shape[-1])])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="quantlab")
    helper.set_model_props(model, {k: str(v) for k, v in (meta or {}).items()})
    onnx.checker.check_model(model)
    return model


def save(path: str | os.PathLike, net: FixedPointNetwork, image_shape: tuple[int, int, int],
         meta: dict | None = None) -> Path:
    """Writes :func:`to_model` to ``path`` atomically; the path."""
    return fileio.write_atomic(path, to_model(net, image_shape, meta).SerializeToString())


def session(model: Any) -> Any:
    """An ONNX Runtime CPU session of ``model`` (a ModelProto, its bytes or a file path)."""
    import onnxruntime

    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    elif not isinstance(model, bytes):
        model = Path(model).read_bytes()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def run(model: Any, images: Any, batch: int = BATCH) -> np.ndarray:
    """int32 logits ``[N, classes]`` of uint8 ``images`` ``[N, H, W, C]`` under ONNX Runtime
    (``model`` as for :func:`session`), ``batch`` images per call."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 [N, H, W, C]; got {images.dtype} {images.shape}")
    s = session(model)
    return np.concatenate([s.run(["logits"], {"images": images[i:i + batch]})[0]
                           for i in range(0, len(images), batch)])


__all__ = ["OPSET", "run", "save", "session", "to_model"]
