"""quantlab.formatting: text from numbers (pp, durations, glue strings, HTML tables, counts in words)."""

from __future__ import annotations

import math

import pytest

from quantlab.formatting import count_phrase, format_duration, glue_text, html_table, pp


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
