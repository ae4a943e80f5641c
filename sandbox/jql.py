"""The subset of Jira's JQL the ticketing sandbox understands.

Clauses on ``labels``, ``project``, ``parent``, ``issuekey`` (alias ``key``),
``issuetype`` (alias ``type``), ``status`` and ``summary``, with ``=``, ``!=``,
``IN``, ``NOT IN``, ``IS [NOT] EMPTY`` and (for ``summary``) ``~`` / ``!~``,
combined with ``AND``, ``OR``, ``NOT`` and parentheses, then an optional
``ORDER BY`` on ``created``, ``key`` or ``id``.  As in Jira, values compare
without regard to case, ``!=`` and ``NOT IN`` never match an empty field, and
a query without any restriction is refused.  Anything else is refused with
Jira's wording, never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Values = Mapping[str, Sequence[str]]
"""An issue as JQL sees it: field name -> values (empty when the field is empty)."""

Predicate = Callable[[Values], bool]

ALIASES = {"key": "issuekey", "type": "issuetype"}
OPERATORS: dict[str, frozenset[str]] = {
    "labels": frozenset({"=", "!=", "in", "not in", "is", "is not"}),
    "project": frozenset({"=", "!=", "in", "not in"}),
    "parent": frozenset({"=", "!=", "in", "not in", "is", "is not"}),
    "issuekey": frozenset({"=", "!=", "in", "not in"}),
    "issuetype": frozenset({"=", "!=", "in", "not in"}),
    "status": frozenset({"=", "!=", "in", "not in"}),
    "summary": frozenset({"~", "!~", "is", "is not"}),
}
ORDER_FIELDS = frozenset({"created", "key", "issuekey", "id"})
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<symbol>!=|!~|=|~|\(|\)|,|<=|>=|<|>)
      | (?P<word>[^\s=!~<>(),"']+)
    )""",
    re.VERBOSE,
)


class JqlError(ValueError):
    """The query cannot be run; the message is what Jira would say."""


@dataclass(frozen=True)
class Token:
    """One lexical token; ``quoted`` strings are never keywords."""

    text: str
    quoted: bool = False

    def keyword(self, *words: str) -> bool:
        """Whether this is one of the (case-insensitive) reserved ``words``."""
        return not self.quoted and self.text.lower() in words


@dataclass(frozen=True)
class Query:
    """A compiled query: which issues match, and in which order."""

    matches: Predicate
    order: list[tuple[str, bool]]
    """(field, descending) pairs, most significant first."""


