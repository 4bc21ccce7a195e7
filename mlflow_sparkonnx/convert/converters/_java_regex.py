"""Java regular expressions as RE2 patterns with the same matches, or a refusal naming the construct.

Spark's RegexTokenizer uses ``java.util.regex`` (no flags); onnxruntime's ``Tokenizer`` uses RE2.
Both find leftmost-first matches, and most syntax means the same in both. What differs is
translated to an explicit form:

- ``\\s`` is ``[ \\t\\n\\x0B\\f\\r]`` in Java; RE2's ``\\s`` lacks ``\\x0B``. ``\\S`` likewise.
- ``.`` excludes ``\\n``, ``\\r``, ``\\u0085``, ``\\u2028`` and ``\\u2029`` in Java; only ``\\n`` in RE2.
- ``\\h`` and ``\\v`` are Java's horizontal and vertical whitespace sets (RE2's ``\\v`` is one character).
- ``\\p{Lower}``, ``\\p{Alpha}``, ``\\p{Punct}`` and the other POSIX classes are ASCII sets in Java.
- ``\\uXXXX``, ``\\e``, ``\\cX``, octal ``\\0nn`` and ``\\Q…\\E`` quoting become RE2 escapes.

``\\w``, ``\\W``, ``\\d``, ``\\D`` are ASCII in both and pass through, as do classes, ranges,
alternation, groups and greedy or lazy quantifiers. Refused, by name: lookaround, atomic groups,
backreferences, possessive quantifiers, inline flags, ``$`` (Java's also matches before a final line
terminator), ``\\b``/``\\B``/``\\G``/``\\Z``, Unicode classes (``\\p{L}``, scripts, blocks: Java's and
RE2's Unicode tables differ by version), class intersection and nested classes, and a ``\\S`` inside
a class.

onnxruntime's ``Tokenizer`` runs RE2 with POSIX leftmost-*longest* matching, where Java takes the
leftmost-*first* match (``a|ab`` on "ab": Java "a", the op "ab"; lazy quantifiers are ignored).
:func:`longest_match_differs` says whether that can change a match: it accepts alternatives of
sequences of single-character sets with greedy quantifiers, where a variable-length set shares no
character with any other set of its sequence and alternatives start with disjoint, mandatory sets.
Then at every position at most one alternative can match and each set consumes exactly its run,
so the first match Java finds is the longest one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

_JAVA_SPACE = "\\t\\n\\x0B\\f\\r "
_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1F\\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": _JAVA_SPACE,
}
#: Inside a class, what each escape contributes; outside, the class it stands for.
_CLASS_ESCAPES = {
    "s": _JAVA_SPACE,
    "h": " \\t\\x{A0}\\x{1680}\\x{180E}\\x{2000}-\\x{200A}\\x{202F}\\x{205F}\\x{3000}",
    "v": "\\n\\x0B\\f\\r\\x{85}\\x{2028}\\x{2029}",
    "w": "\\w",
    "W": "\\W",
    "d": "\\d",
    "D": "\\D",
}
_NEGATED_ESCAPES = {"S": "s", "H": "h", "V": "v"}
_SIMPLE_ESCAPES = {"t": "\\t", "n": "\\n", "r": "\\r", "f": "\\f", "a": "\\x07", "e": "\\x1B"}
_DOT = "[^\\n\\r\\x{85}\\x{2028}\\x{2029}]"
_REFUSED_ESCAPES = {
    "b": "the word boundary \\b",
    "B": "the non-word boundary \\B",
    "G": "the end-of-previous-match anchor \\G",
    "Z": "the end anchor \\Z",
    "k": "a named backreference \\k<…>",
    "R": "the linebreak matcher \\R",
    "X": "the grapheme cluster \\X",
    "N": "a named character \\N{…}",
}


@dataclass
class _Item:
    """One single-character set (RE2 syntax) and how many times it repeats (``None``: unbounded)."""

    charset: str
    least: int = 1
    most: int | None = 1


@dataclass
class _Shape:
    """The translated pattern as alternatives of item sequences, or why it is not that simple."""

    alternatives: list[list[_Item]] = field(default_factory=lambda: [[]])
    not_simple: str | None = None


class UnsupportedJavaRegex(NotImplementedError):
    """A Java pattern whose meaning RE2 does not reproduce; the message names the construct."""


def java_to_re2(pattern: str) -> str:
    """The RE2 pattern that matches what ``pattern`` matches in ``java.util.regex`` (no flags)."""
    return _Translator(pattern).translate()


def longest_match_differs(pattern: str) -> str | None:
    """Why leftmost-longest matching could differ from Java's leftmost-first on ``pattern``, or None."""
    translator = _Translator(pattern)
    translator.translate()
    shape = translator.shape
    if shape.not_simple:
        return shape.not_simple
    alternatives = shape.alternatives
    for items in alternatives:
        if not items:
            return "an empty alternative"
        for i, item in enumerate(items):
            if item.least == item.most:
                continue
            for j, other in enumerate(items):
                if i != j and _overlap(item.charset, other.charset):
                    return (
                        f"the repeated set {item.charset} shares characters with {other.charset} in the same "
                        "sequence"
                    )
    if len(alternatives) > 1:
        for i, first in enumerate(alternatives):
            if first[0].least == 0:
                return "an alternative that may start with nothing"
            for second in alternatives[i + 1 :]:
                if _overlap(first[0].charset, second[0].charset):
                    return f"alternatives that can start with the same character ({first[0].charset})"
    return None


