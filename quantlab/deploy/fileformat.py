"""A fixed-point network as a safetensors file: packed weight codes, steps, biases and metadata.

safetensors (a JSON header, then raw little-endian arrays) opens in NumPy, PyTorch, JAX and Rust
without running code. A file of :func:`save` holds, for ``layers`` layers:

* ``layer<i>.codes``: uint8, layer ``i``'s weight codes packed (:mod:`quantlab.numerics.packing`:
  ``bits`` bits a weight, or five ternary weights a byte with ``packing = "base3"``); the kernel's
  shape is in the metadata (``shapes``);
* ``layer<i>.bias``: float32 ``[out]``;
* ``weight_steps``: float32 ``[layers]``; ``signal_steps``: float32 ``[layers - 1]`` (fixed-point
  signals only).

The header's metadata (strings, :data:`FORMAT` and ``format_version`` first) names the family, the
bits, the signal bits, the packing, the kernel shapes and whatever the exporter adds (the record's
key, size, seed, quantizer rule, quantlab version). :func:`load` returns the
:class:`~quantlab.nn.integer.FixedPointNetwork` that was saved, bit for bit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load as _load_bytes
from safetensors.numpy import save as _save_bytes

from quantlab import fileio
from quantlab.nn.integer import FixedPointNetwork
from quantlab.numerics import packing

FORMAT = "quantlab-fixed-point"
FORMAT_VERSION = 1
_OWN = ("format", "format_version", "family", "bits", "signal_bits", "packing", "shapes")


def to_bytes(net: FixedPointNetwork, meta: dict | None = None, packing_name: str = "bits") -> bytes:
    """The safetensors file of ``net`` (see the module docstring) as bytes; ``meta``: further
    metadata (values become strings; JSON for anything but a string)."""
    packing.check_packing(packing_name, net.bits)
    tensors = {"weight_steps": np.asarray(net.weight_steps, np.float32)}
    for i, (k, b) in enumerate(zip(net.codes, net.biases)):
        tensors[f"layer{i}.codes"] = packing.pack(k, net.bits, packing_name)
        tensors[f"layer{i}.bias"] = np.asarray(b, np.float32)
    if net.signal_steps is not None:
        tensors["signal_steps"] = np.asarray(net.signal_steps, np.float32)
    own = {"format": FORMAT, "format_version": FORMAT_VERSION, "family": net.family, "bits": net.bits,
           "signal_bits": net.signal_bits, "packing": packing_name, "shapes": [list(k.shape) for k in net.codes]}
    clash = sorted(set(meta or {}) & set(_OWN))
    if clash:
        raise ValueError(f"metadata keys {clash} are the format's own; use other names")
    text = {k: v if isinstance(v, str) else json.dumps(v) for k, v in {**own, **(meta or {})}.items()}
    return _save_bytes(tensors, metadata=text)


def save(path: str | os.PathLike, net: FixedPointNetwork, meta: dict | None = None,
         packing_name: str = "bits") -> Path:
    """Writes :func:`to_bytes` to ``path`` atomically (a reader never sees part of a file); the path."""
    return fileio.write_atomic(path, to_bytes(net, meta, packing_name))


def from_bytes(content: bytes) -> tuple[FixedPointNetwork, dict]:
    """The network and the metadata (JSON values decoded) of a :func:`to_bytes` file."""
    header_size = int.from_bytes(content[:8], "little")
    meta = json.loads(content[8:8 + header_size]).get("__metadata__", {})
    if meta.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file (its metadata has format {meta.get('format')!r})")
    meta = {k: v if k == "format" else _decoded(v) for k, v in meta.items()}
    if meta["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{FORMAT} version {meta['format_version']} is not the version {FORMAT_VERSION} "
                         "this quantlab reads")
    tensors = _load_bytes(content)
    shapes = [tuple(s) for s in meta["shapes"]]
    codes = tuple(packing.unpack(tensors[f"layer{i}.codes"], meta["bits"], shape, meta["packing"])
                  for i, shape in enumerate(shapes))
    net = FixedPointNetwork(meta["family"], codes, tensors["weight_steps"],
                            tuple(tensors[f"layer{i}.bias"] for i in range(len(shapes))), meta["bits"],
                            tensors.get("signal_steps"), meta["signal_bits"])
    return net, meta


def load(path: str | os.PathLike) -> tuple[FixedPointNetwork, dict]:
    """The network and metadata of a file :func:`save` wrote."""
    return from_bytes(Path(path).read_bytes())


def float_bytes(params: Any, meta: dict | None = None) -> bytes:
    """The float32 network ``params`` (one seed's ``{layer: {"kernel", "bias"}}``) as a safetensors
    file (``<layer>.kernel``, ``<layer>.bias``): the baseline a packed file is compared with."""
    tensors = {f"{name}.{leaf}": np.asarray(value, np.float32) for name, layer in params.items()
               for leaf, value in layer.items()}
    return _save_bytes(tensors, metadata={k: str(v) for k, v in (meta or {}).items()})


def _decoded(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


__all__ = ["FORMAT", "FORMAT_VERSION", "float_bytes", "from_bytes", "load", "save", "to_bytes"]
