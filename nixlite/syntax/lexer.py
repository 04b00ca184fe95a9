"""Nix tokens, produced the way Nix's flex lexer (src/libexpr/lexer.l) produces them.

A mode stack mirrors flex's start conditions: code (DEFAULT), ``"…"`` strings (STRING),
``''…''`` strings (IND_STRING) and path bodies (INPATH, INPATH_SLASH).  ``{`` and ``${``
push code mode and ``}`` pops it, so interpolation nests to any depth.  Each mode has one
compiled master regex whose alternatives are ordered so that the first match is flex's
longest match.

``tokenize(text)`` returns three parallel lists: token types (str, the terminal names of
grammar/nix.lark), values and character offsets, ending with the ``$END`` token.
"""

from __future__ import annotations

import re
from sys import intern

from nixlite.errors import NixliteError

_PC = r"[a-zA-Z0-9._\-+]"  # PATH_CHAR

# The token alternatives of code mode, in flex's order; URI and path alternatives are
# marked, so that a second master regex can leave them out.
_CODE_TOKENS = (
    # fast path: an identifier that cannot be the start of a longer URI or path token
    r"(?P<ID>[a-zA-Z_][a-zA-Z0-9_'\-]*+(?![a-zA-Z0-9._\-+/:]))",
    # fast path: a whole "…" string without interpolation (what STRING mode would give)
    r'"(?P<sstr>(?:[^$"\\]|\$[^{"\\]|\\[\s\S]|\$\\[\s\S])*+\$?)"',
    ("path", r"(?P<URI>[a-zA-Z][a-zA-Z0-9+\-.]*:[a-zA-Z0-9%/?:@&=+$,\-_.!~*']+)"),
    ("path", rf"(?P<pseg>{_PC}*/(?=\$\{{))"),
    r"(?P<hseg>~/(?=\$\{))",
    ("path", rf"(?P<PATH>{_PC}*(?:/{_PC}+)+/?)"),
    rf"(?P<HPATH>~(?:/{_PC}+)+/?)",
    r"(?P<FLOAT>(?:[1-9][0-9]*\.[0-9]*|0?\.[0-9]+)(?:[Ee][+-]?[0-9]+)?)",
    r"(?P<INT>[0-9]+)",
    r"(?P<ID2>[a-zA-Z_][a-zA-Z0-9_'\-]*)",
    rf"(?P<SPATH><{_PC}+(?:/{_PC}+)*>)",
    r"(?P<indopen>''(?: *\n)?)",
    r"(?P<op>\.\.\.|==|!=|<=|>=|&&|\|\||->|//|\+\+|<\||\|>|\$\{)",
    r"(?P<char>[\s\S])",
    r"(?P<eof>\Z)",
)


def _code_regex(with_paths: bool) -> re.Pattern:
    alternatives = [a if isinstance(a, str) else a[1] for a in _CODE_TOKENS
                    if isinstance(a, str) or with_paths]
    # whitespace and comments before the token are skipped by the same match
    return re.compile(r"(?:[ \t\r\n]+|#[^\r\n]*|/\*(?:[^*]|\*+[^*/])*\*+/)*+(?:"
                      + "|".join(alternatives) + ")")


_DEFAULT = _code_regex(with_paths=True)
# Inside a run of path characters not followed by `/` or `:` no URI or path can start:
# there the scan for one (flex's, too, is as long as the run) is skipped, which keeps
# `a.b.c.…` and `-----1` linear.
_DEFAULT_NO_PATH = _code_regex(with_paths=False)
_PATH_CHARS_RUN = re.compile(r"[a-zA-Z0-9._\-+]*")
# tokens the path alternatives were tried before (and so scanned the run they start)
_SCANNED_A_RUN = frozenset(("ID2", "INT", "FLOAT", "char"))

_KEYWORDS = {
    "if": "IF", "then": "THEN", "else": "ELSE", "assert": "ASSERT", "with": "WITH",
    "let": "LET", "in": "IN", "rec": "REC", "inherit": "INHERIT", "or": "OR_KW",
}
_OPS = {
    "...": "ELLIPSIS", "==": "EQ", "!=": "NEQ", "<=": "LEQ", ">=": "GEQ", "&&": "AND",
    "||": "OR", "->": "IMPL", "//": "UPDATE", "++": "CONCAT", "<|": "PIPE_FROM",
    "|>": "PIPE_INTO", "${": "DOLLAR_CURLY",
}
_CHARS = {
    "{": "LBRACE", "}": "RBRACE", "[": "LBRACK", "]": "RBRACK", "(": "LPAR", ")": "RPAR",
    ";": "SEMI", ":": "COLON", ",": "COMMA", "@": "AT", ".": "DOT", '"': "QUOTE",
    "=": "ASSIGN", "?": "QUESTION", "!": "NOT", "+": "PLUS", "-": "MINUS", "*": "STAR",
    "/": "SLASH", "<": "LT", ">": "GT",
}

