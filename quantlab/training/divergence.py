"""When training counts as diverged: the rules, as pure functions of what training reports.

* **Loss** (``quantlab.training.train.fit``, after every epoch): some seed's mean training loss of the epoch
  is NaN or infinite, or above ``EXPLOSION_FACTOR`` (10) times ``ln(num_classes)``, the
  cross-entropy of a uniform guess, which is about where a freshly initialised network starts
  (23.0 for 10 classes). A healthy run starts near that value and goes down (retraining starts
  lower still); a too-high learning rate sends it to 1e3 and beyond within an epoch.
* **Chance** (the sweep, on a finished trial): a seed's float network, as selected on validation
  after the last epoch, has a validation error within ``CHANCE_MARGIN`` (2 points) of chance,
  ``1 - 1/num_classes`` (0.90 for 10 classes): training learned nothing. Only the selected model
  of the whole run is judged, so a slow early epoch never counts.

Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

EXPLOSION_FACTOR = 10.0
CHANCE_MARGIN = 0.02


class DivergenceError(RuntimeError):
    """Training diverged: an epoch's mean loss broke the rule of :func:`loss_reason` (raised by
    :func:`quantlab.training.train.fit`; the executors and the sweep catch it without importing JAX)."""


def initial_loss(num_classes: int) -> float:
    """``ln(num_classes)``: the cross-entropy of a uniform guess."""
    return math.log(num_classes)


def chance_error(num_classes: int) -> float:
    """``1 - 1/num_classes``: the error of a guess that ignores the input."""
    return 1.0 - 1.0 / num_classes


def loss_reason(losses: Sequence[float], num_classes: int) -> str | None:
    """Why an epoch's mean training losses (one per seed) mean divergence, or None."""
    losses = [float(x) for x in losses]
    shown = "[" + ", ".join(f"{x:.4g}" for x in losses) + "]"
    if not all(math.isfinite(x) for x in losses):
        return f"mean training loss {shown} is not finite"
    limit = EXPLOSION_FACTOR * initial_loss(num_classes)
    if max(losses) > limit:
        return (f"mean training loss {shown} exploded above {limit:.3g} "
                f"({EXPLOSION_FACTOR:g} x ln {num_classes}, the loss of a uniform guess)")
    return None


def chance_reason(val_error: float, num_classes: int) -> str | None:
    """Why a float network's selected validation error (after the last epoch) means training
    learned nothing, or None."""
    chance = chance_error(num_classes)
    if val_error >= chance - CHANCE_MARGIN:
        return (f"float training ended no better than chance: validation error {val_error:.3f} "
                f"(chance {chance:.2f} for {num_classes} classes)")
    return None
