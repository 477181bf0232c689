"""CSV written for spreadsheets: cells a spreadsheet would run as a formula are defused.

Every CSV the product hands out (lists, audit trail, registers, exports) goes through here,
so "=HYPERLINK(...)" typed into a contact's note can never execute on a colleague's machine.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from flask import Response, stream_with_context

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_LEADS = frozenset(FORMULA_LEADS)
# A spreadsheet whose list separator is ";" (Czech, German Excel) or that splits on tabs reads
# our comma file line by line on that character, quotes or not: "x;=1+1" then opens as two
# cells, the second a formula. A lead right after such a separator is defused as well.
_INNER_LEAD = re.compile(r"([;\t][\s\"]*)([=+\-@])")
INNER_DEFUSED = re.compile(r"([;\t][\s\"]*)'([=+\-@])")


def safe_cell(value: Any) -> str:
    # Strings first: a full export writes millions of cells, nearly all of them text.
    if value.__class__ is str:
        if ";" in value or "\t" in value:
            value = _INNER_LEAD.sub(r"\1'\2", value)
        return "'" + value if value[:1] in _LEADS else value
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (datetime, date)):
        text = value.isoformat()
    else:
        text = str(value)
    if ";" in text or "\t" in text:
        text = _INNER_LEAD.sub(r"\1'\2", text)
    if text[:1] in _LEADS:
        return "'" + text
    return text


def rows_to_csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    return "".join(iter_csv(header, rows))


def iter_csv(header: Iterable[str], rows: Iterable[Iterable[Any]], delimiter: str = ",") -> Iterator[str]:
    """Line by line, so a long list streams instead of building one string in memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([safe_cell(h) for h in header])
    yield flush()
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
        yield flush()


def csv_download(filename: str, header: Iterable[str], rows: Iterable[Iterable[Any]], *,
                 delimiter: str = ",") -> Response:
    # BOM first: Excel otherwise reads UTF-8 as the local code page and mangles accents.
    body = stream_with_context(_with_bom(iter_csv(header, rows, delimiter)))
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _with_bom(chunks: Iterator[str]) -> Iterator[str]:
    yield "\ufeff"
    yield from chunks
