"""One trial of the paper's method: float training -> direct quantization -> retraining.

A trial is one network (dataset, family, size), one step policy and one budget, run for several
seeds at once. It is a composition of public stages, each returning parameters as well as errors:

* :func:`prepare` puts the data on the device and builds the model;
* :func:`train_float` trains the float network (cached on disk: every bit width, policy and
  retraining budget of a network starts from the same float network, see :mod:`quantlab.training.netcache`);
* :func:`calibrate` sets the fixed-point signals' steps on it (trials with ``signal_bits`` only);
* :func:`quantize_direct` quantizes it with the L2-optimal steps (and its signals, if fixed-point);
* :func:`retrain` retrains the quantized network from there (epoch 0 = the direct network);
* :func:`float_control` trains the float network on for the same epochs with the same schedule,
  the fair float baseline of a retrained network (epoch 0 = the float network).

:func:`run_trial` composes them and returns plain JSON-ready dicts (schema in ARCHITECTURE.md);
errors are fractions.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import quantlab
from quantlab import data
from quantlab.config import CALIBRATION_EXAMPLES as CALIBRATION_EXAMPLES  # re-exported: configs live in config
from quantlab.config import TrialConfig
from quantlab.nn import integer, models, shapes
from quantlab.numerics import quantize as qz
from quantlab.numerics.signals import Signals
from quantlab.training import compilecache, netcache, phases, warmup
from quantlab.training.calibrate import signal_steps
from quantlab.training.train import Quant, compile_evaluate, compile_fit, error_rate, fit, steps_like, training_probe
from quantlab.training.train import seed_quantize, seed_steps


def _on_device(name: str, split: str, subset: int | None = None):
    images, labels = data.load(name, split)
    if subset is not None:
        images, labels = images[:subset], labels[:subset]
    with phases.timed("upload"):
        return phases.ready((jnp.asarray(images), jnp.asarray(labels, jnp.int32)))


def _per_seed(tree: Any, index: int) -> Any:
    return jax.tree.map(lambda x: x[index], tree)


@dataclasses.dataclass
class Trial:
    """What every stage of a trial needs. Arrays are on the device; ``keys`` holds one [S] array of
    PRNG keys per purpose (``init``, ``float``, ``retrain``, ``control``)."""

    config: TrialConfig
    seeds: list[int]
    model: Any
    mask: Any
    train: tuple[jax.Array, jax.Array]
    validation: tuple[jax.Array, jax.Array]
    test: tuple[jax.Array, jax.Array]
    keys: dict[str, jax.Array]

    @property
    def name(self) -> str:
        return self.config.describe()


@dataclasses.dataclass
class Stage:
    """The outcome of one stage for S seeds.

    params: float or shadow parameters, leading axis S.
    steps: the quantizer parameters (pytree of [S], or [S, 3] for ternary rules; the step ``D`` of
      uniform rules) of a quantized stage, else None.
    bits: the bit width of a quantized stage, else None.
    val_error, test_error: [S] errors (fractions) of the network the stage selected (quantized with
      ``steps`` when ``bits`` is set).
    best_epoch, history: of a training stage (best epoch 0 = its starting network), else None.
    signals: the fixed-point signals (steps [S, hidden layers]) the stage's network computes with,
      else None (float signals).
    """

    params: Any
    steps: Any
    bits: int | None
    val_error: np.ndarray
    test_error: np.ndarray
    best_epoch: np.ndarray | None = None
    history: list | None = None
    signals: Signals | None = None

    def network(self, trial: Trial) -> Any:
        """The evaluated parameters [S, ...]: ``params`` quantized with ``steps`` (or as they are)."""
        if self.bits is None:
            return self.params
        return seed_quantize(self.params, self.steps, Quant(self.bits, trial.mask, rule=trial.config.quantizer))

    def fixed_point(self, trial: Trial, index: int) -> integer.FixedPointNetwork:
        """Seed ``index``'s network as integer codes and steps (:mod:`quantlab.nn.integer`); ValueError
        for a float stage and for levels that are not one step's multiples (``ttq``'s two levels)."""
        if self.bits is None:
            raise ValueError("a float stage has no fixed-point form: quantize it first")
        quantized = _per_seed(jax.device_get(self.network(trial)), index)
        steps = _per_seed(jax.device_get(self.steps), index)
        weight_steps = {name: _single_step(steps[name]["kernel"], trial.config.quantizer) for name in quantized}
        signals = (None, None) if self.signals is None else (np.asarray(self.signals.steps)[index], self.signals.bits)
        return integer.fixed_point(trial.config.family, quantized, weight_steps, self.bits, *signals)

    def metrics(self, trial: Trial) -> list[dict]:
        """One JSON-ready dict per seed (the record schema of ARCHITECTURE.md)."""
        # on the host once: indexing device arrays per seed and leaf would compile a program for each shape
        params, steps = jax.device_get((self.params, self.steps))
        quantized = jax.device_get(self.network(trial)) if self.bits is not None else None
        signal_steps = np.asarray(self.signals.steps) if self.signals is not None else None
        out = []
        for s in range(len(trial.seeds)):
            m = {"val_error": float(self.val_error[s]), "test_error": float(self.test_error[s])}
            if self.bits is not None:
                m["steps"] = qz.masked_steps(_per_seed(steps, s), trial.mask)
                m["zero_fraction"] = float(qz.zero_fraction(_per_seed(quantized, s), trial.mask))
                m["weight_error"] = qz.relative_error(_per_seed(params, s), _per_seed(quantized, s), trial.mask)
            if signal_steps is not None:
                m["signal_steps"] = signal_steps[s].tolist()
            if self.best_epoch is not None:
                m["best_epoch"] = int(self.best_epoch[s])
                m["history"] = [{k: (v[s] if isinstance(v, list) else v) for k, v in h.items()}
                                for h in self.history]
            out.append(m)
        return out


def _single_step(q: Any, rule: str) -> np.float32:
    """The step ``D`` of a layer whose levels are ``k D``: a uniform rule's parameter, a symmetric
    ternary rule's level; ValueError for a ternary rule with two different levels."""
    q = np.asarray(q, np.float32)
    if q.ndim == 0:
        return q
    if q[1] != q[2]:
        raise ValueError(f"the {rule} rule's levels +{q[1]} and -{q[2]} differ: no single step, no integer "
                         "form (integer inference takes the l2, absmax and twn rules)")
    return q[1]


