"""The base of every form: text that a database or a person cannot use is refused next to its field."""

from __future__ import annotations

import re
import unicodedata

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

# Control characters (NUL among them, which PostgreSQL refuses outright) never belong in a
# form's text; tabs and line breaks do, in multi-line fields only. In a one-line field a line
# break is no text a person typed, and it breaks what the value goes into: an e-mail's
# subject ("Invited to <workspace>") cannot carry one.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_BREAK = re.compile(r"[\x00-\x1f\x7f]")


# Spaces, zero-width and format characters: a value of only these shows nothing, so it counts
# as not filled in (a required name of one zero-width space would be a blank name).
_INVISIBLE = frozenset(("Cf", "Zs", "Zl", "Zp"))  # control characters get their own error


def blank(text: str) -> bool:
    return all(unicodedata.category(ch) in _INVISIBLE for ch in text)


_OURS = {
    "This field is required.": "Fill in “{label}”.",
    "Invalid email address.": "Enter an e-mail address such as name@example.com.",
}


CONTROL_MESSAGE = "Remove the control characters from this field."


def has_control(text: str, *, lines: bool = False) -> bool:
    """Whether `text` holds what no one types in a field (`lines`: a multi-line one, where tabs
    and line breaks belong): for values that reach a form's checks another way (the API's)."""
    return bool((_CONTROL if lines else _CONTROL_OR_BREAK).search(text))


class Form(FlaskForm):
    def validate(self, extra_validators=None) -> bool:
        for field in self:
            # Browsers send a textarea's line breaks as CRLF, JSON and CSV usually as LF: one form
            # of the same note, so that the API, exports and comparisons see what was typed (and a
            # length limit counts a line break once).
            if isinstance(field, TextAreaField) and isinstance(field.data, str) and "\r" in field.data:
                field.data = field.data.replace("\r\n", "\n").replace("\r", "\n")
            if isinstance(field, StringField) and isinstance(field.data, str) and field.data and blank(field.data):
                field.data = ""
        ok = super().validate(extra_validators)
        for field in self:
            # WTForms' defaults name no field and say "email": ours say what to put where.
            if isinstance(field.errors, list):
                field.errors = [_OURS[m].format(label=field.label.text) if m in _OURS else m for m in field.errors]
            if isinstance(field, StringField) and isinstance(field.data, str) \
                    and has_control(field.data, lines=isinstance(field, TextAreaField)):
                if CONTROL_MESSAGE not in field.errors:  # a field's own check may have said so
                    field.errors = [*field.errors, CONTROL_MESSAGE]
                ok = False
        return ok
