"""Exported cells a spreadsheet would run as formulas stay text; numbers stay numbers."""

from __future__ import annotations

import pytest

from engine.reports.evidence.pack import table_csv
from engine.reports.evidence.tables import Table, spreadsheet_safe


@pytest.mark.parametrize(("value", "shown"), [
    ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'), ("+33 6", "'+33 6"), ("@SUM(A1)", "'@SUM(A1)"),
    ("-cmd", "'-cmd"), ("-10", "-10"), ("Bonjour", "Bonjour"), (-10, -10), (None, None), ("", ""),
])
def test_spreadsheet_safe(value: str | int | None, shown: str | int | None) -> None:
    assert spreadsheet_safe(value) == shown


def test_csv_is_semicolon_separated_with_a_bom_and_safe_cells() -> None:
    text = table_csv(Table("T", "t", ("A", "B"), [("=1+1", 3), (None, "x;y")]))
    assert text.startswith("\ufeffA;B\r\n")
    assert "'=1+1;3" in text and ';"x;y"' in text
