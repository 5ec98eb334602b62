"""Sweep specifications: which networks to train, at which bit widths, with which seeds and budgets.

A sweep is data: a :class:`SweepSpec` (a frozen dataclass) or a TOML file. Named specs ship in
``quantlab/experiments/specs/*.toml``; :func:`load_spec` takes such a name or a path to any ``.toml`` file::

    description = "FFDNN width sweep on Fashion-MNIST"
    dataset = "fashion_mnist"          # required: fashion_mnist | mnist | cifar10
    family = "ffdnn"                   # required: ffdnn | cnn
    widths = [32, 128, 512]            # ffdnn: widths x depths (cartesian product) ...
    depths = [3]
    # sizes = [[32, 3], [128, 2]]      # ... or explicit [width, depth] pairs
    # feature_maps = [[4, 4, 8]]       # cnn: maps per conv layer (also accepted as `sizes`)
    bits = [2, 3]                      # weight bit widths, 2..8 (2 = ternary; quantize.MAX_BITS)
    seeds = [0, 1, 2]
    methods = ["float", "direct", "retrain"]   # which ones `results` reports (all are computed)
    train_subset = 2000                # optional: train on the first n examples only (<= the split)
    # train_subsets = [1000, 10000, "all"]  # ... or one trial per training-set size (a data sweep)
    # scale_epochs = true              # with a subset: the full split's optimizer steps (see below)
    quantizers = ["l2"]                # quantizer rules (quantlab.numerics.rules): l2 (default) | absmax | twn | ttq
    step_policies = ["fixed"]          # retraining step policies: fixed (default) | adaptive
    retrain_epochs = [1, 2, 4]         # optional: one trial per retraining budget (a budget study)
    signal_bits = ["float", 3, 8]      # optional: hidden signals' word lengths, 2..8 or "float" (default)
    signal_calibration = 256           # optional: training examples that calibrate the signal steps

    [float_train]                      # fields of quantlab.config.TrainConfig; missing ones take
    epochs = 10                        # quantlab.config.default_config(family, "float")
    [retrain]
    epochs = 4                         # ... and default_config(family, "retrain")

With ``scale_epochs``, a trial that trains on ``n`` of the split's ``N`` examples runs both stages for
``round(epochs * N / n)`` epochs, at most :data:`EPOCH_SCALE_CAP` times ``epochs``: as many optimizer
steps as the full split gets (the cap bounds the cost of the smallest subsets, whose every epoch also
evaluates the full validation split). The scaled budgets are part of each trial's config and record.

Every bad value raises :class:`SpecError`, whose message names the field and the valid choices,
when the spec is built, so before anything trains. That includes what only the dataset can judge:
``train_subset`` and both ``batch_size`` within the training split, CNN depth within what the image
size can pool, bit widths up to ``quantlab.numerics.quantize.MAX_BITS``. This module needs only the standard
library to parse a spec; what checks it (``quantlab.training.train``, ``data``, ``quantize``, ``models``) and
:meth:`SweepSpec.trials` (``quantlab.training.experiment``) are imported lazily.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import numbers
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from quantlab import config
from quantlab.formatting import plural
from quantlab.vocabulary import METHODS, QUANTIZERS, STEP_POLICIES

SPECS_DIR = Path(__file__).resolve().parent / "specs"
FAMILIES = ("ffdnn", "cnn")

# Keys a spec file may use at its top level.
TOML_FIELDS = (
    "name", "description", "dataset", "family", "widths", "depths", "sizes", "feature_maps",
    "bits", "seeds", "methods", "train_subset", "float_train", "retrain", "step_policies", "retrain_epochs",
    "train_subsets", "scale_epochs", "quantizers", "signal_bits", "signal_calibration",
)
ALL = "all"
"""A ``train_subsets`` entry meaning the whole training split."""
FLOAT_SIGNALS = "float"
"""A ``signal_bits`` entry meaning float (unquantized) hidden signals."""
EPOCH_SCALE_CAP = 10
"""``scale_epochs`` multiplies a stage's epochs by at most this factor."""
_STAGES = {"float_train": "float", "retrain": "retrain"}


