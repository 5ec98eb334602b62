"""Float training and quantized retraining, with model selection on the validation split.

Every function trains several seeds of one network at once: parameters carry a leading seed axis
``[S, ...]`` and the per-seed step is ``vmap``-ed, which makes small, overhead-bound networks cheap.
An epoch is one jitted ``lax.scan`` over shuffled mini-batches of data that stays on the device;
the host synchronises once per epoch (to select the best epoch and to catch divergence).

Retraining (``quant`` given) follows the paper: the forward and backward passes use the quantized
weights ``Q(w)`` (straight-through), the optimiser updates the float shadow weights ``w``, which are
re-quantized at every step. The step ``D`` of each layer is the L2-optimal one for the shadow
weights, recomputed exactly at the start of every epoch and held during the epoch; the model that
is evaluated (and selected) is ``Q_D(w)`` with ``D`` optimal for the weights at the end of the epoch.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from quantlab import quantize as qz

OPTIMIZERS = ("adam", "sgd", "momentum")
SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training budget. ``learning_rate`` is the peak rate; ``cosine`` decays it to 0 over all
    steps of the run. ``epochs`` counts passes over the training split."""

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    batch_size: int = 100
    epochs: int = 10

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}; got {self.schedule!r}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < math.inf):
            raise ValueError(f"learning_rate must be a positive number; got {self.learning_rate!r}")
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


def default_config(family: str, stage: str) -> TrainConfig:
    """Good defaults per family ("ffdnn" | "cnn") and stage ("float" | "retrain").

    Retraining starts from a trained network, so it uses a 5x smaller peak learning rate.
    """
    stages = ("float", "retrain")
    if stage not in stages:
        raise ValueError(f"stage must be one of {stages}; got {stage!r}")
    rate = {"ffdnn": 1e-3, "cnn": 2e-3}
    if family not in rate:
        raise ValueError(f"family must be one of {tuple(rate)}; got {family!r}")
    if stage == "float":
        return TrainConfig(learning_rate=rate[family], epochs=10)
    return TrainConfig(learning_rate=rate[family] / 5, epochs=4)


class Quant(NamedTuple):
    """What retraining quantizes: ``bits`` and the model's ``mask`` of quantized leaves."""

    bits: int
    mask: Any


