"""Numbers and results as text: what the book glues into its pages, the CLI prints and the notes say.

The library computes with fractions (errors and gaps in [0, 1]); percentage points appear only here,
where text is made (:func:`pp`). Also: durations (:func:`format_duration`), glue strings
(:func:`glue_text`, :func:`glue_key`), HTML tables for the book (:func:`html_table`: myst-nb renders
Markdown outputs as CommonMark, without tables) and counts in words (:func:`plural`,
:func:`count_phrase`). Standard library only.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any


def pp(fraction: float, digits: int = 2, sign: bool = True) -> str:
    """A fraction as percentage points (or percent) text: ``pp(0.0123) == "+1.23"``;
    ``sign=False`` drops the ``+``. ``n/a`` for None or NaN."""
    if fraction is None or (isinstance(fraction, float) and math.isnan(fraction)):
        return "n/a"
    return f"{100 * float(fraction):{'+' if sign else ''}.{digits}f}"


def share(fraction: float) -> str:
    """A share as percent text, ``"31%"``; a share that rounds to 0 but is not 0 reads ``"under 1%"``."""
    return "under 1%" if 0 < fraction < 0.005 else f"{fraction:.0%}"


def recovered(float_error: float, direct_error: float, retrained_error: float) -> str:
    """What retraining won back of what direct quantization lost (three test errors, any one unit):
    ``"85%"``, or ``"all of it (and 0.34 points beyond)"`` when the retrained network beats the float
    one (errors in percent there); ``"n/a"`` when direct quantization lost nothing."""
    lost = direct_error - float_error
    if lost <= 0:
        return "n/a"
    if retrained_error < float_error:
        return f"all of it (and {float_error - retrained_error:.2f} points beyond)"
    return share((direct_error - retrained_error) / lost)


def format_duration(seconds: float) -> str:
    """``4.4 -> "4 s"``, ``125 -> "2 min 05 s"``, ``3 h 7 min -> "3 h 07 min"`` (rounded to the
    nearest second)."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units: ``512 B``, ``12.0 KiB``, ``3.1 GiB``, ``250 MiB``."""
    units, i = ("B", "KiB", "MiB", "GiB", "TiB", "PiB"), 0
    while abs(n) >= 1024 and i < len(units) - 1:
        n, i = n / 1024, i + 1
    return f"{n:.0f} {units[i]}" if i == 0 or abs(n) >= 100 else f"{n:.1f} {units[i]}"


def glue_key(name: str) -> str:
    """A glue-key fragment of a name: ``ffdnn-width -> ffdnn_width``."""
    return name.replace("-", "_")


def glue_text(value: Any) -> str:
    """A value as glued text: booleans ``yes``/``no``, integers with thousands separators, other
    numbers with 2 decimals (``n/a`` for NaN or None), lists joined by commas."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return "n/a" if math.isnan(value) else f"{float(value):.2f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(glue_text(v) for v in value)
    return str(value)


def html_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str], numeric: Sequence[str] = (),
               wrap: Sequence[str] = ()) -> str:
    """An HTML table (for ``IPython.display.HTML`` in the book) of ``rows`` with ``columns`` (field
    -> header). Values are written as they are (format them before) and escaped; ``numeric`` columns
    are right-aligned, and only ``wrap`` columns may wrap their text."""

    def cell(tag, field, text, wrap):
        style = "padding:0.25em 0.45em;" + ("text-align:right;" if field in numeric else "")
        style += "" if wrap else "white-space:nowrap;"
        return f'<{tag} style="{style}">{html.escape(str(text))}</{tag}>'

    head = "".join(cell("th", c, h, True) for c, h in columns.items())
    body = "".join("<tr>" + "".join(cell("td", c, r.get(c, ""), c in wrap) for c in columns) + "</tr>" for r in rows)
    return (f'<table class="table" style="font-size:0.85em;width:auto">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``singular`` for n == 1, else ``plural_form`` (default: ``singular + "s"``)."""
    return singular if int(n) == 1 else (plural_form or singular + "s")


def and_list(items: Sequence[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def count(n: int, singular: str, plural_form: str | None = None) -> str:
    """``n`` and the noun that agrees with it: ``count(1, "trial")`` is ``1 trial``, ``count(0, "trial")``
    ``0 trials``."""
    return f"{n} {plural(n, singular, plural_form)}"


def count_phrase(k: int, n: int, noun: str, verb_singular: str, verb_plural: str,
                 noun_plural: str | None = None) -> str:
    """``k of n <nouns> <verb>`` with the verb agreeing with ``k``: ``count_phrase(1, 3, "width",
    "has", "have")`` is ``1 of 3 widths has``; ``(2, 3, ...)`` is ``2 of 3 widths have``; ``(1, 1,
    ...)`` is ``1 of 1 width has``."""
    return f"{k} of {n} {plural(n, noun, noun_plural)} {verb_singular if int(k) == 1 else verb_plural}"



def glue_ends(ends: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The glue values of :func:`quantlab.analysis.stats.sweep_ends`, as the sweep chapters quote them:
    per end (``smallest`` | ``largest``) and bit width ``b``, ``gap{b}_{end}`` and ``gap{b}_{end}_std``
    (the gap to the float control and its standard error: the book's "±" on a gap, 0 for one seed),
    ``gapf{b}_{end}`` (the gap to the float network), ``direct{b}_{end}``, ``float_{end}`` and
    ``control_{end}`` in percentage points or percent (numbers, formatted by the page), and
    ``params_{end}``, ``width_{end}`` / ``maps_{end}`` and ``depth`` (of the largest network) as
    they are; other None values are left out."""
    out: dict[str, Any] = {}
    for which, end in ends.items():
        for key, value in end.items():
            if key.startswith("gap") and key.endswith("_se"):
                out[f"{key[:-3]}_{which}_std"] = 100 * (value or 0.0)
            elif value is None or key == "network":
                continue
            elif key.startswith("gap") and key.endswith("_float"):
                out[f"gapf{key[3:-6]}_{which}"] = 100 * value
            elif key in ("float_error", "control_error"):
                out[f"{key.split('_')[0]}_{which}"] = 100 * value
            elif key.startswith(("gap", "direct")):
                out[f"{key}_{which}"] = 100 * value
            elif key == "depth":
                out["depth"] = value
            else:
                out[f"{key}_{which}"] = value
    return out


__all__ = ["and_list", "count_phrase", "format_duration", "glue_ends", "glue_key", "glue_text", "html_table", "plural",
           "pp", "recovered", "share"]