ValueCheck = Callable[[str, str], str | None]
"""(field, value) -> Jira's error message when the value does not exist (e.g. an unknown project)."""


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; unbalanced quotes are a syntax error."""
    tokens: list[Token] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {position}.")
        position = match.end()
        if match["string"] is not None:
            tokens.append(Token(re.sub(r"\\(.)", r"\1", match["string"][1:-1]), quoted=True))
        else:
            tokens.append(Token(match["symbol"] or match["word"]))
    return tokens


def compile_jql(text: str, check: ValueCheck) -> Query:
    """Compile ``text``; ``JqlError`` when it is invalid, unsupported or unbounded."""
    return _Parser(tokenize(text), check).query()


class _Parser:
    """Recursive descent over the token list."""

    def __init__(self, tokens: list[Token], check: ValueCheck) -> None:
        self.tokens = tokens
        self.position = 0
        self.check = check

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise JqlError("Error in the JQL Query: the query ended unexpectedly.")
        self.position += 1
        return token

    def expect(self, text: str) -> None:
        token = self.take()
        if token.quoted or token.text.lower() != text:
            raise JqlError(f"Error in the JQL Query: expected '{text}' but got '{token.text}'.")

    def at(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and (token.keyword(*words) or (not token.quoted and token.text in words))

    def query(self) -> Query:
        if self.peek() is None or self.at("order"):
            raise JqlError(UNBOUNDED)
        matches = self.expression()
        order = self.order_by() if self.at("order") else []
        if self.peek() is not None:
            raise JqlError(f"Error in the JQL Query: unexpected '{self.take().text}'.")
        return Query(matches, order)

    def expression(self) -> Predicate:
        terms = [self.term()]
        while self.at("or"):
            self.take()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else lambda issue: any(t(issue) for t in terms)

    def term(self) -> Predicate:
        factors = [self.factor()]
        while self.at("and"):
            self.take()
            factors.append(self.factor())
        return factors[0] if len(factors) == 1 else lambda issue: all(f(issue) for f in factors)

    def factor(self) -> Predicate:
        if self.at("not"):
            self.take()
            inner = self.factor()
            return lambda issue: not inner(issue)
        if self.at("("):
            self.take()
            inner = self.expression()
            self.expect(")")
            return inner
        return self.clause()

    def clause(self) -> Predicate:
        name = self.take()
        field = ALIASES.get(name.text.lower(), name.text.lower())
        if field not in OPERATORS:
            raise JqlError(f"Field '{name.text}' does not exist or you do not have permission to view it.")
        operator = self.operator()
        if operator not in OPERATORS[field]:
            raise JqlError(f"The operator '{operator.upper()}' is not supported by the '{name.text}' field.")
        if operator in ("is", "is not"):
            if not self.take().keyword("empty", "null"):
                raise JqlError(f"Error in the JQL Query: '{operator.upper()}' must be followed by EMPTY.")
            return _empty(field, negate=operator == "is not")
        values = self.values(field) if operator in ("in", "not in") else [self.value(field)]
        if operator in ("~", "!~"):
            return _contains(field, values[0], negate=operator == "!~")
        return _equals(field, values, negate=operator in ("!=", "not in"))

    def operator(self) -> str:
        token = self.take()
        if token.keyword("in"):
            return "in"
        if token.keyword("is"):
            if self.at("not"):
                self.take()
                return "is not"
            return "is"
        if token.keyword("not"):
            self.expect("in")
            return "not in"
        if token.quoted or token.text not in ("=", "!=", "~", "!~", "<", ">", "<=", ">="):
            raise JqlError(f"Error in the JQL Query: expected an operator but got '{token.text}'.")
        return token.text

    def values(self, field: str) -> list[str]:
        self.expect("(")
        found = [self.value(field)]
        while self.at(","):
            self.take()
            found.append(self.value(field))
        self.expect(")")
        return found

    def value(self, field: str) -> str:
        token = self.take()
        if not token.quoted and (token.text in ("(", ")", ",") or token.keyword("and", "or", "not", "order")):
            raise JqlError(f"Error in the JQL Query: expected a value but got '{token.text}'.")
        problem = self.check(field, token.text)
        if problem:
            raise JqlError(problem)
        return token.text

    def order_by(self) -> list[tuple[str, bool]]:
        self.expect("order")
        self.expect("by")
        order = [self.order_item()]
        while self.at(","):
            self.take()
            order.append(self.order_item())
        return order

    def order_item(self) -> tuple[str, bool]:
        name = self.take().text.lower()
        if name not in ORDER_FIELDS:
            raise JqlError(f"Sorting by '{name}' is not supported by the sandbox; use created, key or id.")
        descending = False
        if self.at("asc", "desc"):
            descending = self.take().text.lower() == "desc"
        return ALIASES.get(name, name), descending


def _equals(field: str, wanted: list[str], negate: bool) -> Predicate:
    """``=``/``IN`` (any value equal) and ``!=``/``NOT IN`` (field set, no value equal)."""
    folded = {value.casefold() for value in wanted}

    def predicate(issue: Values) -> bool:
        values = [v.casefold() for v in issue.get(field, ())]
        hit = any(v in folded for v in values)
        return (bool(values) and not hit) if negate else hit

    return predicate


def _contains(field: str, text: str, negate: bool) -> Predicate:
    """``~``: every word of ``text`` occurs in the field (Jira's text search, simplified)."""
    words = text.casefold().split()

    def predicate(issue: Values) -> bool:
        haystack = " ".join(issue.get(field, ())).casefold()
        return all(word in haystack for word in words) != negate

    return predicate


def _empty(field: str, negate: bool) -> Predicate:
    """``IS EMPTY`` / ``IS NOT EMPTY``."""
    return lambda issue: (not issue.get(field)) != negate