KEY_PURPOSES = ("init", "float", "retrain", "control")


@jax.jit
def _seed_keys(seeds: jax.Array) -> tuple[jax.Array, ...]:
    """One [S] array of PRNG keys per purpose of :data:`KEY_PURPOSES` (``fold_in`` of the purpose's
    index into each seed's key), computed as one program."""
    base = jax.vmap(jax.random.key)(seeds)
    return tuple(jax.vmap(lambda k, i=i: jax.random.fold_in(k, i))(base) for i in range(len(KEY_PURPOSES)))


@functools.partial(jax.jit, static_argnums=(0, 2))
def _initial_params(model, keys: jax.Array, image_shape: tuple[int, ...]) -> Any:
    """Every seed's initial parameters [S, ...] from its ``keys`` [S], as one program per model and shape."""
    return jax.vmap(lambda k: models.init_params(model, k, image_shape))(keys)


def prepare(config: TrialConfig, seeds: Sequence[int]) -> Trial:
    """The data on the device, the model and the PRNG keys of a trial of ``seeds``."""
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct integers; got {seeds!r}")
    compilecache.enable()
    meta = data.info(config.dataset)
    model = models.make_model(config.family, config.size, meta["num_classes"])
    keys = dict(zip(KEY_PURPOSES, _seed_keys(jnp.asarray(seeds))))
    one = jax.eval_shape(lambda: models.init_params(model, jax.random.key(0), meta["image_shape"]))
    return Trial(
        config=config, seeds=seeds, model=model, mask=models.quantized_mask(one),
        train=_on_device(config.dataset, "train", config.train_subset),
        validation=_on_device(config.dataset, "validation"),
        test=_on_device(config.dataset, "test"), keys=keys,
    )


def float_identity(config: TrialConfig, seeds: Sequence[int]) -> dict:
    """What the float network of ``config`` trained with ``seeds`` is cached under
    (:mod:`quantlab.training.netcache`): everything its numbers depend on."""
    device = jax.devices()[0]
    return {
        "dataset": config.dataset, "family": config.family, "size": list(config.size),
        "train_subset": config.train_subset, "float_train": dataclasses.asdict(config.float_train),
        "seeds": [int(s) for s in seeds], "numerics_version": quantlab.NUMERICS_VERSION, "jax": jax.__version__,
        "device": [device.platform, device.device_kind],
    }


def control_identity(config: TrialConfig, seeds: Sequence[int]) -> dict:
    """What the float control of ``config`` trained with ``seeds`` is cached under."""
    return {**float_identity(config, seeds), "control": dataclasses.asdict(config.retrain)}