# "…" string body: flex's ([^\$\"\\]|\$[^\{\"\\]|\\{ANY}|\$\\{ANY})+ (a trailing `$`
# before the closing quote is added by hand, as flex's trailing-context rule does).
_STRING_BODY = re.compile(r'(?:[^$"\\]|\$[^{"\\]|\\[\s\S]|\$\\[\s\S])+')
# ''…'' string: bulk text (which keeps its indentation) and the special sequences.
_IND = re.compile(
    r"(?P<bulk>(?:[^$']|\$[^{']|'[^'$])+)"
    r"|(?P<dollar>''\$|\$(?!\{))"
    r"|(?P<quotes>''')"
    r"|(?P<escape>''\\[\s\S])"
    r"|(?P<interp>\$\{)"
    r"|(?P<close>'')"
    r"|(?P<quote>')"
)
_PATH_BODY = re.compile(rf"{_PC}*(?:/{_PC}+)+/?|{_PC}*/|{_PC}+")
_ESCAPE = re.compile(r"\\([\s\S])|\r\n?")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}

DEFAULT, STRING, IND_STRING, INPATH, INPATH_SLASH = range(5)

INT64_MAX = 2**63 - 1
_INF = float("inf")
_FLOAT_MIN = 2.2250738585072014e-308  # the smallest normal double


def _unescape_sub(m: re.Match) -> str:
    c = m.group(1)
    if c is None:  # a raw CR or CR LF: Nix normalises it to LF
        return "\n"
    return _ESCAPES.get(c, c)


def unescape(s: str) -> str:
    """Decode ``\\n \\r \\t \\X`` and normalise raw CR/CRLF to LF, as Nix's unescapeStr."""
    if "\\" not in s and "\r" not in s:
        return s
    return _ESCAPE.sub(_unescape_sub, s)


class LexError(NixliteError):
    """A lexical error (invalid integer, path with a trailing slash); ``off`` is where."""

    def __init__(self, message: str, off: int) -> None:
        super().__init__(message)
        self.off = off