class DivergenceError(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclasses.dataclass
class FitResult:
    """Outcome of :func:`fit` for S seeds.

    params: the selected (best-validation) float or shadow parameters, leading axis S.
    steps: for retraining, the optimal steps of ``params`` (pytree, leading axis S); else None.
    val_error: [S] validation error of the selected models (fraction).
    best_epoch: [S] 1-based epoch of the selected models.
    history: per epoch, ``{"epoch", "train_loss": [S], "val_error": [S]}``.
    """

    params: Any
    steps: Any
    val_error: np.ndarray
    best_epoch: np.ndarray
    history: list


def _optimizer(config: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    rate = (
        optax.cosine_decay_schedule(config.learning_rate, total_steps)
        if config.schedule == "cosine"
        else config.learning_rate
    )
    if config.optimizer == "adam":
        return optax.adam(rate)
    return optax.sgd(rate, momentum=0.9 if config.optimizer == "momentum" else None)


def _forward(model, params, images, quant: Quant | None, steps):
    if quant is not None:
        params = qz.tree_straight_through(params, quant.mask, steps, quant.bits)
    return model.apply({"params": params}, images)


def _chunks(n: int, chunk: int) -> tuple[int, int]:
    chunk = min(chunk, n)
    return chunk, -(-n // chunk)


def error_rate(model, params, images, labels, chunk: int = 1000) -> np.ndarray:
    """Classification error (fraction) of each seed's ``params`` [S, ...] on ``images`` [N, ...];
    returns [S]. Evaluates in chunks of ``chunk`` examples to bound memory."""
    n = images.shape[0]
    chunk, count = _chunks(n, chunk)
    return np.asarray(_error_rate(model, params, images, labels, chunk, count))


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _error_rate(model, params, images, labels, chunk, count):
    pad = chunk * count - images.shape[0]
    images = jnp.concatenate([images, jnp.zeros((pad, *images.shape[1:]), images.dtype)])
    labels = jnp.concatenate([labels, jnp.full((pad,), -1, labels.dtype)])
    images = images.reshape(count, chunk, *images.shape[1:])
    labels = labels.reshape(count, chunk)

    def one_seed(p):
        def wrong(batch):
            x, y = batch
            return jnp.sum(jnp.argmax(model.apply({"params": p}, x), -1) != y) - jnp.sum(y < 0)

        return jnp.sum(jax.lax.map(wrong, (images, labels))) / (chunk * count - pad)

    return jax.vmap(one_seed)(params)


@functools.lru_cache(maxsize=None)
def _seed_quantize_fn(bits: int, treedef, flags: tuple[bool, ...]):
    mask = jax.tree.unflatten(treedef, flags)
    return jax.jit(jax.vmap(lambda p, s: qz.tree_quantize(p, mask, s, bits)))


def seed_steps(params: Any, quant: Quant) -> Any:
    """Optimal steps of every seed's quantized leaves: pytree of [S] arrays (0 for float leaves)."""
    return jax.tree.map(jnp.asarray, qz.batched_tree_steps(params, quant.mask, quant.bits))


def seed_quantize(params: Any, steps: Any, quant: Quant) -> Any:
    """Quantizes every seed's parameters [S, ...] with its steps [S]."""
    mask = quant.mask
    fn = _seed_quantize_fn(quant.bits, jax.tree.structure(mask), tuple(jax.tree.leaves(mask)))
    return fn(params, steps)


def _make_epoch(model, optimizer, config: TrainConfig, n: int, quant: Quant | None) -> Callable:
    batches = n // config.batch_size
    if batches < 1:
        raise ValueError(f"batch_size {config.batch_size} is larger than the training split ({n})")

    def loss_fn(params, x, y, steps):
        logits = _forward(model, params, x, quant, steps)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def one_seed(params, opt_state, key, steps, images, labels):
        order = jax.random.permutation(key, n)[: batches * config.batch_size]

        def step(carry, idx):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, images[idx], labels[idx], steps)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, opt_state), losses = jax.lax.scan(
            step, (params, opt_state), order.reshape(batches, config.batch_size)
        )
        return params, opt_state, jnp.mean(losses)

    return jax.jit(jax.vmap(one_seed, in_axes=(0, 0, 0, 0, None, None)), donate_argnums=(0, 1))


@jax.jit
def _keep_best(improved, best, params):
    return jax.tree.map(
        lambda b, p: jnp.where(improved.reshape((-1,) + (1,) * (p.ndim - 1)), p, b), best, params
    )


def fit(
    model,
    params: Any,
    train: tuple[jax.Array, jax.Array],
    validation: tuple[jax.Array, jax.Array],
    config: TrainConfig,
    keys: jax.Array,
    quant: Quant | None = None,
    label: str = "",
    progress: Callable[[int], None] | None = None,
) -> FitResult:
    """Trains S seeds for ``config.epochs`` epochs and keeps each seed's best-validation epoch.

    Args:
      model: a Flax module (``quantlab.models``).
      params: initial parameters, leading axis S (float weights; shadow weights when retraining).
      train, validation: ``(images uint8 [N, H, W, C], labels int32 [N])`` on the device.
      config: the budget.
      keys: [S] PRNG keys for shuffling.
      quant: retrain with this quantization (straight-through); None for float training.
      label: names the run in error messages.
      progress: called with 1 after every epoch (e.g. a progress bar's ``update``).
    Raises:
      DivergenceError: the mean training loss of an epoch is NaN or infinite.
    """
    images, labels = train
    n = images.shape[0]
    optimizer = _optimizer(config, config.epochs * (n // config.batch_size))
    run_epoch = _make_epoch(model, optimizer, config, n, quant)
    params = jax.tree.map(jnp.array, params)  # a copy: the epoch donates its buffers
    opt_state = jax.vmap(optimizer.init)(params)
    seeds = keys.shape[0]
    best = jax.tree.map(jnp.array, params)
    best_steps = None
    best_error = np.full(seeds, np.inf)
    best_epoch = np.zeros(seeds, dtype=int)
    history = []
    steps = seed_steps(params, quant) if quant else jnp.zeros((seeds,))
    for epoch in range(1, config.epochs + 1):
        epoch_keys = jax.vmap(lambda k: jax.random.fold_in(k, epoch))(keys)
        params, opt_state, loss = run_epoch(params, opt_state, epoch_keys, steps, images, labels)
        loss = np.asarray(loss)
        from quantlab.divergence import loss_reason  # noqa: PLC0415 - the rule lives there

        if reason := loss_reason(loss.tolist(), model.num_classes):
            raise DivergenceError(f"training diverged in epoch {epoch} of {label or 'a run'}: {reason}; "
                                  f"lower learning_rate (now {config.learning_rate:g}) or change optimizer")
        if quant:
            steps = seed_steps(params, quant)
            error = error_rate(model, seed_quantize(params, steps, quant), *validation)
        else:
            error = error_rate(model, params, *validation)
        improved = error < best_error
        best = _keep_best(jnp.asarray(improved), best, params)
        if quant:
            best_steps = steps if best_steps is None else _keep_best(jnp.asarray(improved), best_steps, steps)
        best_error = np.where(improved, error, best_error)
        best_epoch = np.where(improved, epoch, best_epoch)
        history.append({"epoch": epoch, "train_loss": loss.tolist(), "val_error": error.tolist()})
        if progress:
            progress(1)
    return FitResult(best, best_steps, best_error, best_epoch, history)
