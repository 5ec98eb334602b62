"""Models (exact parameter counts, shapes) and the training loop (determinism, divergence)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quantlab.nn import models
from quantlab.training import train
from quantlab.training.experiment import TrialConfig
from quantlab.vocabulary import STEP_POLICIES


def ffdnn_count(inputs, width, depth, classes=10):
    sizes = [inputs] + [width] * depth + [classes]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


@pytest.mark.parametrize("width, depth", [(1, 1), (16, 3), (1024, 3)])
def test_ffdnn_parameter_count_is_exact(width, depth):
    counts = models.param_counts("ffdnn", (width, depth), (28, 28, 1))
    assert counts["params"] == ffdnn_count(784, width, depth)
    assert counts["params"] - counts["weights"] == width * depth + 10  # biases stay float


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_cnn_counts_and_logits_for_both_input_shapes(shape):
    features = (4, 4, 8)
    counts = models.param_counts("cnn", features, shape)
    convs, channels = 0, shape[2]
    for maps in features:
        convs += 9 * channels * maps + maps
        channels = maps
    side = shape[0]
    for _ in features:
        side //= 2
    assert counts["params"] == convs + side * side * channels * 10 + 10
    model = models.make_model("cnn", features)
    params = models.init_params(model, jax.random.key(0), shape)
    assert model.apply({"params": params}, jnp.zeros((2, *shape), jnp.uint8)).shape == (2, 10)


def test_quantized_mask_marks_kernels_only():
    params = models.init_params(models.make_model("cnn", (2, 4)), jax.random.key(0), (28, 28, 1))
    mask = models.quantized_mask(params)
    flat = jax.tree_util.tree_flatten_with_path(mask)[0]
    assert {path[-1].key: flag for path, flag in flat} == {"kernel": True, "bias": False}
    assert sum(jax.tree.leaves(mask)) == 3


@pytest.mark.parametrize(
    "family, size, message",
    [("mlp", (8, 1), "family must be one of"), ("ffdnn", (8,), "width >= 1, depth >= 1"),
     ("ffdnn", (-8, 2), "width >= 1"), ("cnn", (0, 4), "feature-map counts >= 1")],
)
def test_bad_sizes_raise(family, size, message):
    with pytest.raises(ValueError, match=message):
        models.check_size(family, size)


@pytest.mark.parametrize(
    "field, value", [("optimizer", "adagrad"), ("schedule", "step"), ("learning_rate", -1.0),
                     ("batch_size", 0), ("epochs", 2.5)]
)
def test_bad_train_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        train.TrainConfig(**{field: value})


def test_bad_trial_config_raises():
    with pytest.raises(ValueError, match="dataset must be one of"):
        TrialConfig(dataset="imagenet")
    with pytest.raises(ValueError, match="bits must be an integer >= 2"):
        TrialConfig(bits=(1,))
    with pytest.raises(ValueError, match=r"quantizer must be one of \('l2', 'absmax', 'twn', 'ttq'\); got 'xnor'"):
        TrialConfig(quantizer="xnor")
    with pytest.raises(ValueError, match="quantizer 'twn' is a ternary rule: bits must be 2; got 3"):
        TrialConfig(quantizer="twn", bits=(2, 3))
    with pytest.raises(ValueError, match="step_policy must be one of"):
        TrialConfig(step_policy="exact")


def synthetic(n=600, seed=0):
    """Synthetic, learnable data for loop mechanics only: noise with the label's quadrant brightened."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.integers(0, 128, (n, 2, 4, 2, 4), dtype=np.uint8)
    x[np.arange(n), y // 2, :, y % 2, :] += 100
    return jnp.asarray(x.reshape(n, 8, 8, 1)), jnp.asarray(y, jnp.int32)


def fit_ffdnn(seeds, config=train.TrainConfig(epochs=3, batch_size=50), quant_bits=None, policy="fixed", rule="l2"):
    model = models.make_model("ffdnn", (32, 1), num_classes=4)
    keys = jnp.stack([jax.random.key(s) for s in seeds])
    params = jax.vmap(lambda k: models.init_params(model, k, (8, 8, 1)))(keys)
    data = synthetic()
    quant = steps = None
    if quant_bits:
        quant = train.Quant(quant_bits, models.quantized_mask(jax.tree.map(lambda a: a[0], params)), policy, rule)
        steps = train.seed_steps(params, quant)
    return train.fit(model, params, data, synthetic(200, 1), config, keys, quant, steps)


def test_bit_widths_of_the_l2_rule_share_one_epoch_program():
    """One compiled epoch per model, budget, split size and quantization, reused within the process: the
    l2 rule's bit widths share it (traced), absmax's do not (it divides by the top level), nor do budgets
    (their numbers are constants XLA folds into the arithmetic)."""
    model = models.make_model("ffdnn", (8, 1))
    mask = models.quantized_mask(models.init_params(model, jax.random.key(0), (28, 28, 1)))
    a, b = train.TrainConfig(learning_rate=1e-3, epochs=10), train.TrainConfig(learning_rate=2e-4, epochs=4)
    assert train.make_epoch(model, a, 600, None) is train.make_epoch(models.make_model("ffdnn", (8, 1)), a, 600, None)
    assert train.make_epoch(model, a, 600, None) is not train.make_epoch(model, b, 600, None)
    assert train.make_epoch(model, a, 600, None) is not train.make_epoch(model, a, 700, None)
    l2 = [train.make_epoch(model, b, 600, train.Quant(bits, mask)) for bits in (2, 3)]
    absmax = [train.make_epoch(model, b, 600, train.Quant(bits, mask, rule="absmax")) for bits in (2, 3)]
    assert l2[0] is l2[1] and absmax[0] is not absmax[1]


def test_training_is_deterministic_and_seeds_trained_together_match_seeds_trained_alone():
    """Same seeds, same bits. A seed trained alone matches it trained beside others only up to
    rounding: XLA compiles another program for another number of seeds (fusion and layout choices
    differ; measured differences ~1e-8 here). A mix-up between the seed axes would be far larger."""
    together = fit_ffdnn([3, 4])
    again = fit_ffdnn([3, 4])
    alone = fit_ffdnn([4])
    for a, b, c in zip(jax.tree.leaves(together.params), jax.tree.leaves(again.params), jax.tree.leaves(alone.params)):
        assert np.array_equal(a, b)
        np.testing.assert_allclose(a[1], c[0], rtol=0, atol=1e-5)
        assert not np.allclose(a[0], c[0], rtol=0, atol=1e-3)  # the other seed really is another network
    assert together.history == again.history
    assert together.val_error[0] < 0.5  # learns (chance is 0.75)


def test_retraining_keeps_quantized_model_and_its_steps():
    result = fit_ffdnn([0], quant_bits=2)
    assert result.steps is not None
    quant = train.Quant(2, models.quantized_mask(jax.tree.map(lambda a: a[0], result.params)))
    qparams = train.seed_quantize(result.params, result.steps, quant)
    kernel = np.asarray(qparams["Dense_0"]["kernel"][0])
    assert len(np.unique(kernel)) <= 3
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert 1 <= result.best_epoch[0] <= 3  # no start_error: epoch 0 does not compete


@pytest.mark.parametrize("rule", ["l2", "absmax", "twn", "ttq"])
@pytest.mark.parametrize("policy", STEP_POLICIES)
def test_retraining_evaluates_the_network_it_trained(policy, rule):
    """The recorded validation error of the selected epoch is that of Q(w) rebuilt from the returned
    shadow weights and quantizer parameters, for every rule; fixed parameters never move (but TTQ's
    learned levels do), adaptive l2 steps stay near the optimum."""
    model = models.make_model("ffdnn", (32, 1), num_classes=4)
    result = fit_ffdnn([0, 1], quant_bits=2, policy=policy, rule=rule)
    quant = train.Quant(2, models.quantized_mask(jax.tree.map(lambda a: a[0], result.params)), policy, rule)
    rebuilt = train.error_rate(model, train.seed_quantize(result.params, result.steps, quant), *synthetic(200, 1))
    np.testing.assert_array_equal(rebuilt, result.val_error)
    keys = jnp.stack([jax.random.key(s) for s in (0, 1)])
    start = train.seed_steps(jax.vmap(lambda k: models.init_params(model, k, (8, 8, 1)))(keys), quant)
    pairs = [(np.asarray(a), np.asarray(b)) for a, b in zip(jax.tree.leaves(result.steps), jax.tree.leaves(start))]
    if policy == "adaptive" and rule == "l2":
        assert all(0 <= e < 1e-3 for h in result.history for e in h["step_excess"])
    elif policy == "fixed" and rule == "ttq":
        assert all(np.array_equal(a[..., 0], b[..., 0]) for a, b in pairs if a.ndim == 2)  # threshold fixed
        assert any(not np.array_equal(a[..., 1:], b[..., 1:]) for a, b in pairs if a.ndim == 2)  # levels learned
    elif policy == "fixed":
        for a, b in pairs:
            np.testing.assert_array_equal(a, b)
    if rule in ("twn", "ttq"):
        assert {np.asarray(a).shape for a, q in zip(jax.tree.leaves(result.steps), jax.tree.leaves(quant.mask))
                if q} == {(2, 3)}


def test_history_pairs_each_validation_error_with_the_same_networks_training_loss():
    """``train_loss`` and ``train_error`` belong to the end-of-epoch network whose validation error is recorded (here
    the last epoch's, selected because the error fell); ``epoch_loss`` averages the epoch's minibatches."""
    model = models.make_model("ffdnn", (32, 1), num_classes=4)
    result = fit_ffdnn([0], config=train.TrainConfig(epochs=1, batch_size=50), quant_bits=2)
    quant = train.Quant(2, models.quantized_mask(jax.tree.map(lambda a: a[0], result.params)))
    images, labels = synthetic()
    error, loss = train.evaluate(model, train.seed_quantize(result.params, result.steps, quant), images, labels)
    (h,) = result.history
    np.testing.assert_allclose(h["train_loss"], loss, rtol=1e-6)
    np.testing.assert_array_equal(h["train_error"], error)
    np.testing.assert_array_equal(h["val_error"], result.val_error)
    assert h["epoch_loss"] != h["train_loss"]


def test_error_rate_handles_a_partial_last_chunk():
    model = models.make_model("ffdnn", (4, 1), num_classes=4)
    params = jax.vmap(lambda k: models.init_params(model, k, (8, 8, 1)))(jnp.stack([jax.random.key(0)]))
    x, y = synthetic(250)
    logits = model.apply({"params": jax.tree.map(lambda a: a[0], params)}, x)
    expected = float(np.mean(np.argmax(logits, -1) != np.asarray(y)))
    assert train.error_rate(model, params, x, y, chunk=100)[0] == pytest.approx(expected)


def test_default_configs_differ_by_stage():
    assert train.default_config("ffdnn", "retrain").learning_rate < train.default_config("ffdnn", "float").learning_rate
    with pytest.raises(ValueError, match="stage must be one of"):
        train.default_config("ffdnn", "finetune")
    assert dataclasses.asdict(TrialConfig().float_train) == dataclasses.asdict(train.default_config("ffdnn", "float"))
