"""Integer inference (quantlab.nn.integer): the exact 32-bit multiply-shift, the requantizer, and on the
whole Fashion-MNIST test set the agreement of both integer forward passes with the simulated
(fake-quantized) network the book measures, FFDNN and CNN, ternary and 3-bit weights, float and
3/4/8-bit signals."""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from quantlab import data
from quantlab.nn import integer
from quantlab.numerics import signals as sg

import networks

MAX_DIFFERING = 0.0005
"""The integer-only variant may differ from the simulated network on this fraction of test images."""


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.integers(2 ** 30, 2 ** 31 - 1), st.integers(1, 63))
@example(2 ** 31 - 1, 2 ** 31 - 1, 31)  # the largest product, the shift that splits it between the words
@example(3, 2 ** 30, 31)  # 1.5: rounds half up
def test_multiply_shift_is_exact(acc, m, shift):
    expected = (acc * m + (1 << (shift - 1))) >> shift
    if expected >= 2 ** 32:
        return  # the caller clips the accumulator so that the code fits 32 bits
    got = int(integer.multiply_shift(jnp.asarray([acc], jnp.int32), m, shift)[0])
    assert got == expected


@settings(max_examples=200, deadline=None)
@given(st.floats(2.0 ** -31, 2.0 ** 28))
def test_requantizer_is_the_nearest_31_bit_multiplier(x):
    m, shift = integer.requantizer(x)
    assert 2 ** 30 <= m < 2 ** 31 and 1 <= shift <= 63
    assert abs(m * 2.0 ** -shift - x) <= x * 2.0 ** -31


def test_bad_input_names_the_valid_values():
    net = integer.FixedPointNetwork("ffdnn", (np.zeros((4, 2), np.int8),), np.ones(1, np.float32),
                                    (np.zeros(2, np.float32),), 2)
    with pytest.raises(ValueError, match="variant must be one of rescaled, integer"):
        integer.predict(net, np.zeros((1, 2, 2, 1), np.uint8), "int8")
    with pytest.raises(ValueError, match="needs fixed-point signals"):
        integer.predict(net, np.zeros((1, 2, 2, 1), np.uint8), "integer")
    with pytest.raises(ValueError, match="within -1..1"):
        integer.FixedPointNetwork("ffdnn", (np.full((4, 2), 3, np.int8),), np.ones(1, np.float32),
                                  (np.zeros(2, np.float32),), 2)
    with pytest.raises(ValueError, match="not 2-bit codes times its step"):
        integer.fixed_point("ffdnn", {"Dense_0": {"kernel": np.full((4, 2), 0.3, np.float32),
                                                  "bias": np.zeros(2, np.float32)}}, {"Dense_0": 0.2}, 2)


# ---- the whole test set, real networks ------------------------------------------------------------

def _simulated(model, quantized, signals, images):
    """Logits and each hidden layer's pre-quantization signals of the fake-quantized network."""
    logits, state = model.apply({"params": quantized}, jnp.asarray(images), signals, mutable=["signals"])
    sown = state["signals"]
    return np.asarray(logits), [np.asarray(sown[f"signal_{i}"][0]) for i in range(len(sown))]


@pytest.mark.slow
@pytest.mark.parametrize("family", ["ffdnn", "cnn"])
@pytest.mark.parametrize("bits", [2, 3])
@pytest.mark.parametrize("signal_bits", [None, 3, 4, 8])
def test_integer_inference_computes_the_simulated_network(family, bits, signal_bits):
    images, labels = data.load("fashion_mnist", "test")
    model, quantized, signals, net = networks.quantized(family, bits, signal_bits)
    logits, sown = _simulated(model, quantized, signals, images)
    simulated = logits.argmax(-1)

    rescaled, codes = integer.run(net, images, "rescaled")
    np.testing.assert_array_equal(rescaled.argmax(-1), simulated)
    if signal_bits is None:
        return
    integer_logits, integer_codes = integer.run(net, images, "integer")
    assert integer_logits.dtype == np.int32
    predicted = integer_logits.argmax(-1)
    assert np.mean(predicted != simulated) <= MAX_DIFFERING
    assert abs(np.mean(predicted != labels) - np.mean(simulated != labels)) <= MAX_DIFFERING
    # every code either variant computes otherwise than the simulated network, in the first layer
    # where that image's codes differ (its inputs there are the same), was a rounding tie there: the
    # signal lies within 1e-4 of a step of the boundary between two codes
    simulated_codes = [sg.signal_codes(x, signals.steps[i], signal_bits).astype(np.uint8) for i, x in enumerate(sown)]
    for variant, computed in (("rescaled", codes), ("integer", integer_codes)):
        same_so_far = np.ones(len(images), bool)
        for layer, (x, a, b) in enumerate(zip(sown, simulated_codes, computed)):
            assert b.dtype == np.uint8
            differs = (a != b) & same_so_far.reshape(-1, *[1] * (a.ndim - 1))
            ratio = (x / np.asarray(signals.steps[layer]))[differs]
            assert np.all(np.abs(ratio - np.floor(ratio) - 0.5) < 1e-4), f"{variant}, layer {layer}: off a tie"
            same_so_far &= (a == b).reshape(len(images), -1).all(axis=1)
