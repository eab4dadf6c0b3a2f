"""The `query:` text as tokens: numbers, quoted strings and names, operators, punctuation."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


class SearchSyntaxError(ValueError):
    """What is wrong and where: `column` is 1-based in the query text."""

    def __init__(self, message: str, column: int, text: str) -> None:
        near = text[column - 1 : column + 19]
        where = f"at column {column}" + (f" (near {near!r})" if near else " (at the end)")
        super().__init__(f"{message} {where}")
        self.column = column


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
      | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
      | (?P<quoted>`(?:[^`]|``)*`)
      | (?P<op>==|!=|<>|>=|<=|=|>|<)
      | (?P<punct>[().,@])
      | (?P<name>[A-Za-z_][A-Za-z0-9_\-/:]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "name" else ""


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise SearchSyntaxError(f"unexpected character {text[position]!r}", position + 1, text)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), position + 1))
        position = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def unquote(token: Token) -> str:
    quote, body = token.text[0], token.text[1:-1]
    body = body.replace(quote * 2, quote)
    return re.sub(r"\\(.)", r"\1", body) if quote != "`" else body


# The integers MongoDB stores (64-bit); a whole number beyond them is sent as a double.
_INT64 = range(-(2**63), 2**63)


def as_number(text: str) -> float | int:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    if not re.fullmatch(r"-?\d+", text):
        return value
    # Read exactly, not through the double: `9007199254740993` is not `...992`.
    whole = int(text)
    return whole if whole in _INT64 else value
