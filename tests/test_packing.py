"""Packed weight codes: pack then unpack is the identity for every level pattern and shape (sizes that
do not fill the last byte included), the byte counts are the stated ones, bad input is refused."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from quantlab.numerics import packing
from quantlab.numerics import quantize as qz

SHAPES = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=9)


@st.composite
def codes_of(draw, bits):
    level = qz.max_level(bits)
    return draw(hnp.arrays(np.int8, draw(SHAPES), elements=st.integers(-level, level)))


@settings(max_examples=200, deadline=None)
@given(st.data(), st.integers(2, qz.MAX_BITS))
def test_bits_round_trip(data, bits):
    codes = data.draw(codes_of(bits))
    packed = packing.pack(codes, bits)
    assert packed.dtype == np.uint8 and packed.size == -(-codes.size * bits // 8)
    np.testing.assert_array_equal(packing.unpack(packed, bits, codes.shape), codes)


@settings(max_examples=200, deadline=None)
@given(codes_of(2))
def test_base3_round_trip(codes):
    packed = packing.pack(codes, 2, "base3")
    assert packed.size == -(-codes.size // 5) and packed.max(initial=0) <= 242
    np.testing.assert_array_equal(packing.unpack(packed, 2, codes.shape, "base3"), codes)


def test_layouts():
    # ternary, 2 bits: fields k + 1, lowest bits first: (-1, 0, 1, 1) -> 0b10_10_01_00
    assert packing.pack_bits([-1, 0, 1, 1], 2).tolist() == [0b10100100]
    # base 3: (k + 1) digits 0, 1, 2, 2, 1 -> 0 + 3 + 18 + 54 + 81
    assert packing.pack_base3([-1, 0, 1, 1, 0]).tolist() == [156]
    # a 1024 x 1024 ternary kernel: 256 KiB in 2 bits, 204.8 KiB in base 3, 4 MiB as float32
    assert packing.packed_bytes(1 << 20, 2) == 1 << 18
    assert packing.packed_bytes(1 << 20, 2, "base3") == 209716


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="codes must lie in -1..1"):
        packing.pack([2], 2)
    with pytest.raises(ValueError, match="integer array"):
        packing.pack(np.zeros(3, np.float32), 3)
    with pytest.raises(ValueError, match="packing must be one of bits, base3"):
        packing.pack([0], 2, "zip")
    with pytest.raises(ValueError, match="ternary codes only"):
        packing.pack([0], 3, "base3")
    with pytest.raises(ValueError, match="need 3 bytes"):
        packing.unpack(np.zeros(2, np.uint8), 3, (8,))
    with pytest.raises(ValueError, match="at most 242"):
        packing.unpack(np.array([250], np.uint8), 2, (5,), "base3")
