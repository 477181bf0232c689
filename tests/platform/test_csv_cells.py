"""CSV handed to spreadsheets: formula cells defused, also where a spreadsheet that splits on
";" or tab (Czech or German Excel opening our comma file) would start a cell mid-value."""

from __future__ import annotations

import csv
import io

import pytest

from tenantry.platform.csv_cells import rows_to_csv
from tenantry.tenants.crm.csv_import import _uncell

CELLS = ["x;=1+1;", "hi\t=cmd|' /C calc'!A0", 'a; "=HYPERLINK(""x"")"', "=SUM(A1)", "@x, +y", "ok; -5 %"]


def _split_as(text: str, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


@pytest.mark.obligation("DSR-portability")
@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_no_separator_a_spreadsheet_may_split_on_exposes_a_formula(delimiter):
    text = rows_to_csv(["Notes"] * len(CELLS), [CELLS, list(reversed(CELLS))])
    cells = [cell.lstrip(' "') for row in _split_as(text, delimiter) for cell in row]
    assert not [cell for cell in cells if cell and cell[0] in "=+-@"], cells


def test_an_exported_cell_imports_back_as_it_was():
    exported = _split_as(rows_to_csv(["Notes"] * len(CELLS), [CELLS]), ",")[1]
    assert exported != CELLS  # defused for spreadsheets
    assert [_uncell(cell) for cell in exported] == [c.strip() for c in CELLS]


def test_plain_values_are_left_alone():
    rows = [["Nováková; Dvořák", 'say "hi"', "two\nlines", 12, None, "x-y"]]
    assert _split_as(rows_to_csv(["a", "b", "c", "d", "e", "f"], rows), ",")[1] == [
        "Nováková; Dvořák", 'say "hi"', "two\nlines", "12", "", "x-y"]