def cached_epochs(config: TrialConfig, seeds: Sequence[int]) -> int:
    """The epochs of a trial that the float-network cache would spare: the float training's and the
    float control's, where an entry for them exists (:func:`quantlab.training.netcache.has`; an
    estimate: a damaged entry is found out only when read)."""
    stages = ((float_identity, config.float_train.epochs), (control_identity, config.retrain.epochs))
    return sum(epochs for identity, epochs in stages if netcache.has(netcache.key(identity(config, seeds))))


def _cached(identity: dict | None, like: Any, epochs: int, progress, compute) -> Stage:
    """The float stage ``compute()`` returns, read from :mod:`quantlab.training.netcache` when an entry of
    ``identity`` exists (``progress`` is then credited with its ``epochs`` at once) and written
    there otherwise. ``identity`` None: no cache."""
    entry = netcache.key(identity) if identity is not None else None
    hit = netcache.load(entry, like) if entry else None
    if hit is not None:
        params, meta = hit
        if progress:
            progress(epochs)
        return Stage(jax.tree.map(jnp.asarray, params), None, None, np.asarray(meta["val_error"]),
                     np.asarray(meta["test_error"]), np.asarray(meta["best_epoch"]), meta["history"])
    stage = compute()
    if entry:
        netcache.save(entry, stage.params, {
            "val_error": stage.val_error.tolist(), "test_error": stage.test_error.tolist(),
            "best_epoch": stage.best_epoch.tolist(), "history": stage.history})
    return stage


def train_float(trial: Trial, progress=None, cache: bool = True) -> Stage:
    """Float training of every seed from its initialisation, selected on validation.

    With ``cache`` the trained network is read from (or written to) :mod:`quantlab.training.netcache`; a
    cached network is the one this function would train (same config, seeds, numerics version,
    JAX version and device).
    """
    c = trial.config
    shape = data.info(c.dataset)["image_shape"]
    with phases.timed("upload"):
        init = phases.ready(_initial_params(trial.model, trial.keys["init"], tuple(shape)))

    def compute() -> Stage:
        fitted = fit(trial.model, init, trial.train, trial.validation, c.float_train, trial.keys["float"],
                     label=trial.name, progress=progress)
        with phases.timed("evaluation"):
            test = error_rate(trial.model, fitted.params, *trial.test)
        return Stage(fitted.params, None, None, fitted.val_error, test, fitted.best_epoch, fitted.history)

    identity = float_identity(c, trial.seeds) if cache else None
    return _cached(identity, init, c.float_train.epochs, progress, compute)


def calibrate(trial: Trial, float_stage: Stage) -> Signals | None:
    """The fixed-point signals of a trial with ``signal_bits``: each hidden layer's step L2-optimal on
    the float network's signals of the first ``signal_calibration`` training examples
    (:func:`quantlab.training.calibrate.signal_steps`); None for float signals."""
    c = trial.config
    if c.signal_bits is None:
        return None
    with phases.timed("steps"):
        return phases.ready(signal_steps(trial.model, float_stage.params, trial.train[0][: c.signal_calibration],
                                         c.signal_bits))


def quantize_direct(trial: Trial, float_stage: Stage, bits: int, signals: Signals | None = None) -> Stage:
    """The float network quantized to ``bits`` with the trial's quantizer rule (no retraining): for
    the default ``l2`` rule, each layer's L2-optimal step; with fixed-point ``signals``
    (:func:`calibrate`) its hidden signals too."""
    quant = Quant(bits, trial.mask, rule=trial.config.quantizer)
    with phases.timed("steps"):
        steps = phases.ready(seed_steps(float_stage.params, quant))
    with phases.timed("evaluation"):
        network = seed_quantize(float_stage.params, steps, quant)
        errors = [error_rate(trial.model, network, *split, signals=signals) for split in (trial.validation, trial.test)]
    return Stage(float_stage.params, steps, bits, *errors, signals=signals)


def retrain_quant(trial: Trial, bits: int) -> Quant:
    """What the trial's ``bits``-bit retraining quantizes: its mask, step policy and quantizer rule."""
    return Quant(bits, trial.mask, trial.config.step_policy, trial.config.quantizer)