def matches_empty(re2_pattern: str) -> bool:
    """Whether a translated pattern matches the empty string (checked with Python's ``re``)."""
    return re.fullmatch(_as_python(re2_pattern).replace("\\z", "\\Z"), "") is not None


def _code_point(value: int) -> str:
    return f"\\x{{{value:X}}}"


def _as_python(re2_pattern: str) -> str:
    return re.sub(r"\\x\{([0-9A-Fa-f]+)\}", lambda m: f"\\U{int(m.group(1), 16):08X}", re2_pattern)


@functools.lru_cache(maxsize=1)
def _every_code_point() -> str:
    """Every Unicode scalar value but U+0001 (the marker below), as one string."""
    return "".join(chr(c) for c in range(0x110000) if c != 1 and not 0xD800 <= c < 0xE000)


@functools.lru_cache(maxsize=256)
def _members(charset: str) -> frozenset[int]:
    """The code points a single-character RE2 set matches (scanned with Python's ``re``, ASCII classes)."""
    import numpy as np

    compiled = re.compile(_as_python(charset), re.ASCII | re.DOTALL)
    everything = _every_code_point()
    marked = np.frombuffer(compiled.sub("\x01", everything).encode("utf-32-le"), dtype=np.uint32)
    points = np.frombuffer(everything.encode("utf-32-le"), dtype=np.uint32)
    found = set(points[marked == 1].tolist())
    if compiled.fullmatch("\x01"):
        found.add(1)
    return frozenset(found)


