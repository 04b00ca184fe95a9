"""The JSON spellings image formats need, and one defensive parser.

Digests cover JSON bytes, so each producer's style is reproduced exactly:

* ``python_json`` — upstream's stream script: ``json.dumps(value, indent=4)``;
* ``go_json`` / ``go_string`` / ``go_object`` — Go's ``encoding/json`` as skopeo and
  go-containerregistry write it: compact, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped;
* ``go_compact`` — what Go makes of a ``json.RawMessage``: the raw text compacted and
  HTML-escaped, every other spelling (numbers, existing escapes) kept;
* ``jq_dumps`` / ``jshon_dumps`` — what ``jq .`` 1.6 and jshon (jansson) print, which the
  seed's buildImage writes (the tests compare them with the real programs).
"""

from __future__ import annotations

import json
import math
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


# jq 1.6 and jshon (jansson) --------------------------------------------------------------------------------

def _jq_number(value: float) -> str:
    """jq 1.6's jvp_dtoa_fmt: shortest digits; exponent form when the decimal point is far."""
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    if math.isinf(value):
        return "1.7976931348623157e+308" if value > 0 else "-1.7976931348623157e+308"
    sign = "-" if value < 0 else ""
    digits, exponent = _shortest_digits(abs(value))
    decpt = exponent + len(digits)
    if decpt <= -4 or decpt > len(digits) + 15:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = decpt - 1
        return f"{sign}{mantissa}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if decpt <= 0:
        return f"{sign}0.{'0' * -decpt}{digits}"
    if decpt >= len(digits):
        return sign + digits + "0" * (decpt - len(digits))
    return f"{sign}{digits[:decpt]}.{digits[decpt:]}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """(digits, exponent) with value == int(digits) * 10**exponent, shortest round-trip."""
    mantissa, _, exp = repr(value).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    exponent = (int(exp) if exp else 0) - len(frac)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    return stripped or "0", exponent


_SHORT_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _json_string(text: str, *, escape_slash: bool, escape_del: bool, hex_format: str) -> str:
    """A JSON string as one of the C tools writes it; they differ only in ``/``,
    DEL and the case of ``\\u`` digits."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "/" and escape_slash:
            out.append("\\/")
        elif code < 0x20 or (code == 0x7F and escape_del):
            out.append(_SHORT_ESCAPES.get(ch) or "\\u" + format(code, hex_format))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _jq_string(text: str) -> str:
    return _json_string(text, escape_slash=False, escape_del=True, hex_format="04x")


def _jansson_string(text: str) -> str:
    return _json_string(text, escape_slash=True, escape_del=False, hex_format="04X")


def _jansson_real(value: float) -> str:
    text = "%.17g" % value
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else ""
        text = f"{mantissa}e{sign}{exp.lstrip('+-').lstrip('0') or '0'}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _pretty(value: Any, indent: str, depth: int, string, number) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = indent * (depth + 1)
        items = [f"{pad}{string(k)}: {_pretty(v, indent, depth + 1, string, number)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent * depth + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        pad = indent * (depth + 1)
        items = [pad + _pretty(v, indent, depth + 1, string, number) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent * depth + "]"
    if isinstance(value, str):
        return string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return number(value)


def jq_dumps(value: Any) -> str:
    """What ``jq .`` prints (2-space indent, trailing newline), numbers as doubles."""
    def number(n):
        if isinstance(n, int) and abs(n) < 2 ** 53:
            return str(n)
        return _jq_number(float(n))
    return _pretty(value, "  ", 0, _jq_string, number) + "\n"


def jshon_dumps(value: Any) -> str:
    """What jshon prints (jansson, 1-space indent, ``/`` escaped, trailing newline)."""
    def number(n):
        return str(n) if isinstance(n, int) else _jansson_real(n)
    return _pretty(value, " ", 0, _jansson_string, number) + "\n"


def load_ordered(data: bytes | str) -> Any:
    """Parse JSON keeping key order (as jq and jshon keep it)."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise NixliteError(f"invalid JSON: {e}") from None
