"""quantlab.formatting: text from numbers (pp, durations, glue strings, HTML tables, counts in words)."""

from __future__ import annotations

import io
import math
import re
import tokenize
from pathlib import Path

import pytest

import quantlab
from quantlab.formatting import count, count_phrase, format_duration, glue_text, html_table, pp


def test_pp_and_glue_text():
    assert pp(0.0123) == "+1.23" and pp(-0.5, 1) == "-50.0" and pp(0.1, sign=False) == "10.00"
    assert pp(None) == "n/a" and pp(math.nan) == "n/a"
    assert glue_text(1234) == "1,234" and glue_text(0.5) == "0.50" and glue_text(True) == "yes"
    assert glue_text(math.nan) == "n/a" and glue_text(None) == "n/a" and glue_text([1, 2.0]) == "1, 2.00"


def test_format_duration():
    assert format_duration(4.4) == "4 s"
    assert format_duration(4.6) == "5 s"
    assert format_duration(125) == "2 min 05 s"
    assert format_duration(3 * 3600 + 7 * 60) == "3 h 07 min"


def test_html_table():
    html = html_table([{"a": "<x>", "b": 1}], {"a": "A", "b": "B"}, numeric=("b",))
    assert "&lt;x&gt;" in html and "text-align:right" in html and html.count("<tr>") == 2


@pytest.mark.parametrize("k, n, expected", [
    (1, 3, "1 of 3 widths has"), (2, 3, "2 of 3 widths have"), (0, 3, "0 of 3 widths have"),
    (1, 1, "1 of 1 width has")])
def test_count_phrase_agrees(k, n, expected):
    assert count_phrase(k, n, "width", "has", "have") == expected


def test_count_agrees_with_its_number():
    assert (count(0, "trial"), count(1, "trial"), count(2, "trial")) == ("0 trials", "1 trial", "2 trials")
    assert count(1, "JSON file") == "1 JSON file" and count(3, "index", "indices") == "3 indices"


def test_no_message_says_noun_s_in_parentheses():
    """Every text quantlab writes agrees with its number (formatting.count / plural), never "trial(s)"."""
    found = []
    for path in Path(quantlab.__file__).parent.rglob("*.py"):
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            text = re.sub(r"\{[^{}]*\}", "", tok.string)  # without an f-string's code, e.g. {name(s)}
            if tok.type == tokenize.STRING and re.search(r"[a-z]\(s\)", text):
                found.append(f"{path.name}:{tok.start[0]}")
    assert not found, f"'(s)' plurals in {', '.join(found)}"


def test_share_never_reads_zero_for_a_share_that_is_not():
    from quantlab.formatting import share

    assert share(0.004) == "under 1%" and share(0.0) == "0%" and share(0.31) == "31%"


def test_recovered_says_all_of_it_when_retraining_beats_float():
    from quantlab.formatting import recovered

    assert recovered(12.63, 14.49, 12.90) == "85%"
    assert recovered(12.63, 13.00, 12.29) == "all of it (and 0.34 points beyond)"
    assert recovered(12.63, 12.63, 12.50) == "n/a"
