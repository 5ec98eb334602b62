"""Numerics (layer 2): the uniform quantizer and its optimal steps (:mod:`.quantize`), weight memory
and the effective compression ratio (:mod:`.compression`). Pure functions of arrays and numbers."""
