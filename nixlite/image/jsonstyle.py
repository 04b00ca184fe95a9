"""The JSON spellings image formats need, and one defensive parser.

Digests cover JSON bytes, so each producer's style is reproduced exactly:

* ``python_json`` — upstream's stream script: ``json.dumps(value, indent=4)``;
* ``go_json`` / ``go_string`` / ``go_object`` — Go's ``encoding/json`` as skopeo and
  go-containerregistry write it: compact, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped;
* ``go_compact`` — what Go makes of a ``json.RawMessage``: the raw text compacted and
  HTML-escaped, every other spelling (numbers, existing escapes) kept.
"""

from __future__ import annotations

import json
import re
from typing import Any

from nixlite.errors import NixliteError

MAX_JSON = 16 << 20  # manifests, configs and indexes are kilobytes; refuse absurd ones

_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[ \t\n\r]+', re.S)
_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                 "\u2028": "\\u2028", "\u2029": "\\u2029"}
_HTML_CHARS = re.compile("[<>&\u2028\u2029]")


def _html_escape(text: str) -> str:
    return _HTML_CHARS.sub(lambda c: _HTML_ESCAPES[c.group(0)], text)


def go_compact(raw: str) -> str:
    """Insignificant whitespace removed and Go's HTML escapes applied inside strings;
    nothing else touched."""

    def repl(m: re.Match[str]) -> str:
        text = m.group(0)
        return _html_escape(text) if text[0] == '"' else ""

    return _JSON_TOKEN.sub(repl, raw)


def go_json(value: Any) -> bytes:
    """``value`` as Go's ``json.Marshal`` writes it; key order as given.  (Outside strings
    compact JSON has none of the escaped characters, so escaping the whole text is safe.)"""
    return _html_escape(json.dumps(value, separators=(",", ":"), ensure_ascii=False)).encode()


def go_json_indented(value: Any) -> str:
    """``value`` as Go's ``json.MarshalIndent(value, "", "    ")`` writes it (skopeo
    inspect's output): UTF-8 kept, HTML characters escaped."""
    return _html_escape(json.dumps(value, indent=4, ensure_ascii=False))


def go_string(text: str) -> str:
    return go_json(text).decode()


def go_object(fields: dict[str, str]) -> bytes:
    """A Go ``map[string]…`` of already-encoded values, marshalled: keys sorted by bytes."""
    items = sorted(fields.items(), key=lambda kv: kv[0].encode())
    return ("{" + ",".join(f"{go_string(k)}:{v}" for k, v in items) + "}").encode()


def python_json(value: Any) -> bytes:
    """JSON as upstream's stream script writes it: ``json.dumps(value, indent=4)``."""
    return json.dumps(value, indent=4).encode()


def parse_json(data: bytes, what: str, *, want: type | None = None) -> Any:
    """Parse a JSON document read from an image; ``what`` names it in errors, ``want``
    (dict or list) is the type the top level must have."""
    if len(data) > MAX_JSON:
        raise NixliteError(f"{what} is too large for a JSON document ({len(data)} bytes)")
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise NixliteError(f"{what} is not valid JSON: {e}") from None
    if want is not None and not isinstance(value, want):
        raise NixliteError(f"{what} is not a JSON {'object' if want is dict else 'array'}")
    return value
