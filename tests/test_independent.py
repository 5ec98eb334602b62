"""An independent, deliberately plain implementation of the paper's method agrees with quantlab's.

The plain version shares only the data arrays (``quantlab.data.load``) with quantlab: it has its own
initialisation (LeCun normal, as Flax's default), its own Adam with a cosine learning rate, its own
ternary quantizer whose step is the L2-optimum found by a grid search, and straight-through retraining
written out by hand; both select the epoch with the lowest validation error (the directly quantized
network included). On real Fashion-MNIST the two must agree within seed noise: float error, direct
ternary error and retrained ternary error, as means over the same seeds (the seeds themselves give
different initial networks in the two implementations, so only the means can agree).

Measured on a 2-core AMD EPYC (Zen 4), test error means over seeds 0-2 (per-seed spread in brackets):
float: plain 19.89 % (19.6-20.2), quantlab 19.54 % (19.2-20.1); direct ternary: plain 46.6 % (40.8-50.6),
quantlab 43.1 % (38.1-47.3); retrained ternary: plain 22.04 % (21.4-23.2), quantlab 21.24 % (21.1-21.5).
With 3-bit hidden signals on top of the ternary weights (the 2014 design; plain: its own unsigned
step by grid search and its own straight-through signal quantizer), measured on a 2-core Intel Xeon
(Ice Lake): direct: plain 47.26 %, quantlab 45.24 %; retrained: plain 26.95 %, quantlab 25.46 %.
The tolerances below are about three standard errors of the difference of two such means (direct
quantization is by far the noisiest stage).
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quantlab import data
from quantlab.training.experiment import TrialConfig, run_trial
from quantlab.training.train import TrainConfig

pytestmark = pytest.mark.slow

WIDTH, DEPTH, SUBSET, SEEDS = 32, 2, 10_000, (0, 1, 2)
FLOAT, RETRAIN = TrainConfig(epochs=4), TrainConfig(learning_rate=2e-4, epochs=3)
SIGNAL_BITS, CALIBRATION = 3, 256  # the 2014 design's 3-bit signals; quantlab's default calibration set
TOLERANCE = {"float": 0.015, "direct": 0.12, "retrain": 0.02, "signal_direct": 0.12, "signal_retrain": 0.02}
"""Largest allowed difference of the 3-seed mean test errors (fractions), per stage."""


def flat(images):
    return jnp.asarray(images.reshape(len(images), -1), jnp.float32) / 255.0


def signal(x, step):
    """Fixed-point signal: unsigned levels 0..2^b-1 of ``step``; straight through below the top level,
    no gradient above it (the forward pass is flat there)."""
    top = 2 ** SIGNAL_BITS - 1
    q = step * jnp.clip(jnp.round(x / step), 0, top)
    return jnp.where(x <= top * step, x + jax.lax.stop_gradient(q - x), jax.lax.stop_gradient(q))


def hidden(params, x, sig=None):
    """Every hidden layer's output, each quantized by ``sig`` (one step per layer) if given."""
    out = []
    for i, (w, b) in enumerate(params[:-1]):
        x = jax.nn.relu(x @ w + b)
        x = x if sig is None else signal(x, sig[i])
        out.append(x)
    return out


def forward(params, x, sig=None):
    w, b = params[-1]
    return hidden(params, x, sig)[-1] @ w + b


def loss(params, x, y, sig=None):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(forward(params, x, sig)), y[:, None], axis=1))


def error(params, x, y, sig=None):
    return float(jnp.mean(jnp.argmax(forward(params, x, sig), axis=1) != y))


def ternary(w, step):
    return step * jnp.clip(jnp.round(w / step), -1, 1)


def l2_step(w):
    """The ternary step with the least squared error, by a grid search over (0, max |w|]."""
    w = np.abs(np.asarray(w).ravel())
    grid = np.linspace(1e-4, 1.0, 4001) * w.max()
    levels = np.clip(np.round(w[None, :] / grid[:, None]), 0, 1) * grid[:, None]
    return float(grid[np.argmin(((w[None, :] - levels) ** 2).sum(axis=1))])


def signal_step(h):
    """The unsigned step with the least squared error on signals ``h``, by a grid search over (0, max h]."""
    h = np.asarray(h).ravel()
    grid = np.linspace(5e-4, 1.0, 2001) * h.max()
    levels = np.clip(np.round(h[None, :] / grid[:, None]), 0, 2 ** SIGNAL_BITS - 1) * grid[:, None]
    return float(grid[np.argmin(((h[None, :] - levels) ** 2).sum(axis=1))])


def quantized(params, steps):
    return [(ternary(w, s), b) for (w, b), s in zip(params, steps)]