def tokenize(text: str) -> tuple[list, list, list]:
    types: list[str] = []
    values: list = []
    offs: list[int] = []
    add_t = types.append
    add_v = values.append
    add_o = offs.append
    stack = [DEFAULT]
    mode = DEFAULT
    pos = 0
    n = len(text)
    default_match = _DEFAULT.match
    no_path_match = _DEFAULT_NO_PATH.match
    no_path_until = 0  # the end of a run of path characters known to hold no path
    end_of_input = None  # where a NUL byte in code ends the input, if one does
    keywords = _KEYWORDS
    chars = _CHARS
    while pos < n:
        if mode == DEFAULT:
            if pos < no_path_until:
                m = no_path_match(text, pos)
                kind = m.lastgroup
                end = m.end()
            else:
                m = default_match(text, pos)
                kind = m.lastgroup
                end = m.end()
                pos = m.start(kind)
                if kind in _SCANNED_A_RUN and (kind != "char" or m.group(kind) in ".-+"):
                    # the path and URI alternatives scanned this run of path characters
                    # in vain; unless a `/` or `:` ends it, they would at every token in it
                    run_end = _PATH_CHARS_RUN.match(text, end).end()
                    if run_end == n or text[run_end] not in "/:":
                        no_path_until = run_end
            if kind == "ID" or kind == "ID2":
                word = m.group(kind)
                add_t(keywords.get(word, "ID"))
                add_v(intern(word))  # one object per name: smaller, faster cache entries
            elif kind == "sstr":
                body = m.group(kind)
                add_t("QUOTE")
                add_v('"')
                add_o(pos - 1)
                if body:
                    add_t("STR")
                    add_v(_no_nul(unescape(body), pos))
                    add_o(pos)
                add_t("QUOTE")
                add_v('"')
                add_o(end - 1)
                pos = end
                continue
            elif kind == "char":
                c = m.group(kind)
                t = chars.get(c)
                if c == "\0":
                    # flex's catch-all rule returns the byte as the token number, and
                    # token 0 is bison's end of file: the parse ends here
                    end_of_input = end
                    break
                if t is None:
                    add_t("CHAR")  # any other character: the parser rejects it
                    add_v(c)
                else:
                    add_t(t)
                    add_v(c)
                    if c == "{":
                        stack.append(DEFAULT)
                    elif c == "}":
                        if len(stack) > 1:
                            stack.pop()
                            mode = stack[-1]
                    elif c == '"':
                        stack.append(STRING)
                        mode = STRING
            elif kind == "op":
                op = m.group(kind)
                add_t(_OPS[op])
                add_v(op)
                if op == "${":
                    stack.append(DEFAULT)
            elif kind == "INT":
                digits = m.group(kind)
                # more than 19 significant digits is out of range, and would be
                # past Python's limit on converting long digit strings
                if len(digits.lstrip("0")) > 19 or int(digits) > INT64_MAX:
                    raise LexError(f"invalid integer '{digits}'", pos)
                value = int(digits)
                add_t("INT")
                add_v(value)
            elif kind == "FLOAT":
                add_t("FLOAT")
                add_v(_float(m.group(kind), pos))
            elif kind == "PATH" or kind == "HPATH" or kind == "pseg" or kind == "hseg":
                s = m.group(kind)
                add_t("HPATH" if kind[0] == "H" or kind[0] == "h" else "PATH")
                add_v(s)
                mode = INPATH_SLASH if s[-1] == "/" else INPATH
                stack.append(mode)
            elif kind == "indopen":
                add_t("IND_STRING_OPEN")
                add_v(m.group(kind))
                stack.append(IND_STRING)
                mode = IND_STRING
            elif kind == "eof":
                break
            else:  # URI, SPATH
                add_t(kind)
                add_v(m.group(kind))
            add_o(pos)
            pos = end
        elif mode == STRING:
            m = _STRING_BODY.match(text, pos)
            end = m.end() if m else pos
            if text.startswith('$"', end):
                end += 1
            if end > pos:
                add_t("STR")
                add_v(_no_nul(unescape(text[pos:end]), pos))
                add_o(pos)
                pos = end
                continue
            if text.startswith("${", pos):
                add_t("DOLLAR_CURLY")
                add_v("${")
                add_o(pos)
                stack.append(DEFAULT)
                mode = DEFAULT
                pos += 2
            elif text[pos] == '"':
                add_t("QUOTE")
                add_v('"')
                add_o(pos)
                stack.pop()
                mode = stack[-1]
                pos += 1
            else:  # a lone `$` or `\` can only be left at the end of the input
                break
        elif mode == IND_STRING:
            m = _IND.match(text, pos)
            kind = m.lastgroup
            s = m.group()
            if kind == "bulk":
                add_t("IND_STR")
                add_v((_no_nul(s, pos), True))
            elif kind == "interp":
                add_t("DOLLAR_CURLY")
                add_v(s)
                stack.append(DEFAULT)
                mode = DEFAULT
            elif kind == "close":
                add_t("IND_STRING_CLOSE")
                add_v(s)
                stack.pop()
                mode = stack[-1]
            else:
                add_t("IND_STR")
                if kind == "dollar":
                    add_v(("$", False))
                elif kind == "quotes":
                    add_v(("''", False))
                elif kind == "escape":
                    add_v((unescape(s[2:]), False))
                else:
                    add_v(("'", False))
            add_o(pos)
            pos = m.end()
        else:  # INPATH / INPATH_SLASH
            if text.startswith("${", pos):
                add_t("DOLLAR_CURLY")
                add_v("${")
                add_o(pos)
                stack[-1] = INPATH
                stack.append(DEFAULT)
                mode = DEFAULT
                pos += 2
                continue
            m = _PATH_BODY.match(text, pos)
            if m:
                s = m.group()
                add_t("STR")
                add_v(s)
                add_o(pos)
                mode = INPATH_SLASH if s[-1] == "/" else INPATH
                stack[-1] = mode
                pos = m.end()
                continue
            if mode == INPATH_SLASH:
                raise LexError("path has a trailing slash", pos)
            # flex matched this character, then gave it back (yyless(0)) and restored
            # the location it had before (unstash): the end of a path is located at
            # the lexeme before it, the last piece of the path
            add_t("PATH_END")
            add_v("")
            add_o(offs[-1])
            stack.pop()
            mode = stack[-1]
    # Where end of file is reported: today's Nix moves a syntax error on it to the end
    # of the last lexeme, which is the end of the input...
    eof_off = n if end_of_input is None else end_of_input
    if mode == INPATH_SLASH:
        # ...but at end of file no lexeme was matched: the location is still the last
        # path piece's
        raise LexError("path has a trailing slash", offs[-1])
    if mode == INPATH:
        # ...except after a path: the rule that ends it at end of file restores the
        # location from before the path's last piece, so both its PATH_END and the end
        # of file sit there
        eof_off = offs[-1]
        add_t("PATH_END")
        add_v("")
        add_o(offs[-2] if len(offs) > 1 else 0)
    add_t("$END")
    add_v("")
    add_o(eof_off)
    return types, values, offs


def _no_nul(s: str, off: int) -> str:
    if "\0" in s:  # Nix's forceNoNullByte
        shown = s.replace("\0", "\u2400")
        raise LexError(
            f"input string '{shown}' cannot be represented as Nix string because it "
            "contains null bytes", off)
    return s


def _float(s: str, off: int) -> float:
    """The literal's value; like Nix (strtod's ERANGE), overflow and underflow to a
    subnormal or zero are errors, while a zero mantissa is just zero."""
    value = float(s)
    mantissa = s.split("e")[0].split("E")[0]
    if value == _INF or (value < _FLOAT_MIN and mantissa.strip("0.") != ""):
        raise LexError(f"invalid float '{s}'", off)
    return value
