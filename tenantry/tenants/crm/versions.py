"""Writes based on an older copy of a row are refused, not written over what was saved since.

Every CRM row has a version that each write raises (models: version_id_col). An edit form
carries the version it was filled from, and an API write may send it as If-Match. `checked`
refuses a write based on an older version before anything changes, and one whose versioned
UPDATE lost a race between that check and its flush. Either way the caller rolls back and
shows what is saved now: two people editing one contact, or an edit form left open while a
retention rule anonymised the row, must not silently undo the other write.
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy.orm.exc import StaleDataError


class EditConflict(StaleDataError):
    """The row was saved (or deleted) by someone else after the version this write was based on.
    A StaleDataError, so that a view that does not show the difference (a delete, a board move)
    answers 409 through the app's handler (platform/web.py) instead of a 500."""


def parsed(raw: str | None) -> int | None:
    """A version as a form sent it; None for none (a form opened before versions existed, or
    a new row's), which is then not checked, and for anything that is not one."""
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


def expect(row, version: int | None) -> None:
    """EditConflict when `row` is at another version than `version`; None checks nothing."""
    if version is not None and row.version != version:
        raise EditConflict(f"{type(row).__name__} {row.id} is at version {row.version}, not {version}")


@contextmanager
def checked(row, version: int | None):
    """Around a write of `row` (up to its flush): refuse it at once when the row is at another
    version than `version` (None checks nothing), and when its versioned UPDATE or DELETE
    matches no row because another write got there first. The session must then be rolled
    back, as after any failed flush."""
    expect(row, version)
    try:
        yield
    except StaleDataError as exc:
        raise EditConflict(str(exc)) from exc


def saved_meanwhile(sent, saved) -> list[str]:
    """Mark each field of `sent` (as the person sent it) whose value differs from `saved` (the
    same form filled from the row as saved now) with `saved_now`, the saved value as the field
    shows it, for the form macro; returns the labels of those fields. The sent version becomes
    the saved one, so that sending the form again, having seen this, is a deliberate overwrite."""
    changed = []
    for field in sent:
        if field.name in ("csrf_token", "version") or field.name not in saved._fields:
            continue
        now = saved[field.name]
        if _comparable(field.data) == _comparable(now.data):
            continue
        field.saved_now = _shown(field, now) or "(empty)"
        changed.append(field.label.text)
    sent.version.data = saved.version.data
    return changed


def _comparable(value):
    if isinstance(value, str):  # as typed: a textarea sends CRLF, edges may carry spaces
        return "\n".join(line.strip() for line in value.strip().splitlines())
    return "" if value is None else value


def _shown(sent_field, saved_field) -> str:
    """The saved value as the field shows it: a choice by its label (from the sent field, whose
    choices were set up for the page), anything else as its input would hold it."""
    value = saved_field._value() if hasattr(saved_field, "_value") else saved_field.data
    value = _comparable(value if value is not None else "")
    choices = getattr(sent_field, "choices", None)
    if choices is None or not value:
        return value
    labels = {str(choice[0]): str(choice[1]) for choice in choices}
    return labels.get(value, "another record")