def _overlap(first: str, second: str) -> bool:
    return first == second or not _members(first).isdisjoint(_members(second))


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.i = 0
        self.out: list[str] = []
        self.shape = _Shape()

    def item(self, charset: str) -> str:
        """Record a single-character set as the next item of the current alternative."""
        self.shape.alternatives[-1].append(_Item(charset))
        return charset

    def not_simple(self, construct: str) -> None:
        self.shape.not_simple = self.shape.not_simple or construct

    def quantifier(self, text: str) -> None:
        """Apply a quantifier (``*``, ``+``, ``?``, ``{n}``, ``{n,}``, ``{n,m}``) to the last item."""
        items = self.shape.alternatives[-1]
        if not items or (items[-1].least, items[-1].most) != (1, 1):
            self.not_simple("a quantifier on a quantified or missing item")
            return
        least, most = {"*": (0, None), "+": (1, None), "?": (0, 1)}.get(text, (None, None))
        if least is None:
            bounds = re.fullmatch(r"\{(\d+)(,(\d*))?\}", text)
            if not bounds:
                self.not_simple(f"the quantifier {text!r}")
                return
            least = int(bounds.group(1))
            most = least if bounds.group(2) is None else (int(bounds.group(3)) if bounds.group(3) else None)
        items[-1].least, items[-1].most = least, most

    def refuse(self, construct: str) -> UnsupportedJavaRegex:
        return UnsupportedJavaRegex(
            f"the pattern {self.pattern!r} uses {construct}, which onnxruntime's regex engine (RE2) lacks "
            "or matches unlike Java"
        )

    def translate(self) -> str:
        p = self.pattern
        while self.i < len(p):
            c = p[self.i]
            if c == "\\":
                escaped = self.escape(in_class=False)
                if escaped in ("\\A", "\\z"):
                    self.not_simple(f"the anchor {escaped}")
                else:
                    self.item(escaped)
                self.out.append(escaped)
            elif c == "[":
                self.out.append(self.item(self.char_class()))
            elif c == "(":
                self.not_simple("a group")
                self.out.append(self.group())
            elif c == ")":
                self.out.append(c)
                self.i += 1
            elif c == ".":
                self.out.append(self.item(_DOT))
                self.i += 1
            elif c == "|":
                self.shape.alternatives.append([])
                self.out.append(c)
                self.i += 1
            elif c == "^":
                self.not_simple("the anchor ^")
                self.out.append(c)
                self.i += 1
            elif c == "$":
                raise self.refuse("'$' (Java's also matches before a final line terminator)")
            elif c in "*+?{":
                self.out.append(self.quantified())
            else:
                self.out.append(self.item(c if c.isalnum() else _code_point(ord(c))))
                self.i += 1
        return "".join(self.out)

    def quantified(self) -> str:
        """A quantifier at ``self.i``, refused when possessive; a lazy one makes the pattern not simple."""
        p = self.pattern
        if p[self.i] == "{":
            bounds = re.match(r"\{\d+(,\d*)?\}", p[self.i :])
            if not bounds:  # a literal '{' in Java
                self.i += 1
                return self.item(_code_point(ord("{")))
            text = bounds.group(0)
        else:
            text = p[self.i]
        self.i += len(text)
        self.quantifier(text)
        if self.i < len(p) and p[self.i] == "+":
            raise self.refuse(f"the possessive quantifier '{text}+'")
        if self.i < len(p) and p[self.i] == "?":
            self.not_simple(f"the lazy quantifier '{text}?'")
            self.i += 1
            return text + "?"
        return text

    def group(self) -> str:
        p, i = self.pattern, self.i
        if not p.startswith("(?", i):
            self.i += 1
            return "("
        if p.startswith("(?:", i):
            self.i += 3
            return "(?:"
        for prefix, construct in (
            ("(?=", "a lookahead '(?='"),
            ("(?!", "a negative lookahead '(?!'"),
            ("(?<=", "a lookbehind '(?<='"),
            ("(?<!", "a negative lookbehind '(?<!'"),
            ("(?>", "an atomic group '(?>'"),
        ):
            if p.startswith(prefix, i):
                raise self.refuse(construct)
        named = re.match(r"\(\?<([a-zA-Z][a-zA-Z0-9]*)>", p[i:])
        if named:  # a capture is a group here: nothing reads what it captured
            self.i += named.end()
            return "(?:"
        raise self.refuse(f"inline flags '{p[i : i + 4]}…'")

    def escape(self, in_class: bool) -> str:
        p = self.pattern
        if self.i + 1 >= len(p):
            raise self.refuse("a trailing backslash")
        c = p[self.i + 1]
        self.i += 2
        if c in _CLASS_ESCAPES:
            body = _CLASS_ESCAPES[c]
            return body if in_class or body.startswith("\\") and len(body) == 2 else f"[{body}]"
        if c in _NEGATED_ESCAPES:
            if in_class:
                raise self.refuse(f"'\\{c}' inside a character class")
            return f"[^{_CLASS_ESCAPES[_NEGATED_ESCAPES[c]]}]"
        if c in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[c]
        if c == "u":
            return self.hex_escape(4, "\\u")
        if c == "x":
            braced = re.match(r"\{([0-9A-Fa-f]+)\}", p[self.i :])
            if braced:
                self.i += braced.end()
                return _code_point(int(braced.group(1), 16))
            return self.hex_escape(2, "\\x")
        if c == "0":
            octal = re.match(r"[0-3]?[0-7]{1,2}", p[self.i :])
            if not octal:
                raise self.refuse("a malformed octal escape '\\0'")
            self.i += octal.end()
            return _code_point(int(octal.group(0), 8))
        if c == "c":
            if self.i >= len(p):
                raise self.refuse("a malformed '\\c' escape")
            self.i += 1
            return _code_point(ord(p[self.i - 1]) ^ 64)
        if c in "pP":
            return self.property_class(c == "P", in_class)
        if c == "Q":
            end = p.find("\\E", self.i)
            literal = p[self.i :] if end < 0 else p[self.i : end]
            self.i = len(p) if end < 0 else end + 2
            return "".join(ch if ch.isalnum() else _code_point(ord(ch)) for ch in literal)
        if c.isdigit():
            raise self.refuse(f"the backreference '\\{c}'")
        if c in _REFUSED_ESCAPES:
            raise self.refuse(_REFUSED_ESCAPES[c])
        if c == "A" and not in_class:
            return "\\A"
        if c == "z" and not in_class:
            return "\\z"
        if c.isalpha():
            raise self.refuse(f"the escape '\\{c}'")
        return _code_point(ord(c))  # an escaped metacharacter or symbol: that character

    def hex_escape(self, width: int, escape: str) -> str:
        """The code point of the ``width`` hex digits at ``self.i`` (after ``escape``)."""
        digits = self.pattern[self.i : self.i + width]
        if not re.fullmatch(f"[0-9A-Fa-f]{{{width}}}", digits):
            raise self.refuse(f"a malformed '{escape}' escape")
        self.i += width
        return _code_point(int(digits, 16))

    def property_class(self, negated: bool, in_class: bool) -> str:
        p = self.pattern
        braced = re.match(r"\{([A-Za-z_]+)\}", p[self.i :])
        name = braced.group(1) if braced else p[self.i : self.i + 1]
        self.i += braced.end() if braced else 1
        posix = _POSIX.get(name)
        if posix is None:
            raise self.refuse(f"the Unicode class '\\{'P' if negated else 'p'}{{{name}}}'")
        if negated and in_class:
            raise self.refuse(f"'\\P{{{name}}}' inside a character class")
        if in_class:
            return posix
        return f"[^{posix}]" if negated else f"[{posix}]"

    def char_class(self) -> str:
        p = self.pattern
        self.i += 1
        parts = ["["]
        if self.i < len(p) and p[self.i] == "^":
            parts.append("^")
            self.i += 1
        first = True
        while self.i < len(p):
            c = p[self.i]
            if c == "]" and not first:
                self.i += 1
                parts.append("]")
                return "".join(parts)
            if c == "[":
                raise self.refuse("a nested character class")
            if p.startswith("&&", self.i):
                raise self.refuse("a class intersection '&&'")
            if c == "\\":
                parts.append(self.escape(in_class=True))
            elif c == "]":  # a ']' first in the class is a literal in Java
                parts.append("\\]")
                self.i += 1
            else:
                parts.append(c if c.isalnum() or c in "-^" else _code_point(ord(c)))
                self.i += 1
            first = False
        raise self.refuse("an unclosed character class")
