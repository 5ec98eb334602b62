"""Float training and quantized retraining, with model selection on the validation split.

Every function trains several seeds of one network at once: parameters carry a leading seed axis
``[S, ...]`` and the per-seed step is ``vmap``-ed, which makes small, overhead-bound networks cheap.
An epoch is one jitted ``lax.scan`` over shuffled mini-batches of data that stays on the device;
the host synchronises once per epoch (to select the best epoch and to catch divergence).

Retraining (``quant`` given) follows the paper: the forward and backward passes use the quantized
weights ``Q_D(w)`` (straight-through), the optimiser updates the float shadow weights ``w``, which
are re-quantized at every step. The steps ``D`` (one per quantized layer) follow a *step policy*:

* ``fixed`` (the 2015 paper's method): ``D`` is the L2-optimal step of the float network, computed
  once (direct quantization) and kept through retraining;
* ``adaptive`` (Shin, Boo & Sung 2017): after every optimiser step, ``D`` takes one Lloyd iteration
  (:func:`quantlab.numerics.quantize.lloyd_step`) from its previous value towards the optimum of the updated
  shadow weights, inside the jitted step.

``D`` is carried with the shadow weights, so the network that is evaluated, selected and returned
after an epoch is ``Q_D(w)`` with exactly the pair ``(w, D)`` that the next training step would
use. Selection starts from the network given (epoch 0, e.g. the directly quantized one) when its
validation error is passed as ``start_error``.

Fixed-point signals (``signals``, :class:`quantlab.numerics.signals.Signals` with steps ``[S, hidden
layers]``) quantize every hidden layer's output in training and evaluation alike, straight-through
(:func:`quantlab.numerics.signals.straight_through_signal`); their steps stay as calibrated.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from quantlab.config import OPTIMIZERS as OPTIMIZERS  # re-exported: budgets and their checks live in config
from quantlab.config import SCHEDULES as SCHEDULES
from quantlab.config import TrainConfig
from quantlab.config import check_policy as check_policy
from quantlab.config import default_config as default_config
from quantlab.numerics import quantize as qz
from quantlab.numerics import rules
from quantlab.numerics.signals import Signals
from quantlab.training import phases
from quantlab.training.divergence import DivergenceError, loss_reason

class Quant(NamedTuple):
    """What retraining quantizes: ``bits``, the model's ``mask`` of quantized leaves, the step
    ``policy`` (``fixed`` | ``adaptive``) and the quantizer ``rule`` (:data:`quantlab.numerics.rules.QUANTIZERS`;
    its parameters per layer are the "steps" below: the step ``D`` for uniform rules)."""

    bits: int
    mask: Any
    policy: str = "fixed"
    rule: str = "l2"

    @property
    def fns(self) -> rules.Rule:
        return rules.RULES[self.rule]


TRAIN_PROBE = 10_000
"""Training examples (the split's first) on which each epoch's end-of-epoch network is evaluated: its
training loss pairs with its validation error (a mean over the epoch's minibatches would average many
networks), at the cost of a forward pass over a fifth of Fashion-MNIST's training split."""


@dataclasses.dataclass
class FitResult:
    """Outcome of :func:`fit` for S seeds.

    params: the selected (best-validation) float or shadow parameters, leading axis S.
    steps: for retraining, the steps ``D`` the selected ``params`` were trained and evaluated with
      (pytree of [S]); else None.
    val_error: [S] validation error of the selected models (fraction).
    best_epoch: [S] epoch of the selected models (1-based; 0 = the starting network).
    history: per epoch 1..E, ``{"epoch", "train_loss": [S], "train_error": [S], "epoch_loss": [S],
      "val_error": [S]}``: ``train_loss`` and ``train_error`` are the loss and error of the network
      evaluated at the epoch's end (quantized with its steps when retraining) on the first
      :data:`TRAIN_PROBE` training examples, the same network as ``val_error``; ``epoch_loss`` is the
      mean minibatch loss during the epoch. With the adaptive
      policy also ``"step_excess": [S]``, the largest relative excess L2 error of a layer's carried
      step over that layer's exact optimum (0 = optimal).
    """

    params: Any
    steps: Any
    val_error: np.ndarray
    best_epoch: np.ndarray
    history: list


def make_optimizer(config: TrainConfig, total_steps: int) -> optax.GradientTransformation:
    """The optimiser of a budget over ``total_steps`` steps (the cosine schedule decays to 0 there)."""
    rate = (
        optax.cosine_decay_schedule(config.learning_rate, total_steps)
        if config.schedule == "cosine"
        else config.learning_rate
    )
    if config.optimizer == "adam":
        return optax.adam(rate)
    return optax.sgd(rate, momentum=0.9 if config.optimizer == "momentum" else None)


def optimizer_steps(config: TrainConfig, n: int) -> int:
    """Optimizer steps of the budget ``config`` on ``n`` training examples (whole minibatches per epoch)."""
    return config.epochs * (n // config.batch_size)


def _forward(model, params, images, quant: Quant | None, steps, signals: Signals | None, bits: Any = None):
    if quant is not None:
        bits = quant.bits if bits is None else bits  # a traced bit width (make_epoch), else the static one
        params = qz.tree_straight_through(params, quant.mask, steps, bits, quant.fns.straight_through)
    return model.apply({"params": params}, images, signals)


def _chunks(n: int, chunk: int) -> tuple[int, int]:
    chunk = min(chunk, n)
    return chunk, -(-n // chunk)


def evaluate(model, params, images, labels, chunk: int = 1000,
             signals: Signals | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Classification error (fraction) and mean cross-entropy loss (nats) of each seed's ``params``
    [S, ...] (with fixed-point ``signals``, steps [S, hidden layers], if given) on ``images``
    [N, ...]; returns two [S] arrays. Evaluates in chunks of ``chunk`` examples to bound memory."""
    n = images.shape[0]
    chunk, count = _chunks(n, chunk)
    error, loss = _evaluate(model, params, images, labels, chunk, count, signals)
    return np.asarray(error), np.asarray(loss)


def error_rate(model, params, images, labels, chunk: int = 1000, signals: Signals | None = None) -> np.ndarray:
    """[S] classification error (fraction) of :func:`evaluate`."""
    return evaluate(model, params, images, labels, chunk, signals)[0]


def compile_evaluate(model, params, images, labels, signals: Signals | None = None, chunk: int = 1000) -> None:
    """Compiles, without running it, the program :func:`evaluate` runs with these arguments, from their
    shapes alone (arrays or ``jax.ShapeDtypeStruct`` leaves), as :func:`compile_fit` does."""
    _evaluate.lower(model, params, images, labels, *_chunks(images.shape[0], chunk), signals).compile()


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _evaluate(model, params, images, labels, chunk, count, signals):
    n = images.shape[0]
    pad = chunk * count - n
    images = jnp.concatenate([images, jnp.zeros((pad, *images.shape[1:]), images.dtype)])
    labels = jnp.concatenate([labels, jnp.full((pad,), -1, labels.dtype)])
    images = images.reshape(count, chunk, *images.shape[1:])
    labels = labels.reshape(count, chunk)

    def one_seed(p, signal):
        def sums(batch):
            x, y = batch
            logits = model.apply({"params": p}, x, signal)
            real = y >= 0
            wrong = jnp.sum((jnp.argmax(logits, -1) != y) & real)
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.maximum(y, 0))
            return wrong, jnp.sum(jnp.where(real, loss, 0.0))

        wrong, loss = jax.lax.map(sums, (images, labels))
        return jnp.sum(wrong) / n, jnp.sum(loss) / n

    return jax.vmap(one_seed)(params, signals)


@functools.lru_cache(maxsize=None)
def _seed_quantize_fn(bits: int | None, rule: str, treedef, flags: tuple[bool, ...]):
    """The jitted quantizer of S seeds; ``bits`` None: the bit width is its third argument (traced)."""
    mask = jax.tree.unflatten(treedef, flags)
    fn = rules.RULES[rule].quantize
    return jax.jit(jax.vmap(lambda p, s, b: qz.tree_quantize(p, mask, s, b if bits is None else bits, fn),
                            in_axes=(0, 0, None)))


def seed_steps(params: Any, quant: Quant) -> Any:
    """The rule's starting parameters of every seed's quantized leaves (for ``l2`` the optimal step):
    pytree of [S] (or [S, 3] for ternary rules) arrays; [S] zeros for float leaves."""
    return jax.tree.map(jnp.asarray, qz.batched_tree_steps(params, quant.mask, quant.bits, quant.fns.init))


def _seed_quantizer(quant: Quant) -> Callable:
    """:func:`_seed_quantize_fn` of ``quant``: ``(params, steps, bits int32) -> quantized params``."""
    mask = quant.mask
    return _seed_quantize_fn(None if quant.fns.traced_bits else quant.bits, quant.rule, jax.tree.structure(mask),
                             tuple(jax.tree.leaves(mask)))


def seed_quantize(params: Any, steps: Any, quant: Quant) -> Any:
    """Quantizes every seed's parameters [S, ...] with its steps (quantizer parameters)."""
    return _seed_quantizer(quant)(params, steps, np.int32(quant.bits))


@functools.lru_cache(maxsize=None)
def _optimizer_init(config: TrainConfig, total_steps: int) -> Callable:
    """The jitted initial state of S seeds' optimizers (one program per budget and parameter shapes)."""
    return jax.jit(jax.vmap(make_optimizer(config, total_steps).init))


def make_epoch(model, config: TrainConfig, n: int, quant: Quant | None) -> Callable:
    """The jitted epoch of S seeds on ``n`` training examples with the budget ``config`` (its optimizer
    over ``config.epochs`` epochs):
    ``(params [S, ...], opt_state, steps [S], keys [S], images [N, ...], labels [N], signals, bits) ->
    (params, opt_state, steps, mean training loss [S])`` (``signals``: None or
    :class:`~quantlab.numerics.signals.Signals` with steps [S, hidden layers]; ``bits``: the weights'
    bit width, int32, read only by a rule with :attr:`~quantlab.numerics.rules.Rule.traced_bits`);
    ``params`` and ``opt_state`` are donated.

    One program per model, budget, ``n`` and quantization, reused for the rest of the process: the bit
    widths of a rule with traced bits share it (the other rules' bit widths, and the budgets, whose
    numbers XLA folds into the arithmetic, have one program each)."""
    if n // config.batch_size < 1:
        raise ValueError(f"batch_size {config.batch_size} is larger than the training split ({n})")
    if quant is None:
        return _epoch(model, config, n, None)
    mask = quant.mask
    return _epoch(model, config, n, (None if quant.fns.traced_bits else quant.bits, jax.tree.structure(mask),
                                     tuple(jax.tree.leaves(mask)), quant.policy, quant.rule))


@functools.lru_cache(maxsize=None)
def _epoch(model, config: TrainConfig, n: int, quant_key: tuple | None) -> Callable:
    batches = n // config.batch_size
    optimizer = make_optimizer(config, optimizer_steps(config, n))
    quant = None
    if quant_key is not None:
        static_bits, treedef, flags, policy, rule = quant_key
        quant = Quant(static_bits, jax.tree.unflatten(treedef, flags), policy, rule)
    adaptive = quant is not None and quant.policy == "adaptive"
    learned = quant is not None and quant.fns.learned

    def one_seed(params, opt_state, steps, key, images, labels, signals, traced_bits):
        bits = traced_bits if quant is not None and quant.bits is None else None

        def loss_fn(params, x, y, steps):
            logits = _forward(model, params, x, quant, steps, signals, bits)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        order = jax.random.permutation(key, n)[: batches * config.batch_size]

        def step(carry, idx):
            params, opt_state, steps = carry
            if learned:  # the rule's levels train with the weights (one optimizer over both)
                loss, grads = jax.value_and_grad(lambda ps: loss_fn(ps[0], images[idx], labels[idx], ps[1]))(
                    (params, steps))
                updates, opt_state = optimizer.update(grads, opt_state, (params, steps))
                params, steps = optax.apply_updates((params, steps), updates)
            else:
                loss, grads = jax.value_and_grad(loss_fn)(params, images[idx], labels[idx], steps)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                params = optax.apply_updates(params, updates)
            if adaptive:
                steps = qz.tree_update(params, quant.mask, steps, quant.bits if bits is None else bits,
                                       quant.fns.update)
            return (params, opt_state, steps), loss

        (params, opt_state, steps), losses = jax.lax.scan(
            step, (params, opt_state, steps), order.reshape(batches, config.batch_size)
        )
        return params, opt_state, steps, jnp.mean(losses)

    return jax.jit(jax.vmap(one_seed, in_axes=(0, 0, 0, 0, None, None, 0, None)), donate_argnums=(0, 1))


def step_excess(params: Any, steps: Any, quant: Quant) -> np.ndarray:
    """[S] largest relative excess L2 error, over the quantized layers, of ``steps`` against each
    layer's exact optimal step (:func:`quantlab.numerics.quantize.optimal_step`); 0 means optimal."""
    best = qz.batched_tree_steps(params, quant.mask, quant.bits)  # the exact L2 optimum
    params, steps = jax.device_get((params, steps))
    excess = []
    for w, q, s, b in zip(*(jax.tree.leaves(t) for t in (params, quant.mask, steps, best))):
        if not q:
            continue
        err = lambda d: np.asarray(jax.vmap(lambda x, y: qz.quantization_error(x, y, quant.bits))(w, d))  # noqa: E731
        excess.append((err(np.asarray(s, np.float32)) - err(b)) / np.maximum(err(b), 1e-30))
    return np.max(np.stack(excess), axis=0)


def _optimized(quant: Quant | None, params: Any, steps: Any) -> Any:
    """What the optimizer of an epoch trains: the parameters, and with them the steps of a learned rule."""
    return (params, steps) if quant and quant.fns.learned else params


def steps_like(params: Any, quant: Quant) -> Any:
    """The shapes of :func:`seed_steps` ``(params, quant)`` without computing them: a pytree of
    ``jax.ShapeDtypeStruct``, float32 ``[S]`` per leaf (``[S, 3]`` for the quantized leaves of a ternary rule)."""
    step_shape = np.shape(quant.fns.init(np.ones(4, np.float32), quant.bits))
    return jax.tree.map(lambda w, q: jax.ShapeDtypeStruct(w.shape[:1] + (step_shape if q else ()), jnp.float32),
                        params, quant.mask)


def training_probe(train: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
    """The first :data:`TRAIN_PROBE` examples of ``train`` ``(images, labels)``."""
    images, labels = train
    return images[:TRAIN_PROBE], labels[:TRAIN_PROBE]


def compile_fit(model, config: TrainConfig, train: tuple[jax.Array, jax.Array], validation: tuple[jax.Array, jax.Array],
                params: Any, keys: jax.Array, quant: Quant | None = None, steps: Any = None,
                signals: Signals | None = None) -> None:
    """Compiles, without running them, the epoch and evaluation programs :func:`fit` runs with these
    arguments, from their shapes alone (arrays or ``jax.ShapeDtypeStruct`` leaves; ``steps`` e.g.
    :func:`steps_like`): :func:`fit`'s calls then find them compiled, the executables they would have built."""
    for split in (validation, jax.eval_shape(training_probe, train)):
        compile_evaluate(model, params, *split, signals)
    images, labels = train
    n = images.shape[0]
    steps = steps if quant else jax.ShapeDtypeStruct(keys.shape[:1], jnp.float32)
    bits = jax.ShapeDtypeStruct((), jnp.int32)
    init = _optimizer_init(config, optimizer_steps(config, n))
    init.lower(_optimized(quant, params, steps)).compile()
    opt_state = jax.eval_shape(init, _optimized(quant, params, steps))
    make_epoch(model, config, n, quant).lower(params, opt_state, steps, keys, images, labels, signals, bits).compile()
    improved = jax.ShapeDtypeStruct(keys.shape[:1], jnp.bool_)
    for tree in (params, steps):  # the selection of the best epoch
        _keep_best.lower(improved, tree, tree).compile()
    if quant:
        _seed_quantizer(quant).lower(params, steps, bits).compile()


@jax.jit
def _copy(tree):
    """A copy of every array of ``tree`` (one program, not one per leaf shape)."""
    return jax.tree.map(jnp.copy, tree)


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
    steps: Any = None,
    start_error: np.ndarray | None = None,
    label: str = "",
    progress: Callable[[int], None] | None = None,
    signals: Signals | None = None,
) -> FitResult:
    """Trains S seeds for ``config.epochs`` epochs and keeps each seed's best-validation epoch.

    Args:
      model: a Flax module (``quantlab.nn.models``).
      params: initial parameters, leading axis S (float weights; shadow weights when retraining).
      train, validation: ``(images uint8 [N, H, W, C], labels int32 [N])`` on the device.
      config: the budget.
      keys: [S] PRNG keys for shuffling.
      quant: retrain with this quantization (straight-through); None for float training.
      steps: with ``quant``, the starting steps (pytree of [S], e.g. the direct quantization's).
      start_error: [S] validation error of the starting network (``params``, quantized with
        ``steps`` when retraining): it competes in the selection as epoch 0. None: it does not.
      label: names the run in error messages.
      progress: called with 1 after every epoch (e.g. a progress bar's ``update``).
      signals: fixed-point hidden signals (steps [S, hidden layers], kept), or None (float signals).
    Raises:
      DivergenceError: an epoch's mean training loss is NaN, infinite or exploded
        (:func:`quantlab.training.divergence.loss_reason`).
    """
    if quant is not None and steps is None:
        raise ValueError("retraining (quant given) needs the starting steps (e.g. the direct quantization's)")
    images, labels = train
    n = images.shape[0]
    run_epoch = make_epoch(model, config, n, quant)
    bits = np.int32(quant.bits if quant else 0)
    params = _copy(params)  # the epoch donates its buffers
    seeds = keys.shape[0]
    steps = jax.tree.map(jnp.asarray, steps) if quant else jnp.zeros((seeds,))
    opt_state = _optimizer_init(config, optimizer_steps(config, n))(_optimized(quant, params, steps))
    best, best_steps = _copy(params), steps
    probe = training_probe(train)
    best_error = np.full(seeds, np.inf) if start_error is None else np.asarray(start_error, float)
    best_epoch = np.zeros(seeds, dtype=int)
    history = []
    for epoch in range(1, config.epochs + 1):
        epoch_keys = jax.vmap(lambda k: jax.random.fold_in(k, epoch))(keys)
        with phases.timed("scans"):
            params, opt_state, steps, loss = run_epoch(params, opt_state, steps, epoch_keys, images, labels, signals,
                                                       bits)
            loss = np.asarray(loss)
        if reason := loss_reason(loss.tolist(), model.num_classes):
            raise DivergenceError(f"training diverged in epoch {epoch} of {label or 'a run'}: {reason}; "
                                  f"lower learning_rate (now {config.learning_rate:g}) or change optimizer")
        with phases.timed("evaluation"):
            evaluated = seed_quantize(params, steps, quant) if quant else params
            error = error_rate(model, evaluated, *validation, signals=signals)
            train_error, train_loss = evaluate(model, evaluated, *probe, signals=signals)
        improved = jnp.asarray(error < best_error)
        best = _keep_best(improved, best, params)
        best_steps = _keep_best(improved, best_steps, steps)
        best_error = np.where(improved, error, best_error)
        best_epoch = np.where(improved, epoch, best_epoch)
        entry = {"epoch": epoch, "train_loss": train_loss.tolist(), "train_error": train_error.tolist(),
                 "epoch_loss": loss.tolist(), "val_error": error.tolist()}
        if quant and quant.policy == "adaptive" and quant.rule == "l2":
            with phases.timed("steps"):
                entry["step_excess"] = step_excess(params, steps, quant).tolist()
        history.append(entry)
        if progress:
            progress(1)
    return FitResult(best, best_steps if quant else None, best_error, best_epoch, history)
