"""Which promise is proven by which test: the obligations report.

Tests that prove an obligation carry `@pytest.mark.obligation("DPA-4.3.6", ...)` with IDs from
the catalogue (docs/obligations-catalogue.md, the first column of its tables).

Always on: a marker naming an ID that is not in the catalogue (a typo) fails its test.
With `--obligations-report=DIR` (or TENANTRY_OBLIGATIONS_REPORT=DIR) the run also writes
DIR/obligations.json, mapping every catalogue ID to `{"tests": [node ids], "passed": bool}`,
and DIR/obligations.md, the same as a table. An ID is passed only when it has at least one
test and every one of them passed. Works under pytest-xdist: the IDs travel to the
controller in each report's user_properties.

Loaded by tests/conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

CATALOGUE = Path("docs") / "obligations-catalogue.md"
_ID = re.compile(r"^[A-Z][A-Z0-9]*-[A-Za-z0-9][A-Za-z0-9.\-]*$")
_PROPERTY = "obligations"
_UNKNOWN = pytest.StashKey[list[str]]()

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


# --- the report builder: pure functions, unit-tested with fake results -----------------------


def parse_catalogue(text: str) -> dict[str, str]:
    """IDs and obligation texts from the catalogue's Markdown tables, in catalogue order."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        ident = cells[0].strip("`* ")
        if len(cells) >= 2 and _ID.match(ident):
            found[ident] = " | ".join(cells[1:]).strip()
    return found


def build_report(catalogue: Mapping[str, str], results: Mapping[str, tuple[Iterable[str], str]]) -> dict:
    """`results` maps a test's node id to (the IDs it proves, its outcome: passed/failed/skipped).

    Returns {"obligations": {ID: {"tests": [...], "passed": bool}}, "outcomes": {...}, "unknown": {...}}:
    every catalogue ID is present; IDs not in the catalogue are listed under "unknown".
    """
    tests: dict[str, list[str]] = {ident: [] for ident in catalogue}
    unknown: dict[str, list[str]] = {}
    outcomes: dict[str, str] = {}
    for nodeid, (ids, outcome) in results.items():
        outcomes[nodeid] = outcome
        for ident in ids:
            (tests if ident in tests else unknown).setdefault(ident, []).append(nodeid)
    obligations = {
        ident: {
            "tests": sorted(set(nodes)),
            "passed": bool(nodes) and all(outcomes[n] == PASSED for n in nodes),
        }
        for ident, nodes in tests.items()
    }
    return {
        "obligations": obligations,
        "outcomes": dict(sorted(outcomes.items())),
        "unknown": {k: sorted(set(v)) for k, v in sorted(unknown.items())},
    }


def _status(entry: dict, outcomes: Mapping[str, str]) -> str:
    if entry["passed"]:
        return "proven"
    if not entry["tests"]:
        return "no test"
    failed = sum(outcomes.get(n) == FAILED for n in entry["tests"])
    if failed:
        return f"FAILING ({failed} failed)"
    return "not proven (skipped)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(catalogue: Mapping[str, str], report: dict) -> str:
    obligations, outcomes = report["obligations"], report["outcomes"]
    proven = sum(e["passed"] for e in obligations.values())
    lines = [
        "# Obligations report",
        "",
        "Generated from `docs/obligations-catalogue.md` and the tests marked `@pytest.mark.obligation`",
        "by `make obligations` (and by `make test`, from its PostgreSQL run). Do not edit by hand.",
        "An obligation is proven when it has at least one test and all of its tests passed.",
        "",
        f"**{proven} of {len(obligations)} obligations proven by passing tests.**",
        "",
        "| ID | Obligation | Tests | Status |",
        "|---|---|---:|---|",
    ]
    for ident, entry in obligations.items():
        lines.append(
            f"| {ident} | {_cell(catalogue.get(ident, ''))} | {len(entry['tests'])} | {_status(entry, outcomes)} |"
        )
    lines += ["", "## Tests per obligation", ""]
    for ident, entry in obligations.items():
        if not entry["tests"]:
            continue
        lines.append(f"- **{ident}**")
        lines += [f"  - `{n}` ({outcomes.get(n, '?')})" for n in entry["tests"]]
    if report["unknown"]:
        lines += ["", "## IDs not in the catalogue", ""]
        for ident, nodes in report["unknown"].items():
            lines.append(f"- **{ident}**: " + ", ".join(f"`{n}`" for n in nodes))
    return "\n".join(lines) + "\n"


