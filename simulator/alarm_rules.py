"""CloudWatch composite alarm rules, evaluated the way CloudWatch does (moto 5.2.5 has no composite alarms).

Grammar: ALARM|OK|INSUFFICIENT_DATA("name or ARN"), AT_LEAST(M[%], STATE, ("a", "b", ...)), TRUE, FALSE,
NOT, AND, OR (AND binds tighter), parentheses."""

from __future__ import annotations

import re
from collections.abc import Callable

_TOKEN = re.compile(r'\s*(AT_LEAST|ALARM|OK|INSUFFICIENT_DATA|AND|OR|NOT|TRUE|FALSE|\(|\)|,|"[^"]*"|\d+%?)')
_STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")


def alarm_name(reference: str) -> str:
    """A rule names an alarm by name or by ARN (`arn:aws:cloudwatch:<region>:<account>:alarm:<name>`)."""
    return reference.split(":alarm:", 1)[-1]


def referenced_alarms(rule: str) -> list[str]:
    """Every alarm the rule names, in order."""
    return [alarm_name(token[1:-1]) for token in _tokens(rule) if token.startswith('"')]


def evaluate(rule: str, state_of: Callable[[str], str]) -> bool:
    """Whether the rule is TRUE given each named alarm's state (`state_of(name)` -> ALARM, OK or INSUFFICIENT_DATA)."""
    parser = _Parser(_tokens(rule), state_of)
    value = parser.expression()
    if parser.position != len(parser.tokens):
        raise ValueError(f"unexpected {parser.tokens[parser.position]!r} in alarm rule {rule!r}")
    return value


def _tokens(rule: str) -> list[str]:
    tokens, position = [], 0
    while position < len(rule.rstrip()):
        match = _TOKEN.match(rule, position)
        if match is None:
            raise ValueError(f"cannot read alarm rule {rule!r} at {rule[position : position + 20]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], state_of: Callable[[str], str]) -> None:
        self.tokens, self.position, self.state_of = tokens, 0, state_of

    def expression(self) -> bool:
        value = self.conjunction()
        while self._accept("OR"):
            value = self.conjunction() or value
        return value

    def conjunction(self) -> bool:
        value = self.unary()
        while self._accept("AND"):
            value = self.unary() and value
        return value

    def unary(self) -> bool:
        if self._accept("NOT"):
            return not self.unary()
        if self._accept("("):
            value = self.expression()
            self._expect(")")
            return value
        word = self._next()
        if word in ("TRUE", "FALSE"):
            return word == "TRUE"
        if word in _STATES:
            self._expect("(")
            name = self._name()
            self._expect(")")
            return self.state_of(name) == word
        if word == "AT_LEAST":
            self._expect("(")
            threshold = self._next()
            self._expect(",")
            state = self._next()
            self._expect(",")
            self._expect("(")
            names = [self._name()]
            while self._accept(","):
                names.append(self._name())
            self._expect(")")
            self._expect(")")
            matching = sum(self.state_of(name) == state for name in names)
            if threshold.endswith("%"):
                return matching * 100 >= int(threshold[:-1]) * len(names)
            return matching >= int(threshold)
        raise ValueError(f"unexpected {word!r} in alarm rule")

    def _name(self) -> str:
        token = self._next()
        if not token.startswith('"'):
            raise ValueError(f"expected an alarm name, found {token!r}")
        return alarm_name(token[1:-1])

    def _next(self) -> str:
        if self.position >= len(self.tokens):
            raise ValueError("alarm rule ends too early")
        self.position += 1
        return self.tokens[self.position - 1]

    def _accept(self, token: str) -> bool:
        if self.position < len(self.tokens) and self.tokens[self.position] == token:
            self.position += 1
            return True
        return False

    def _expect(self, token: str) -> None:
        found = self._next()
        if found != token:
            raise ValueError(f"expected {token!r}, found {found!r}")