class SpecError(ValueError):
    """A sweep specification is invalid; the message names the field and the valid values."""


def datasets() -> tuple[str, ...]:
    """The dataset names quantlab can load (``quantlab.data.DATASETS``)."""
    from quantlab import data  # noqa: PLC0415 - numpy, only when a spec is checked

    return tuple(data.DATASETS)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _int_list(where: str, field: str, value: Any, minimum: int, rule: str,
              maximum: int | None = None) -> tuple[int, ...]:
    """A non-empty list of distinct integers in minimum..maximum, as a tuple."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise SpecError(f"{where}: {field} must be a list of integers ({rule}); got {value!r}")
    if len(value) == 0:
        raise SpecError(f"{where}: {field} is empty; give at least one value ({rule})")
    for v in value:
        if not _is_int(v) or v < minimum or (maximum is not None and v > maximum):
            raise SpecError(f"{where}: {field} has invalid value {v!r}; {rule}")
    dupes = sorted({int(v) for v in value if list(value).count(v) > 1})
    if dupes:
        raise SpecError(f"{where}: {field} lists {dupes} more than once")
    return tuple(int(v) for v in value)


def _choice(where: str, field: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        hint = difflib.get_close_matches(str(value), choices, n=1)
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise SpecError(f"{where}: unknown {field} {value!r}{did}; valid: {', '.join(choices)}")
    return value


def _choices(where: str, field: str, what: str, values: Any, valid: Sequence[str]) -> tuple[str, ...]:
    """``values`` as a tuple, or SpecError unless it is a non-empty list of distinct ``valid`` names."""
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise SpecError(f"{where}: {field} must be a non-empty list; valid: {', '.join(valid)}")
    for v in values:
        _choice(where, what, v, valid)
    if len(set(values)) != len(values):
        raise SpecError(f"{where}: {field} lists a {what} more than once")
    return tuple(values)


def _check_size(where: str, field: str, family: str, size: Any) -> tuple[int, ...]:
    if isinstance(size, (str, bytes)) or not isinstance(size, Sequence) or not size:
        kind = "[width, depth]" if family == "ffdnn" else "a list of feature-map counts, e.g. [4, 4, 8]"
        raise SpecError(f"{where}: {field} entry {size!r} must be {kind}")
    if family == "ffdnn" and len(size) != 2:
        raise SpecError(f"{where}: {field} entry {list(size)!r} must be [width, depth] for family 'ffdnn'")
    for v in size:
        if not _is_int(v) or v < 1:
            what = "width and depth" if family == "ffdnn" else "feature-map counts"
            raise SpecError(f"{where}: {field} entry {list(size)!r} is invalid; {what} must be integers >= 1")
    return tuple(int(v) for v in size)


def _train_config(where: str, field: str, family: str, value: Any):
    """A ``quantlab.config.TrainConfig``: ``value`` itself, or the family default with overrides."""
    cls = config.TrainConfig
    if isinstance(value, cls):
        return value
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{where}: {field} must be a table of TrainConfig fields; got {value!r}")
    stage = _STAGES[field]
    base = config.default_config(family, stage)
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in value if k not in valid]
    if unknown:
        raise SpecError(
            f"{where}: unknown {plural(len(unknown), 'field')} {', '.join(map(repr, unknown))} in [{field}]; "
            f"valid fields: {', '.join(valid)}"
        )
    changes = {}
    for key, v in value.items():
        default = getattr(base, key)
        if isinstance(default, bool):
            ok = isinstance(v, bool)
        elif isinstance(default, int):
            ok = _is_int(v)
        elif isinstance(default, float):
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            v = float(v) if ok else v
        elif isinstance(default, str):
            ok = isinstance(v, str)
        elif isinstance(default, tuple) and isinstance(v, list):
            ok, v = True, tuple(v)
        else:
            ok = True
        if not ok:
            raise SpecError(
                f"{where}: [{field}] {key} must be of type {type(default).__name__} "
                f"(default {default!r}); got {v!r}"
            )
        changes[key] = v
    try:
        return dataclasses.replace(base, **changes)
    except (TypeError, ValueError) as e:
        raise SpecError(f"{where}: [{field}] {e}") from None


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """One sweep: every size of ``sizes`` x step policy x retraining budget is a trial
    (:class:`quantlab.config.TrialConfig`) run at all ``bits`` for all ``seeds``.
    ``retrain_epochs`` (None: ``retrain.epochs`` only) lists retraining budgets for a budget study;
    ``train_subsets`` (None: ``train_subset`` only) lists training-set sizes for a data sweep (None or
    :data:`ALL` in it: the whole split), and ``scale_epochs`` gives each the full split's steps.

    ``signal_bits`` lists the word lengths of the hidden signals, one trial each (None or
    :data:`FLOAT_SIGNALS`: float signals, the default); ``signal_calibration`` the training examples
    that calibrate their steps (None: the trial's default).

    ``float_train`` / ``retrain`` take a ``TrainConfig`` or a mapping of overrides of the family's
    default (``quantlab.config.default_config``); after construction they are ``TrainConfig``.
    ``methods`` selects what ``python -m quantlab results`` reports; every trial computes all.
    """

    name: str
    dataset: str = "fashion_mnist"
    family: str = "ffdnn"
    sizes: tuple[tuple[int, ...], ...] = ()
    bits: tuple[int, ...] = (2, 3)
    seeds: tuple[int, ...] = (0,)
    methods: tuple[str, ...] = METHODS
    float_train: Any = None
    retrain: Any = None
    train_subset: int | None = None
    step_policies: tuple[str, ...] = ("fixed",)
    retrain_epochs: tuple[int, ...] | None = None
    train_subsets: tuple[int | None, ...] | None = None
    scale_epochs: bool = False
    quantizers: tuple[str, ...] = ("l2",)
    signal_bits: tuple[int | None, ...] = (None,)
    signal_calibration: int | None = None
    description: str = ""
    source: str | None = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        where = self.where
        if not isinstance(self.name, str) or not self.name:
            raise SpecError(f"{where}: name must be a non-empty string; got {self.name!r}")
        _choice(where, "family", self.family, FAMILIES)
        _choice(where, "dataset", self.dataset, datasets())
        sizes = self.sizes
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
            raise SpecError(f"{where}: sizes must be a list of sizes; got {sizes!r}")
        if len(sizes) == 0:
            raise SpecError(f"{where}: the sweep is empty: give at least one size")
        sizes = tuple(_check_size(where, "sizes", self.family, s) for s in sizes)
        dupes = sorted({s for s in sizes if sizes.count(s) > 1})
        if dupes:
            raise SpecError(f"{where}: sizes lists {[list(s) for s in dupes]} more than once")
        object.__setattr__(self, "sizes", sizes)
        top = config.MAX_BITS
        bits = _int_list(where, "bits", self.bits, 2, f"bit widths must be integers >= 2 and <= {top} "
                         "(2 = ternary)", maximum=top)
        object.__setattr__(self, "bits", bits)
        object.__setattr__(self, "seeds", _int_list(where, "seeds", self.seeds, 0, "seeds must be integers >= 0"))
        methods = self.methods
        if isinstance(methods, str) or not isinstance(methods, Sequence) or not methods:
            raise SpecError(f"{where}: methods must be a non-empty list; valid: {', '.join(METHODS)}")
        for m in methods:
            _choice(where, "method", m, METHODS)
        object.__setattr__(self, "methods", tuple(m for m in METHODS if m in methods))
        subset = self.train_subset
        if subset is not None and (not _is_int(subset) or subset < 1):
            raise SpecError(f"{where}: train_subset must be an integer >= 1 (or left out for all); got {subset!r}")
        subsets = self.train_subsets
        if subsets is not None:
            if subset is not None:
                raise SpecError(f"{where}: give either train_subset or train_subsets, not both")
            if isinstance(subsets, (str, bytes)) or not isinstance(subsets, Sequence) or not subsets:
                raise SpecError(f"{where}: train_subsets must be a non-empty list of integers >= 1 or {ALL!r}")
            subsets = tuple(None if n in (None, ALL) else n for n in subsets)
            for n in subsets:
                if n is not None and (not _is_int(n) or n < 1):
                    raise SpecError(f"{where}: train_subsets entries must be integers >= 1 or {ALL!r}; got {n!r}")
            if len(set(subsets)) != len(subsets):
                raise SpecError(f"{where}: train_subsets lists a size more than once")
            object.__setattr__(self, "train_subsets", subsets)
        if not isinstance(self.scale_epochs, bool):
            raise SpecError(f"{where}: scale_epochs must be true or false; got {self.scale_epochs!r}")
        object.__setattr__(self, "quantizers", _choices(where, "quantizers", "quantizer", self.quantizers, QUANTIZERS))
        object.__setattr__(self, "step_policies",
                           _choices(where, "step_policies", "step policy", self.step_policies, STEP_POLICIES))
        self._check_signals()
        if self.retrain_epochs is not None:
            object.__setattr__(self, "retrain_epochs", _int_list(
                where, "retrain_epochs", self.retrain_epochs, 1, "retraining budgets must be integers >= 1"))
        if not isinstance(self.description, str):
            raise SpecError(f"{where}: description must be a string")
        for field in _STAGES:
            object.__setattr__(self, field, _train_config(where, field, self.family, getattr(self, field)))
        self._check_fits_the_data()
        self.trials()  # what only a trial can judge (e.g. a ternary quantizer rule at 3 bits) fails now

    def _check_fits_the_data(self) -> None:
        """Every trial can run on the dataset: ``train_subset`` within the training split, batch
        sizes within the training examples, CNNs no deeper than the images can be pooled."""
        where, name = self.where, self.dataset
        from quantlab import data  # numpy, only when a spec is checked

        meta = data.info(name)
        split = meta["splits"]["train"]
        field = "train_subsets" if self.train_subsets is not None else "train_subset"
        for subset in self._subsets():
            if subset is not None and subset > split:
                raise SpecError(f"{where}: {field} {subset} is larger than the {name} training split "
                                f"({split} examples after the validation carve); valid: 1..{split}, or leave it out")
            examples = subset or split
            for stage in _STAGES:
                batch = getattr(self, stage).batch_size
                if batch > examples:
                    what = field if subset else f"the {name} training split"
                    raise SpecError(f"{where}: [{stage}] batch_size {batch} is larger than the {examples} training "
                                    f"examples ({what}); valid: 1..{examples}")
        if self.family == "cnn":
            h, w = meta["image_shape"][:2]
            limit = config.max_cnn_depth(meta["image_shape"])
            for size in self.sizes:
                if len(size) > limit:
                    raise SpecError(
                        f"{where}: sizes entry {list(size)} has {len(size)} conv layers; {name}'s {h}x{w} "
                        f"images allow 1..{limit} (each layer halves them by 2x2 max pooling)")

    def _check_signals(self) -> None:
        where, top = self.where, config.MAX_BITS
        widths = self.signal_bits
        valid = f"integers 2..{top} or {FLOAT_SIGNALS!r}"
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths:
            raise SpecError(f"{where}: signal_bits must be a non-empty list of {valid}; got {widths!r}")
        widths = tuple(None if b in (None, FLOAT_SIGNALS) else b for b in widths)
        for b in widths:
            if b is not None and (not _is_int(b) or not 2 <= b <= top):
                raise SpecError(f"{where}: signal_bits entries must be {valid}; got {b!r}")
        if len(set(widths)) != len(widths):
            raise SpecError(f"{where}: signal_bits lists a word length more than once")
        object.__setattr__(self, "signal_bits", widths)
        n = self.signal_calibration
        if n is not None and (not _is_int(n) or n < 1):
            raise SpecError(f"{where}: signal_calibration must be an integer >= 1 (training examples); got {n!r}")
        if n is not None and all(b is None for b in widths):
            raise SpecError(f"{where}: signal_calibration needs fixed-point signal_bits "
                            "(float signals are not calibrated)")

    def _subsets(self) -> tuple[int | None, ...]:
        return self.train_subsets if self.train_subsets is not None else (self.train_subset,)

    def variant(self, trial: Any) -> str:
        """What tells ``trial`` (one of :meth:`trials`) apart from this spec's other trials of the same
        network: ``field=value`` for each axis the spec gives more than one value, space-separated
        (``signal_bits=4``, ``train_subset=1000``, ``quantizer=twn``, ``step_policy=adaptive``,
        ``retrain_epochs=8``); '' when the spec varies the network only."""
        axes = (("train_subset", self._subsets(), trial.train_subset, ALL),
                ("quantizer", self.quantizers, trial.quantizer, None),
                ("step_policy", self.step_policies, trial.step_policy, None),
                ("retrain_epochs", self.retrain_epochs or (), trial.retrain.epochs, None),
                ("signal_bits", self.signal_bits, trial.signal_bits, FLOAT_SIGNALS))
        return " ".join(f"{field}={default if value is None else value}"
                        for field, values, value, default in axes if len(values) > 1)

    def _scaled(self, budget: Any, subset: int | None) -> Any:
        """``budget`` with its epochs scaled for ``subset`` (:data:`EPOCH_SCALE_CAP`), or as it is."""
        if not self.scale_epochs or subset is None:
            return budget
        from quantlab import data  # numpy, only when a spec is checked

        split = data.info(self.dataset)["splits"]["train"]
        epochs = min(round(budget.epochs * split / subset), EPOCH_SCALE_CAP * budget.epochs)
        return dataclasses.replace(budget, epochs=max(epochs, budget.epochs))

    @property
    def where(self) -> str:
        """How error messages name this spec."""
        return f"spec {self.name!r}" + (f" ({self.source})" if self.source else "")

    @property
    def shipped(self) -> bool:
        """Whether this is one of the named specs in ``quantlab/experiments/specs``."""
        return self.source is not None and Path(self.source).resolve().parent == SPECS_DIR

    def trials(self) -> list:
        """One :class:`quantlab.config.TrialConfig` per size, training subset, quantizer rule,
        step policy, retraining budget and signal word length, in spec order (sizes outermost)."""
        budgets = [self.retrain] if self.retrain_epochs is None else [
            dataclasses.replace(self.retrain, epochs=e) for e in self.retrain_epochs]
        out = []
        grid = itertools.product(self.sizes, self._subsets(), self.quantizers, self.step_policies, budgets,
                                 self.signal_bits)
        for size, subset, rule, policy, retrain, signal_bits in grid:
            try:
                out.append(config.TrialConfig(
                    dataset=self.dataset, family=self.family, size=size, bits=self.bits,
                    float_train=self._scaled(self.float_train, subset), retrain=self._scaled(retrain, subset),
                    train_subset=subset, step_policy=policy, quantizer=rule, signal_bits=signal_bits,
                    signal_calibration=self.signal_calibration if signal_bits is not None else None,
                ))
            except (TypeError, ValueError) as e:
                raise SpecError(f"{self.where}: size {list(size)}: {e}") from None
        return out


def spec_from_dict(data: Mapping[str, Any], name: str, source: str | None = None) -> SweepSpec:
    """A spec from the parsed TOML table ``data`` (see the module docstring for the fields)."""
    name = data.get("name", name)
    where = f"spec {name!r}" + (f" ({source})" if source else "")
    unknown = [k for k in data if k not in TOML_FIELDS]
    if unknown:
        hints = [h for k in unknown for h in difflib.get_close_matches(k, TOML_FIELDS, n=1)]
        did = f" (did you mean {', '.join(map(repr, hints))}?)" if hints else ""
        raise SpecError(
            f"{where}: unknown {plural(len(unknown), 'field')} {', '.join(map(repr, unknown))}{did}; "
            f"valid fields: {', '.join(TOML_FIELDS)}"
        )
    for field, valid in (("dataset", datasets()), ("family", FAMILIES)):
        if field not in data:
            raise SpecError(f"{where}: {field} is missing; give one of {', '.join(valid)} "
                            f"(a spec names its data and network family)")
    family = _choice(where, "family", data["family"], FAMILIES)
    given = [k for k in ("widths", "depths", "sizes", "feature_maps") if k in data]
    if family == "ffdnn":
        if "feature_maps" in data:
            raise SpecError(f"{where}: feature_maps is for family 'cnn'; ffdnn uses widths + depths, or sizes")
        if "sizes" in data and ("widths" in data or "depths" in data):
            raise SpecError(f"{where}: give either sizes or widths + depths, not both")
        if "sizes" in data:
            sizes = data["sizes"]
        elif "widths" in data or "depths" in data:
            missing = [k for k in ("widths", "depths") if k not in data]
            if missing:
                raise SpecError(f"{where}: {missing[0]} is missing; widths and depths go together "
                                "(the sweep is their cartesian product)")
            widths = _int_list(where, "widths", data["widths"], 1, "widths must be integers >= 1")
            depths = _int_list(where, "depths", data["depths"], 1, "depths must be integers >= 1")
            sizes = [[w, d] for w, d in itertools.product(widths, depths)]
        else:
            raise SpecError(f"{where}: no sizes: give widths + depths, or sizes = [[width, depth], ...]")
    else:
        if "widths" in data or "depths" in data:
            raise SpecError(f"{where}: widths/depths are for family 'ffdnn'; cnn uses feature_maps")
        if len(given) > 1:
            raise SpecError(f"{where}: give either feature_maps or sizes, not both")
        if not given:
            raise SpecError(f"{where}: no sizes: give feature_maps = [[4, 4, 8], ...]")
        sizes = data[given[0]]
        if isinstance(sizes, list):
            sizes = [_check_size(where, given[0], family, s) for s in sizes]
    kwargs = {k: data[k] for k in ("dataset", "bits", "seeds", "methods", "train_subset", "float_train",
                                    "retrain", "description", "step_policies", "retrain_epochs",
                                    "train_subsets", "scale_epochs", "quantizers", "signal_bits",
                                    "signal_calibration") if k in data}
    return SweepSpec(name=name, family=family, sizes=sizes, source=source, **kwargs)


def shipped_specs() -> list[str]:
    """Names of the specs that ship with quantlab (``quantlab/experiments/specs/*.toml``)."""
    return sorted(p.stem for p in SPECS_DIR.glob("*.toml"))


def describe_specs() -> list[tuple[str, str]]:
    """``(name, one-line description)`` of every shipped spec (without importing JAX)."""
    out = []
    for name in shipped_specs():
        try:
            with open(SPECS_DIR / f"{name}.toml", "rb") as f:
                text = tomllib.load(f).get("description", "")
        except (OSError, tomllib.TOMLDecodeError) as e:
            text = f"(unreadable: {e})"
        out.append((name, " ".join(str(text).split())))
    return out


def load_spec(name_or_path: str | Path) -> SweepSpec:
    """A shipped spec by name (``smoke``, ``ffdnn-width``, ...) or a spec file by path."""
    text = str(name_or_path)
    is_path = (isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text
               or (Path(text).is_dir() and text not in shipped_specs()))
    if is_path:
        path = Path(text).expanduser()
        if path.is_dir():
            inside = ", ".join(sorted(p.name for p in path.glob("*.toml"))) or "none"
            raise SpecError(f"spec {text!r} is a directory; give a .toml file (.toml files in it: {inside})")
        if not path.is_file():
            raise SpecError(f"spec file {text!r} does not exist")
    else:
        path = SPECS_DIR / f"{text}.toml"
        if not path.is_file():
            names = shipped_specs()
            hint = difflib.get_close_matches(text, names, n=1)
            did = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise SpecError(
                f"unknown spec {text!r}{did}; shipped specs: {', '.join(names)} "
                "(or give a path to a .toml file)"
            )
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"spec file {str(path)!r} is not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise SpecError(f"spec file {str(path)!r} is not UTF-8 text (TOML must be): byte {e.object[e.start]:#04x} "
                        f"at offset {e.start}") from None
    except OSError as e:
        raise SpecError(f"cannot read spec file {str(path)!r}: {e.strerror}") from None
    return spec_from_dict(data, name=path.stem, source=str(path))
