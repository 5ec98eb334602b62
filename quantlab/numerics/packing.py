"""Weight codes packed into bytes: the memory a quantized network really needs.

A ``b``-bit weight is an integer code ``k`` with ``|k| <= L = 2**(b - 1) - 1``
(:func:`quantlab.numerics.quantize.max_level`); its ``2 L + 1 = 2**b - 1`` values fit in ``b`` bits.
Two packings, both vectorised NumPy, for arrays of any shape (flattened in C order; the caller keeps
the shape) and exact inverses of each other:

* :func:`pack_bits`: every code as the ``b``-bit unsigned field ``k + L``, fields laid end to end
  from the lowest bit of the first byte on (``b = 2``: four ternary weights per byte), the last byte
  padded with zero bits: ``ceil(n b / 8)`` bytes for ``n`` codes.
* :func:`pack_base3`: ternary codes only, five per byte as the base-3 number
  ``sum_i (k_i + 1) 3**i`` (at most ``3**5 - 1 = 242``): ``ceil(n / 5)`` bytes, 1.6 bits a weight,
  within 1 % of the ``log2(3) = 1.585`` bits a ternary weight carries.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quantlab.numerics import quantize as qz
from quantlab.vocabulary import PACKINGS

BASE3_DIGITS = 5
"""Ternary codes per byte in :func:`pack_base3` (``3**5 = 243 <= 256``)."""


def _check_codes(codes: Any, level: int) -> np.ndarray:
    codes = np.asarray(codes)
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"codes must be an integer array; got dtype {codes.dtype}")
    largest = int(np.abs(codes.astype(np.int64)).max(initial=0))
    if largest > level:
        raise ValueError(f"codes must lie in -{level}..{level}; got a code of magnitude {largest}")
    return codes.ravel().astype(np.int16)


def packed_bytes(count: int, bits: int, packing: str = "bits") -> int:
    """Bytes that ``count`` codes of ``bits`` bits take in ``packing`` (:data:`PACKINGS`)."""
    check_packing(packing, bits)
    if packing == "base3":
        return -(-count // BASE3_DIGITS)
    return -(-count * bits // 8)


def check_packing(packing: Any, bits: int) -> str:
    """``packing`` if it is one of :data:`PACKINGS` and can hold ``bits``-bit codes, else ValueError."""
    if packing not in PACKINGS:
        raise ValueError(f"packing must be one of {', '.join(PACKINGS)}; got {packing!r}")
    if packing == "base3" and qz.check_bits(bits) != 2:
        raise ValueError(f"packing 'base3' holds ternary codes only (bits 2); got bits {bits}")
    return packing


def pack_bits(codes: Any, bits: int) -> np.ndarray:
    """``codes`` (integers, any shape, ``|k| <= L``) -> uint8 ``[ceil(n bits / 8)]``: each code as
    the ``bits``-bit field ``k + L``, least significant bit first."""
    level = qz.max_level(bits)
    fields = _check_codes(codes, level) + level
    bit_matrix = (fields[:, None] >> np.arange(bits)) & 1
    return np.packbits(bit_matrix.astype(np.uint8).ravel(), bitorder="little")


def unpack_bits(data: Any, bits: int, count: int) -> np.ndarray:
    """The first ``count`` codes of :func:`pack_bits`' bytes ``data``, as int8 ``[count]``."""
    level = qz.max_level(bits)
    data = np.asarray(data, np.uint8).ravel()
    if data.size < packed_bytes(count, bits):
        raise ValueError(f"{count} codes of {bits} bits need {packed_bytes(count, bits)} bytes; got {data.size}")
    bit_matrix = np.unpackbits(data, count=count * bits, bitorder="little").reshape(count, bits)
    return (bit_matrix.astype(np.int16) @ (1 << np.arange(bits, dtype=np.int16)) - level).astype(np.int8)


def pack_base3(codes: Any) -> np.ndarray:
    """Ternary ``codes`` (-1, 0, 1; any shape) -> uint8 ``[ceil(n / 5)]``, five codes a byte as
    ``sum_i (k_i + 1) 3**i`` (the last byte's missing digits are 0)."""
    digits = _check_codes(codes, 1) + 1
    digits = np.pad(digits, (0, -digits.size % BASE3_DIGITS)).reshape(-1, BASE3_DIGITS)
    return (digits @ 3 ** np.arange(BASE3_DIGITS, dtype=np.int16)).astype(np.uint8)


def unpack_base3(data: Any, count: int) -> np.ndarray:
    """The first ``count`` codes of :func:`pack_base3`'s bytes ``data``, as int8 ``[count]``."""
    data = np.asarray(data, np.uint8).ravel()
    if data.size < packed_bytes(count, 2, "base3"):
        raise ValueError(f"{count} ternary codes need {packed_bytes(count, 2, 'base3')} bytes; got {data.size}")
    if data.size and int(data.max()) >= 3 ** BASE3_DIGITS:
        raise ValueError(f"a base-3 byte is at most {3 ** BASE3_DIGITS - 1}; got {int(data.max())}")
    digits = (data[:, None].astype(np.int16) // 3 ** np.arange(BASE3_DIGITS, dtype=np.int16)) % 3
    return (digits.ravel()[:count] - 1).astype(np.int8)


def pack(codes: Any, bits: int, packing: str = "bits") -> np.ndarray:
    """``codes`` packed with ``packing`` (:data:`PACKINGS`): uint8 ``[packed_bytes(n, bits, packing)]``."""
    if check_packing(packing, bits) == "base3":
        return pack_base3(codes)
    return pack_bits(codes, bits)


def unpack(data: Any, bits: int, shape: tuple[int, ...], packing: str = "bits") -> np.ndarray:
    """The inverse of :func:`pack`: int8 codes of ``shape``."""
    count = int(np.prod(shape, dtype=np.int64))
    if check_packing(packing, bits) == "base3":
        return unpack_base3(data, count).reshape(shape)
    return unpack_bits(data, bits, count).reshape(shape)


__all__ = ["BASE3_DIGITS", "PACKINGS", "check_packing", "pack", "pack_base3", "pack_bits", "packed_bytes",
           "unpack", "unpack_base3", "unpack_bits"]
