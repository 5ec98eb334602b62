"""The words of a trial that every layer shares (standard library only, so that the spec and the
store, which must not import JAX or numpy, use the same ones as the training code and the analysis).

* :data:`METHODS`: what a trial measures for every seed, in book order: the float network, its
  directly quantized versions and its retrained quantized versions;
* :data:`STEP_POLICIES`: how retraining holds the quantization steps (``fixed``: the direct
  quantization's steps; ``adaptive``: one Lloyd iteration after every optimiser step);
* :data:`QUANTIZERS`: the quantizer rules of :mod:`quantlab.numerics.rules` (``l2``, the paper's
  L2-optimal step; ``absmax``; ``twn``; ``ttq``);
* :data:`FLOAT_BITS`: the bits of a float parameter (IEEE single precision), of every bias, and the
  ``bits`` of a float row;
* :func:`signal_label`: how the book names a word length of the hidden signals (``signal_bits``);
  :func:`weight_label` the same for the weights (``bits``).
"""

METHODS = ("float", "direct", "retrain")
STEP_POLICIES = ("fixed", "adaptive")
QUANTIZERS = ("l2", "absmax", "twn", "ttq")
TERNARY_QUANTIZERS = ("twn", "ttq")  # the rules that take 2 bits only
FLOAT_BITS = 32


def signal_label(signal_bits: int | None) -> str:
    """``"float"`` for float hidden signals (``signal_bits`` None), else e.g. ``"3-bit"``."""
    return "float" if signal_bits is None else f"{int(signal_bits)}-bit"


EXPORT_FORMATS = ("safetensors", "onnx")  # the files `python -m quantlab export` writes (quantlab.deploy)
PACKINGS = ("bits", "base3")  # how a file packs weight codes (quantlab.numerics.packing)


WEIGHT_LABEL_FORMS = ("text", "legend", "column")


def weight_label(bits: int, form: str = "text") -> str:
    """The one way the book names a weight word length (:data:`FLOAT_BITS` and more: float), in one of
    three forms: ``"text"`` (sentences and tables: ``float``, ``ternary``, ``3-bit``), ``"legend"`` (chart
    legends, which also say the bits: ``32-bit float``, ``2-bit (ternary)``, ``3-bit``) or ``"column"``
    (a map's bit-width axis: ``32 (float)``, ``2 (ternary)``, ``3``)."""
    if form not in WEIGHT_LABEL_FORMS:
        raise ValueError(f"form must be one of {WEIGHT_LABEL_FORMS}; got {form!r}")
    bits = int(bits)
    kind = "float" if bits >= FLOAT_BITS else "ternary" if bits == 2 else None
    if form == "text":
        return kind or f"{bits}-bit"
    if form == "legend":
        return {"float": f"{bits}-bit float", "ternary": "2-bit (ternary)"}.get(kind, f"{bits}-bit")
    return f"{bits} ({kind})" if kind else f"{bits}"


__all__ = ["EXPORT_FORMATS", "FLOAT_BITS", "METHODS", "PACKINGS", "QUANTIZERS", "STEP_POLICIES", "TERNARY_QUANTIZERS",
           "WEIGHT_LABEL_FORMS", "signal_label", "weight_label"]
