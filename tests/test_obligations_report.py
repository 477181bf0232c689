"""The obligations report: the builder on fake results, and the plugin end to end in a
pytest subprocess under xdist (typo guard included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.obligations_plugin import (
    FAILED,
    PASSED,
    SKIPPED,
    build_report,
    parse_catalogue,
    render_markdown,
    write_report,
)

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = """\
# Obligations catalogue

Some text with a | pipe that is not a table row.

## DPA

| ID | Obligation |
|---|---|
| DPA-4.3.6 | Every breach is reported within 48 hours. |
| DPA-B.access-control | Users reach only the data within their competence. |

## TT

| ID | Obligation |
|---|---|
| TT-unique-ids | Every person has their own account. |
| `DSR-access` | Everything held about one person can be found. |
"""


def test_parse_catalogue_reads_the_first_column_of_every_table():
    catalogue = parse_catalogue(SAMPLE)
    assert list(catalogue) == ["DPA-4.3.6", "DPA-B.access-control", "TT-unique-ids", "DSR-access"]
    assert catalogue["DPA-4.3.6"] == "Every breach is reported within 48 hours."


def test_the_project_catalogue_parses():
    path = ROOT / "docs" / "obligations-catalogue.md"
    catalogue = parse_catalogue(path.read_text(encoding="utf-8"))
    rows = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith("| ID ")]
    assert len(catalogue) == len(rows)
    for ident in ("DPA-4.3.6", "DPA-B.access-control", "TT-unique-ids", "DSR-access", "ROPA-processor", "TEK-withdraw"):
        assert ident in catalogue


def test_build_report_needs_at_least_one_test_and_all_passed():
    catalogue = parse_catalogue(SAMPLE)
    results = {
        "tests/a.py::test_breach_in_time": (["DPA-4.3.6"], PASSED),
        "tests/a.py::test_breach_register": (["DPA-4.3.6", "DPA-B.access-control"], PASSED),
        "tests/b.py::test_isolation": (["DPA-B.access-control"], FAILED),
        "tests/c.py::test_accounts_pg_only": (["TT-unique-ids"], SKIPPED),
        "tests/d.py::test_typo": (["DPA-4.3.7x"], PASSED),
    }
    report = build_report(catalogue, results)
    obligations = report["obligations"]
    assert list(obligations) == list(catalogue)  # every catalogue ID, in catalogue order
    assert obligations["DPA-4.3.6"] == {
        "tests": ["tests/a.py::test_breach_in_time", "tests/a.py::test_breach_register"], "passed": True}
    assert obligations["DPA-B.access-control"]["passed"] is False  # one of its tests failed
    assert obligations["TT-unique-ids"] == {"tests": ["tests/c.py::test_accounts_pg_only"], "passed": False}
    assert obligations["DSR-access"] == {"tests": [], "passed": False}
    assert report["unknown"] == {"DPA-4.3.7x": ["tests/d.py::test_typo"]}


def test_markdown_is_a_table_with_counts_and_statuses():
    catalogue = parse_catalogue(SAMPLE)
    report = build_report(catalogue, {
        "t::ok": (["DPA-4.3.6"], PASSED),
        "t::bad": (["DPA-B.access-control"], FAILED),
        "t::skip": (["TT-unique-ids"], SKIPPED),
    })
    md = render_markdown(catalogue, report)
    assert "**1 of 4 obligations proven by passing tests.**" in md
    assert "| DPA-4.3.6 | Every breach is reported within 48 hours. | 1 | proven |" in md
    assert "| DPA-B.access-control | Users reach only the data within their competence. | 1 | FAILING (1 failed) |" in md
    assert "| TT-unique-ids | Every person has their own account. | 1 | not proven (skipped) |" in md
    assert "| DSR-access | Everything held about one person can be found. | 0 | no test |" in md
    assert "  - `t::ok` (passed)" in md


def test_write_report_writes_json_mapping_each_id(tmp_path):
    catalogue = parse_catalogue(SAMPLE)
    report = build_report(catalogue, {"t::ok": (["DSR-access"], PASSED)})
    as_json, as_md = write_report(tmp_path / "docs", catalogue, report)
    data = json.loads(as_json.read_text())
    assert set(data) == set(catalogue)
    assert data["DSR-access"] == {"tests": ["t::ok"], "passed": True}
    assert as_md.read_text().startswith("# Obligations report")
    assert not list((tmp_path / "docs").glob("*.tmp"))


# An ID that is not in the catalogue, spelled so that no scan of the suite's markers counts it.
TYPO = "DPA-4.3.6" + "x"


def test_the_plugin_end_to_end_under_xdist(tmp_path):
    (tmp_path / "catalogue.md").write_text(SAMPLE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    obligation(*ids): proves\n")
    (tmp_path / "test_sample.py").write_text(textwrap.dedent("""
        import pytest

        @pytest.mark.obligation("DPA-4.3.6")
        def test_proves():
            pass

        @pytest.mark.obligation("DPA-4.3.6", "DSR-access")
        @pytest.mark.parametrize("n", [1, 2])
        def test_proves_two(n):
            pass

        @pytest.mark.obligation("DPA-B.access-control")
        def test_fails():
            assert False

        @pytest.mark.obligation("TT-unique-ids")
        def test_skips():
            pytest.skip("not here")

        @pytest.mark.obligation(TYPO)
        def test_typo():
            pass

        def test_unmarked():
            pass
    """).replace("TYPO", repr(TYPO)))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("TENANTRY_OBLIGATIONS_REPORT", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.obligations_plugin", "-p", "no:cacheprovider", "-n", "2",
         "--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini"),
         "--obligations-catalogue", str(tmp_path / "catalogue.md"), "--obligations-report", "out",
         str(tmp_path / "test_sample.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "DPA-4.3.6x not in catalogue.md" in output  # the typo fails its test
    assert "1 failed, 4 passed, 1 skipped, 1 error" in output  # the typo errors in setup
    data = json.loads((tmp_path / "out" / "obligations.json").read_text())
    assert data["DPA-4.3.6"] == {"tests": ["test_sample.py::test_proves", "test_sample.py::test_proves_two[1]",
                                           "test_sample.py::test_proves_two[2]"], "passed": True}
    assert data["DSR-access"]["passed"] is True
    assert data["DPA-B.access-control"] == {"tests": ["test_sample.py::test_fails"], "passed": False}
    assert data["TT-unique-ids"] == {"tests": ["test_sample.py::test_skips"], "passed": False}
    assert "DPA-4.3.6x" not in data
    md = (tmp_path / "out" / "obligations.md").read_text()
    assert "## IDs not in the catalogue" in md
    assert "obligations: 2 of 4 proven" in proc.stdout
    # pytest's own summary stays the last line
    assert proc.stdout.strip().splitlines()[-1].startswith("=") and "failed" in proc.stdout.strip().splitlines()[-1]
