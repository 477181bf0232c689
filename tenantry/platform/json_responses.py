"""JSON responses (jsonify, and dicts returned by views) encoded by orjson.

Flask's encoder was a tenth of an API contact list's CPU: 50 contacts through json.dumps with
sorted keys and ASCII escapes (bench/crm.py, issue 3). The bodies keep what clients saw before:
keys sorted, dates and datetimes in Flask's HTTP-date form, Decimals and UUIDs as strings, the
same dataclass and __html__ handling (Flask's own `_default` does the types orjson leaves to it).
Non-ASCII characters are sent as UTF-8 rather than \\u escapes: the same JSON to any parser.
`app.json.dumps` (templates' tojson, and everything else) stays Flask's.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


class JSONProvider(DefaultJSONProvider):
    def response(self, *args: Any, **kwargs: Any):
        obj = self._prepare_response_obj(args, kwargs)
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(obj)  # indented for a person reading it
        try:
            body = orjson.dumps(obj, default=DefaultJSONProvider.default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            # What orjson refuses and json takes (an int beyond 64 bits, say): Flask's own way.
            return super().response(obj)
        return self._app.response_class(body, mimetype=self.mimetype)