def write_report(directory: Path, catalogue: Mapping[str, str], report: dict) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    as_json = directory / "obligations.json"
    as_md = directory / "obligations.md"
    for path, text in (
        (as_json, json.dumps(report["obligations"], indent=2) + "\n"),
        (as_md, render_markdown(catalogue, report)),
    ):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return as_json, as_md


def _relative(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return path


# --- the pytest side ----------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tenantry obligations")
    group.addoption(
        "--obligations-report",
        metavar="DIR",
        default=os.environ.get("TENANTRY_OBLIGATIONS_REPORT") or None,
        help="write DIR/obligations.md and DIR/obligations.json (env TENANTRY_OBLIGATIONS_REPORT)",
    )
    group.addoption(
        "--obligations-catalogue",
        metavar="FILE",
        default=os.environ.get("TENANTRY_OBLIGATIONS_CATALOGUE") or None,
        help=f"the catalogue of obligation IDs (default {CATALOGUE})",
    )


def _catalogue_path(config: pytest.Config) -> Path:
    given = config.getoption("--obligations-catalogue")
    return Path(given) if given else Path(config.rootpath) / CATALOGUE


def _marked_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers("obligation"):
        ids.extend(str(a) for a in mark.args)
        if not mark.args:
            ids.append("<no ID given>")
    return sorted(set(ids))


class ObligationsReport:
    def __init__(self, config: pytest.Config):
        self.config = config
        self.out = config.getoption("--obligations-report")
        self.path = _catalogue_path(config)
        self.catalogue = parse_catalogue(self.path.read_text(encoding="utf-8")) if self.path.is_file() else None
        if self.out and not self.catalogue:
            raise pytest.UsageError(f"--obligations-report needs the catalogue {self.path} (missing or empty)")
        self.results: dict[str, tuple[list[str], str]] = {}
        self.written: tuple[Path, Path] | None = None
        self.summary: dict | None = None

    # collection happens in each xdist worker (or here without xdist)
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            ids = _marked_ids(item)
            if not ids:
                continue
            item.user_properties.append((_PROPERTY, ids))
            if self.catalogue is not None:
                unknown = [i for i in ids if i not in self.catalogue]
                if unknown:
                    item.stash[_UNKNOWN] = unknown

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        unknown = item.stash.get(_UNKNOWN, None)
        if unknown:
            pytest.fail(
                f"obligation ID(s) {', '.join(unknown)} not in {self.path.name}: a typo, or add them to the catalogue",
                pytrace=False,
            )

    # reports arrive here from the workers too
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        ids = next((list(v) for k, v in report.user_properties if k == _PROPERTY), None)
        if ids is None:
            return
        _, previous = self.results.get(report.nodeid, (ids, None))
        if report.failed:
            outcome = FAILED
        elif previous == FAILED:
            outcome = FAILED
        elif report.skipped:
            outcome = SKIPPED
        elif report.when == "call":
            outcome = SKIPPED if hasattr(report, "wasxfail") else PASSED
        else:
            outcome = previous or SKIPPED  # setup passed: the call decides
        self.results[report.nodeid] = (ids, outcome)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.out or hasattr(self.config, "workerinput"):
            return
        if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED):
            return  # interrupted or broken: keep the last complete report
        assert self.catalogue is not None
        report = build_report(self.catalogue, self.results)
        out = Path(self.out)
        written = write_report(out if out.is_absolute() else Path(self.config.rootpath) / out, self.catalogue, report)
        self.written = tuple(_relative(p, Path(self.config.rootpath)) for p in written)  # type: ignore[assignment]
        self.summary = report

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.written and self.summary:
            obligations = self.summary["obligations"]
            proven = sum(e["passed"] for e in obligations.values())
            terminalreporter.write_line(
                f"obligations: {proven} of {len(obligations)} proven; report in {self.written[1]} and {self.written[0]}"
            )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(ObligationsReport(config), "tenantry-obligations-report")