def compile_later_stages(trial: Trial) -> None:
    """Compiles the float network's evaluation programs, then the epoch and evaluation programs of the
    float control and of every retraining of ``trial``, from their shapes
    (:func:`quantlab.training.train.compile_fit`), for :mod:`quantlab.training.warmup` to run while the
    float network trains."""
    c = trial.config
    shape = tuple(data.info(c.dataset)["image_shape"])
    params = jax.eval_shape(lambda keys: _initial_params(trial.model, keys, shape), trial.keys["init"])
    for split in (trial.validation, jax.eval_shape(training_probe, trial.train), trial.test):
        compile_evaluate(trial.model, params, *split)  # the float network's, needed first
    compile_fit(trial.model, c.retrain, trial.train, trial.validation, params, trial.keys["control"])
    signals = None
    if c.signal_bits is not None:
        hidden = len(shapes.layer_dims(c.family, c.size, shape, trial.model.num_classes)) - 1
        signals = Signals(jax.ShapeDtypeStruct((len(trial.seeds), hidden), jnp.float32), c.signal_bits)
        compile_evaluate(trial.model, params, *trial.test, signals)
    for bits in c.bits:
        quant = retrain_quant(trial, bits)
        compile_fit(trial.model, c.retrain, trial.train, trial.validation, params, trial.keys["retrain"], quant,
                    steps_like(params, quant), signals)


def retrain(trial: Trial, direct: Stage, progress=None) -> Stage:
    """Retraining of the directly quantized network ``direct`` with the trial's step policy and
    retraining budget (and ``direct``'s fixed-point signals, kept); the direct network competes in
    the selection as epoch 0."""
    c = trial.config
    quant = retrain_quant(trial, direct.bits)
    keys = jax.vmap(lambda k: jax.random.fold_in(k, direct.bits))(trial.keys["retrain"])
    fitted = fit(trial.model, direct.params, trial.train, trial.validation, c.retrain, keys, quant,
                 steps=direct.steps, start_error=direct.val_error,
                 label=f"{trial.name}, {direct.bits}-bit retraining", progress=progress, signals=direct.signals)
    stage = Stage(fitted.params, fitted.steps, direct.bits, fitted.val_error, None, fitted.best_epoch,
                  fitted.history, direct.signals)
    with phases.timed("evaluation"):
        stage.test_error = error_rate(trial.model, stage.network(trial), *trial.test, signals=stage.signals)
    return stage


def float_control(trial: Trial, float_stage: Stage, progress=None, cache: bool = True) -> Stage:
    """The float network trained on with the retraining budget (same epochs, schedule and rate),
    unquantized: what the extra epochs alone do. The float network competes as epoch 0. Cached like
    :func:`train_float` (it does not depend on bits or step policy)."""
    budget = trial.config.retrain

    def compute() -> Stage:
        fitted = fit(trial.model, float_stage.params, trial.train, trial.validation, budget,
                     trial.keys["control"], start_error=float_stage.val_error,
                     label=f"{trial.name}, float control", progress=progress)
        with phases.timed("evaluation"):
            test = error_rate(trial.model, fitted.params, *trial.test)
        return Stage(fitted.params, None, None, fitted.val_error, test, fitted.best_epoch, fitted.history)

    identity = control_identity(trial.config, trial.seeds) if cache else None
    return _cached(identity, float_stage.params, budget.epochs, progress, compute)


def run_trial(config: TrialConfig, seeds: Sequence[int], progress=None, cache: bool = True) -> list[dict]:
    """Runs float training, the float control, direct quantization and retraining for every seed
    (trained together).

    Args:
      config: the trial.
      seeds: distinct integer seeds; each determines initialisation and shuffling.
      progress: optional callable, called with the number of finished epochs (for progress bars);
        a trial has ``float_train.epochs + (1 + len(bits)) * retrain.epochs`` epochs (float, float
        control, one retraining per bit width; cached stages are credited at once).
      cache: reuse (and store) the float network and float control (:mod:`quantlab.training.netcache`);
        False trains everything from scratch.
    Returns:
      One metrics dict per seed, in the order of ``seeds``.
    """
    trial = prepare(config, seeds)
    float_cached = cache and netcache.has(netcache.key(float_identity(config, trial.seeds)))
    ahead = None if float_cached else warmup.start(lambda: compile_later_stages(trial))
    try:  # the later stages' programs compile while the float network trains
        trained = train_float(trial, progress, cache)
    finally:
        warmup.finish(ahead)
    control = float_control(trial, trained, progress, cache)
    counts = models.param_counts(config.family, config.size, *(data.info(config.dataset)[k]
                                                                 for k in ("image_shape", "num_classes")))
    out = [
        {**counts,
         "float": f, "float_control": fc, "direct": {}, "retrain": {}}
        for f, fc in zip(trained.metrics(trial), control.metrics(trial))
    ]
    signals = calibrate(trial, trained)
    for bits in config.bits:
        direct = quantize_direct(trial, trained, bits, signals)
        retrained = retrain(trial, direct, progress)
        for s, (d, r) in enumerate(zip(direct.metrics(trial), retrained.metrics(trial))):
            out[s]["direct"][str(bits)] = d
            out[s]["retrain"][str(bits)] = r
    return out