def fit(params, split, budget, seed, steps=None, sig=None):
    """Adam (cosine learning rate) for ``budget.epochs``, selecting the epoch with the lowest
    validation error (epoch 0 included). With ``steps``: straight-through retraining of the ternary
    network (forward pass on the quantized kernels, updates to the float shadow weights); with
    ``sig``: its hidden signals fixed-point too, steps fixed."""
    (x, y), (xv, yv) = split["train"], split["validation"]
    rng = np.random.default_rng(1000 + seed)
    batches = len(x) // budget.batch_size
    total = batches * budget.epochs

    def objective(p, xb, yb):
        if steps is not None:
            p = [(w + jax.lax.stop_gradient(ternary(w, s) - w), b) for (w, b), s in zip(p, steps)]
        return loss(p, xb, yb, sig)

    @jax.jit
    def step(p, m, v, t, xb, yb):
        g = jax.grad(objective)(p, xb, yb)
        rate = budget.learning_rate * 0.5 * (1 + jnp.cos(jnp.pi * t / total))
        m = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
        v = jax.tree.map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
        c1, c2 = 1 - 0.9 ** (t + 1), 1 - 0.999 ** (t + 1)
        p = jax.tree.map(lambda p, m, v: p - rate * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), p, m, v)
        return p, m, v

    view = (lambda p: quantized(p, steps)) if steps is not None else (lambda p: p)
    best = (error(view(params), xv, yv, sig), params)
    m = jax.tree.map(jnp.zeros_like, params)
    v = jax.tree.map(jnp.zeros_like, params)
    t = 0
    for _ in range(budget.epochs):
        order = rng.permutation(len(x))
        for i in range(batches):
            idx = order[i * budget.batch_size:(i + 1) * budget.batch_size]
            params, m, v = step(params, m, v, t, x[idx], y[idx])
            t += 1
        best = min(best, (error(view(params), xv, yv, sig), params), key=lambda e: e[0])
    return view(best[1])


def plain_trial(split, seed):
    """Float, direct ternary and retrained ternary test errors of one seed, the plain way; then the
    same ternary network with :data:`SIGNAL_BITS`-bit hidden signals, each layer's step fitted to the
    float network's signals on the first :data:`CALIBRATION` training examples (``signal_*``)."""
    rng = np.random.default_rng(seed)
    sizes = [split["train"][0].shape[1], *[WIDTH] * DEPTH, 10]
    params = [(jnp.asarray(rng.normal(0, np.sqrt(1 / a), (a, b)), jnp.float32), jnp.zeros(b, jnp.float32))
              for a, b in zip(sizes, sizes[1:])]
    trained = fit(params, split, FLOAT, seed)
    steps = [l2_step(w) for w, _ in trained]
    retrained = fit(trained, split, RETRAIN, seed, steps)
    sig = [signal_step(h) for h in hidden(trained, split["train"][0][:CALIBRATION])]
    with_signals = fit(trained, split, RETRAIN, seed, steps, sig)
    xt, yt = split["test"]
    return {"float": error(trained, xt, yt), "direct": error(quantized(trained, steps), xt, yt),
            "retrain": error(retrained, xt, yt), "signal_direct": error(quantized(trained, steps), xt, yt, sig),
            "signal_retrain": error(with_signals, xt, yt, sig)}


def test_l2_step_grid_search_agrees_with_quantlab():
    from quantlab.numerics.quantize import optimal_step

    w = np.random.default_rng(0).normal(0, 0.05, (784, 32)).astype(np.float32)
    assert l2_step(w) == pytest.approx(float(optimal_step(jnp.asarray(w), 2)), rel=2e-3)


def test_plain_implementation_agrees_with_quantlab():
    split = {}
    for name in ("train", "validation", "test"):
        images, labels = data.load("fashion_mnist", name)
        n = SUBSET if name == "train" else len(labels)
        split[name] = (flat(images[:n]), jnp.asarray(labels[:n]))
    plain = [plain_trial(split, s) for s in SEEDS]
    config = TrialConfig(size=(WIDTH, DEPTH), bits=(2,), train_subset=SUBSET, float_train=FLOAT, retrain=RETRAIN)
    ours = run_trial(config, list(SEEDS), cache=False)
    with_signals = dataclasses.replace(config, signal_bits=SIGNAL_BITS)
    assert with_signals.signal_calibration == CALIBRATION
    signals = run_trial(with_signals, list(SEEDS), cache=False)
    mean = {
        "plain": {k: np.mean([p[k] for p in plain]) for k in TOLERANCE},
        "quantlab": {"float": np.mean([m["float"]["test_error"] for m in ours]),
                     "direct": np.mean([m["direct"]["2"]["test_error"] for m in ours]),
                     "retrain": np.mean([m["retrain"]["2"]["test_error"] for m in ours]),
                     "signal_direct": np.mean([m["direct"]["2"]["test_error"] for m in signals]),
                     "signal_retrain": np.mean([m["retrain"]["2"]["test_error"] for m in signals])},
    }
    print({impl: {k: round(100 * v, 2) for k, v in means.items()} for impl, means in mean.items()})
    for stage, tolerance in TOLERANCE.items():
        a, b = mean["plain"][stage], mean["quantlab"][stage]
        assert abs(a - b) <= tolerance, f"{stage}: plain {a:.4f}, quantlab {b:.4f} (means over seeds {SEEDS})"
    # and retraining does for both what the paper says: most of the direct loss comes back
    for impl in mean.values():
        assert (impl["retrain"] < impl["direct"]
                and impl["retrain"] - impl["float"] < (impl["direct"] - impl["float"]) / 2)
