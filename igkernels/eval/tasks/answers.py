"""Answer normalisation shared by the math-style tasks (gsm8k, math500, countdown, sudoku).

* ``last_tag`` / ``last_boxed``: where a completion states its final answer.
* ``last_number`` / ``parse_number`` / ``numbers_equal``: GSM8K-style numeric answers
  ("$1,234.00", "18%", "3/4"), compared as exact rationals.
* ``latex_equal``: MATH-style LaTeX answers. String normalisation (the usual Hendrycks-MATH
  rules) first, then a small LaTeX-to-sympy converter for the simple forms final answers take
  (fractions, roots, powers, pi, products, tuples and intervals). ``sympy.parsing.latex`` needs
  antlr, so the converter is a recursive-descent parser of its own that builds sympy objects
  directly: model output is never handed to ``eval`` or ``sympy.sympify``.
"""
from __future__ import annotations

import math
import re
from fractions import Fraction

import sympy

# ------------------------------------------------------------------------------ where the answer is

def last_tag(text: str, tag: str) -> str | None:
    """The stripped content of the last ``<tag>...</tag>`` (None when there is none)."""
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.S | re.I)
    return found[-1].strip() if found else None


_BOX = re.compile(r"\\(?:boxed|fbox)\s*")


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` / ``\\fbox{...}``, braces balanced; also the
    brace-less ``\\boxed 5`` form. None when there is none or it is unterminated."""
    starts = [m.end() for m in _BOX.finditer(text)]
    if not starts:
        return None
    i = starts[-1]
    if i >= len(text):
        return None
    if text[i] != "{":
        # "\boxed 5": the token up to the next space or "$"
        m = re.match(r"[^\s$]+", text[i:])
        return m.group(0) if m else None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j].strip()
    return None

# ------------------------------------------------------------------------------ plain numbers

# A number as prose writes it: thousands commas only in groups of three (so "3,4" stays two
# numbers), an optional decimal part and an optional "/denominator". The look-behind keeps the
# minus of "10-5" from being read as a sign.
_INT = r"(?:\d{1,3}(?:,\d{3})+|\d+)"
_NUM = rf"(?<![\w.])-?(?:{_INT}(?:\.\d+)?|\.\d+)(?:\s*/\s*{_INT}(?:\.\d+)?)?"
_NUMBER = re.compile(_NUM)


def _plain_latex(text: str) -> str:
    """LaTeX that numeric answers carry, in plain form: \\frac{a}{b} -> a/b, "1{,}234" -> 1,234,
    unicode minus, thin spaces."""
    text = text.replace("\u2212", "-").replace("{,}", ",")
    text = re.sub(r"\\[,!;: ]", "", text)
    return re.sub(r"\\[dt]?frac\s*\{\s*([^{}]*?)\s*\}\s*\{\s*([^{}]*?)\s*\}", r"\1/\2", text)


def all_numbers(text: str) -> list[str]:
    """Every number in ``text``, in order, canonical (see ``canonical_number``)."""
    out = []
    for m in _NUMBER.finditer(_plain_latex(text)):
        c = canonical_number(m.group(0))
        if c is not None:
            out.append(c)
    return out


def last_number(text: str) -> str | None:
    """The last number in ``text``, canonical; None when there is none."""
    found = all_numbers(text)
    return found[-1] if found else None


def parse_number(text: str) -> Fraction | None:
    """The exact value of a number string ("1,234", "-18.00", "3/4", "$18.", "18%"); None when
    ``text`` is not one number (units, currency and percent signs around it are ignored)."""
    found = _NUMBER.findall(_plain_latex(text))
    if len(found) != 1:
        return None
    s = re.sub(r"\s+", "", found[0]).replace(",", "")
    try:
        if "/" in s:
            num, den = s.split("/")
            return Fraction(num) / Fraction(den)
        return Fraction(s)
    except (ValueError, ZeroDivisionError):
        return None


def canonical_number(text: str) -> str | None:
    """``text`` as one number in a fixed spelling: no commas, no trailing decimal zeros
    ("18.00" -> "18"), fractions kept as "a/b". None when it is not one number."""
    value = parse_number(text)
    if value is None:
        return None
    if value.denominator == 1:
        return str(value.numerator)
    s = re.sub(r"\s+", "", _NUMBER.findall(_plain_latex(text))[0]).replace(",", "")
    return s if "/" in s else s.rstrip("0")


def numbers_equal(a: str, b: str, rel_tol: float = 1e-6) -> bool:
    """Equal values: exact when both are integers, else within ``rel_tol`` (decimals the model
    rounded, e.g. 0.333333 for 1/3)."""
    x, y = parse_number(a), parse_number(b)
    if x is None or y is None:
        return False
    if x.denominator == 1 and y.denominator == 1:
        return x == y
    return abs(x - y) <= rel_tol * max(abs(x), abs(y))

# ------------------------------------------------------------------------------ LaTeX answers

_TEXT_CMD = r"\\(?:text|textbf|textit|mbox|mathrm|mathbf|operatorname)"


def normalize_latex(ans: str) -> str:
    """A LaTeX final answer in canonical spelling (Hendrycks-MATH style rules): no ``$``,
    ``\\left``/``\\right``, spacing commands, spaces, degree signs, percent signs, units in
    ``\\text``; ``\\dfrac``/``\\tfrac`` -> ``\\frac``; ``\\frac12`` -> ``\\frac{1}{2}``;
    ``x = 5`` -> ``5``; ``(B)`` -> ``B``."""
    s = ans.strip().replace("\n", "")
    s = s.replace("\\$", "").replace("$", "")
    s = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])", "", s)
    s = re.sub(r"\\(?:displaystyle|!|,|;|:| )", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree", "", s)
    s = s.replace("\\%", "").replace("%", "")
    # A trailing unit after a number ("5\text{ cm}", "3\mbox{ inches}^2"): dropped, as MATH
    # golds give the bare number.
    m = re.match(rf"^(.*\d.*?)\s*{_TEXT_CMD}\{{\s*[A-Za-z][A-Za-z .]*\}}(?:\^\{{?\d\}}?)?$", s)
    if m:
        s = m.group(1)
    s = re.sub(rf"{_TEXT_CMD}\{{([^{{}}]*)\}}", r"\1", s)
    s = re.sub(r"\s+", "", s)
    s = re.sub(r"\.$", "", s)
    # "x=5", "y \in [1,2]": the value, when the left side is a short name
    m = re.match(r"^[A-Za-z](?:_\{?\w+\}?)?(?:=|\\in)(.+)$", s)
    if m:
        s = m.group(1)
    s = _brace_bare_args(s)
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):  # "10,000" (one number, not a list)
        s = s.replace(",", "")
    m = re.fullmatch(r"\(([A-Za-z])\)", s)  # a multiple-choice letter in parentheses
    if m:
        s = m.group(1)
    if s.startswith("."):
        s = "0" + s
    return s


def _brace_bare_args(s: str) -> str:
    """\\frac12 -> \\frac{1}{2}, \\frac1{x} -> \\frac{1}{x}, \\sqrt2 -> \\sqrt{2}."""
    s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    s = re.sub(r"\\frac(\w)(\w)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac(\w)(?=\{)", r"\\frac{\1}", s)
    return re.sub(r"\\frac(\{[^{}]*\})(\w)", r"\\frac\1{\2}", s)


class _Unparsable(Exception):
    pass


# Tokens of the LaTeX subset the converter reads; anything else makes it give up.
_TOKEN = re.compile(r"\d+(?:\.\d+)?|\.\d+|\\[A-Za-z]+|[A-Za-z]|[-+*/^(){}\[\]]")
_CONSTANTS = {"\\pi": sympy.pi, "\\infty": sympy.oo, "\\inf": sympy.oo}
_TIMES = {"*", "\\cdot", "\\times"}
# Bounds on powers: sympy evaluates 10^{10^{10}} or (10^{999})^{999} eagerly into a huge integer.
_MAX_EXPONENT = 1000
_MAX_BITS = 10_000


class _LatexParser:
    """Recursive descent over: sums, products (explicit and implicit), quotients, unary signs,
    powers, braces/parentheses, \\frac, \\sqrt[n]{}, numbers, single-letter symbols, \\pi."""

    def __init__(self, s: str) -> None:
        pos, self.toks = 0, []
        for m in _TOKEN.finditer(s):
            if m.start() != pos:
                raise _Unparsable(s)
            self.toks.append(m.group(0))
            pos = m.end()
        if pos != len(s) or not self.toks:
            raise _Unparsable(s)
        self.i = 0

    def parse(self) -> sympy.Expr:
        e = self.expr()
        if self.i != len(self.toks):
            raise _Unparsable(self.toks[self.i])
        return e

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> str:
        t = self.peek()
        if t is None or (want is not None and t != want):
            raise _Unparsable(want)
        self.i += 1
        return t

    def expr(self) -> sympy.Expr:
        e = self.term()
        while self.peek() in ("+", "-"):
            e = e + self.term() if self.take() == "+" else e - self.term()
        return e

    def term(self) -> sympy.Expr:
        e = self.unary()
        while True:
            t = self.peek()
            if t in _TIMES:
                self.take()
                e = e * self.unary()
            elif t in ("/", "\\div"):
                self.take()
                e = e / self.unary()
            elif t is not None and self.starts_atom(t):  # implicit product: 2\sqrt{2}, 3(x+1)
                e = e * self.power()
            else:
                return e

    def unary(self) -> sympy.Expr:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        exp = self.unary() if self.peek() in ("-", "+") else self.atom()
        if exp.is_number and abs(sympy.N(exp)) > _MAX_EXPONENT:
            raise _Unparsable("exponent")
        if base.is_Rational and exp.is_Rational and \
                max(abs(base.p), base.q).bit_length() * abs(exp) > _MAX_BITS:
            raise _Unparsable("power too large")
        return base ** exp

    @staticmethod
    def starts_atom(t: str) -> bool:
        return t[0].isdigit() or t[0] == "." or t.isalpha() or t in ("(", "{", "\\frac", "\\sqrt") \
            or t in _CONSTANTS

    def group(self) -> sympy.Expr:
        """A command argument: {expr} or a single atom."""
        if self.peek() == "{":
            self.take()
            e = self.expr()
            self.take("}")
            return e
        return self.atom()

    def atom(self) -> sympy.Expr:
        t = self.take()
        if t[0].isdigit() or t[0] == ".":
            return sympy.Rational(t)  # exact: 0.5 == 1/2
        if t.isalpha():
            return sympy.Symbol(t)
        if t in _CONSTANTS:
            return _CONSTANTS[t]
        if t in ("(", "{"):
            e = self.expr()
            self.take(")" if t == "(" else "}")
            return e
        if t == "\\frac":
            num = self.group()
            return num / self.group()
        if t == "\\sqrt":
            if self.peek() == "[":
                self.take()
                n = self.expr()
                self.take("]")
                return sympy.root(self.group(), n)
            return sympy.sqrt(self.group())
        raise _Unparsable(t)


def latex_value(s: str) -> sympy.Expr | None:
    """The sympy value of a normalised simple LaTeX expression; None when it is outside the
    subset the converter reads."""
    try:
        return _LatexParser(s).parse()
    except (_Unparsable, ZeroDivisionError, TypeError, ValueError, RecursionError):
        return None


def _split_top(s: str) -> list[str]:
    """``s`` split at the commas outside any brackets."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def _values_equal(a: str, b: str) -> bool:
    if a == b:
        return True
    x, y = latex_value(a), latex_value(b)
    if x is None or y is None:
        return False
    try:
        if x.free_symbols or y.free_symbols:
            return sympy.simplify(x - y) == 0
        if x == y:
            return True
        vx, vy = complex(sympy.N(x)), complex(sympy.N(y))
        # non-finite values (infinities, overflow) are equal only when identical, caught above
        if not all(math.isfinite(v) for v in (vx.real, vx.imag, vy.real, vy.imag)):
            return False
        return abs(vx - vy) <= 1e-6 * max(abs(vx), abs(vy))
    except (TypeError, ValueError, OverflowError, RecursionError):
        return False


def _bracketed(s: str) -> tuple[str, str, str] | None:
    """(open, body, close) when ``s`` is one bracketed tuple or interval: (1,2), [0,1), \\{1,2\\}."""
    if s.startswith("\\{") and s.endswith("\\}"):
        return "{", s[2:-2], "}"
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and len(_split_top(s[1:-1])) > 1:
        return s[0], s[1:-1], s[-1]
    return None


def latex_equal(pred: str, gold: str) -> bool:
    """Whether two LaTeX final answers are equivalent: equal after ``normalize_latex``, or equal
    in value (exactly, or within a relative 1e-6 for decimals); tuples and intervals element by
    element with the same brackets, sets and bare lists ("1, 2") in any order."""
    a, b = normalize_latex(pred), normalize_latex(gold)
    if a == b:
        return True
    ba, bb = _bracketed(a), _bracketed(b)
    if ba or bb:
        if not (ba and bb) or ba[0] != bb[0] or ba[2] != bb[2]:
            return False
        xs, ys = _split_top(ba[1]), _split_top(bb[1])
        return _elements_equal(xs, ys, ordered=ba[0] != "{")
    xs, ys = _split_top(a), _split_top(b)
    if len(xs) > 1 or len(ys) > 1:
        return _elements_equal(xs, ys, ordered=False)
    return _values_equal(a, b)


def _elements_equal(xs: list[str], ys: list[str], ordered: bool) -> bool:
    if len(xs) != len(ys):
        return False
    if ordered:
        return all(_values_equal(x, y) for x, y in zip(xs, ys))
    rest = list(ys)
    for x in xs:
        hit = next((k for k, y in enumerate(rest) if _values_equal(x, y)), None)
        if hit is None:
            return False
        rest.pop(hit)
    return True
