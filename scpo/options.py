"""Algorithm options given as text (``-o key=value``, ``"po:key=value"``): the one parser.

A value is converted by what the algorithm's constructor declares for that option:

- ``bool``: only ``true``/``false``/``yes``/``no``/``1``/``0`` (any case);
- ``int`` / ``float``: a number (a ``float`` option keeps ``2`` as the integer 2, so labels stay short);
- ``str``: the text itself;
- ``... | None``: ``none`` (any case) is None;
- ``Literal["a", "b"]`` (a choice): one of the values, else a ValueError naming them;
- anything else (``dict``, no annotation, an unknown option): a Python literal, or the text.

Anything that does not convert is a one-line ``ValueError`` naming the option and the value.
"""

from __future__ import annotations

import ast
import inspect
import io
import tokenize
import types
import typing
from dataclasses import dataclass
from typing import Any

from scpo.algorithms import REGISTRY

BOOL_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
# options of the engine itself, as a benchmark entry may set them (``"po:pop_size=36"``)
ENGINE_OPTIONS: dict[str, Any] = {"pop_size": int | None}


@dataclass(frozen=True)
class OptionSpec:
    """One constructor option: name, declared type (or None), default (``inspect.Parameter.empty`` if none)."""

    name: str
    annotation: Any
    default: Any

    @property
    def type_name(self) -> str:
        """The declared type as written: ``int | None``, ``bool``, ``any`` (``str`` for a choice)."""
        if self.annotation is None:
            return "any"
        if self.choices is not None:
            return "str"
        if isinstance(self.annotation, type):
            return self.annotation.__name__
        return str(self.annotation).replace("typing.", "").replace("NoneType", "None")


    @property
    def choices(self) -> tuple | None:
        """The allowed values of an option typed ``Literal[...]``, else None."""
        return choices_of(self.annotation)


def choices_of(annotation: Any) -> tuple | None:
    """``Literal["a", "b"]`` -> ``("a", "b")``; None for any other annotation."""
    return typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else None


def option_specs(algorithm: str) -> list[OptionSpec]:
    """The options of registered algorithm ``algorithm``, read from its constructor."""
    if algorithm not in REGISTRY:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose from {', '.join(sorted(REGISTRY))}")
    init = REGISTRY[algorithm].__init__
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # an annotation that does not resolve: treat the options as untyped
        hints = {}
    parameters = [p for p in inspect.signature(init).parameters.values()
                  if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return [OptionSpec(p.name, hints.get(p.name), p.default) for p in parameters]


def describe(algorithm: str) -> str:
    """The first line of the algorithm's docstring."""
    doc = inspect.getdoc(REGISTRY[algorithm]) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _members(annotation: Any) -> tuple[set, bool]:
    """The non-None types of an annotation and whether None is allowed."""
    if annotation is None:
        return set(), False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = set(typing.get_args(annotation))
        return {a for a in args if a is not type(None)}, type(None) in args
    return {annotation}, False


JSON_WORDS = {"true": "True", "false": "False", "null": "None"}


def literal(text: str) -> Any:
    """Untyped value: ``true``/``false``/``none`` (any case), a Python literal, or else the text.

    Inside a dict or list, JSON's ``true``/``false``/``null`` are read as Python's ``True``/
    ``False``/``None``, so ``{"CMA_diagonal": true}`` is the dict a JSON user means."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false", "none", "null"):
        return {"true": True, "false": False, "none": None, "null": None}[lowered]
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    try:
        return ast.literal_eval(_python_words(stripped))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError, tokenize.TokenError,
            IndentationError):
        return stripped


def _python_words(text: str) -> str:
    """``text`` with the bare names ``true``/``false``/``null`` as Python's (strings left alone)."""
    tokens = [(kind, JSON_WORDS.get(value, value) if kind == tokenize.NAME else value)
              for kind, value, *_ in tokenize.generate_tokens(io.StringIO(text).readline)]
    return tokenize.untokenize(tokens)


def convert(key: str, text: str, annotation: Any, owner: str = "") -> Any:
    """``text`` as a value of type ``annotation`` for option ``key`` (of ``owner``, named in errors)."""
    where = f"option {key!r}" + (f" of {owner}" if owner else "")
    stripped = text.strip()
    choices = choices_of(annotation)
    if choices is not None:
        if stripped not in choices:
            raise ValueError(f"{where} must be one of {', '.join(map(str, choices))}, got {text!r}")
        return stripped
    kinds, optional = _members(annotation)
    if optional and stripped.lower() == "none":
        return None
    if not kinds or len(kinds) > 1 or not kinds <= {bool, int, float, str}:
        return literal(text)
    (kind,) = kinds
    if kind is bool:
        if stripped.lower() in BOOL_WORDS:
            return BOOL_WORDS[stripped.lower()]
        raise ValueError(f"{where} must be true/false/yes/no/1/0, got {text!r}")
    if kind is str:
        return stripped
    none = " or none" if optional else ""
    try:
        return int(stripped)
    except ValueError:
        if kind is int:
            raise ValueError(f"{where} must be an integer{none}, got {text!r}") from None
    try:
        return float(stripped)
    except ValueError:
        raise ValueError(f"{where} must be a number{none}, got {text!r}") from None


def parse_option(algorithm: str | None, key: str, text: str) -> Any:
    """The value of ``key=text`` for ``algorithm``, typed by its constructor where it declares ``key``.

    ``restarts=ipop|bipop`` is the engine's restart strategy for every algorithm (``minimize(restarts=)``),
    also for ``cmaes``, whose own ``restarts`` is a boolean (cma's same-size restarts: ``restarts=true``)."""
    from scpo.restarts import STRATEGIES

    if key == "restarts" and text.strip().lower() in STRATEGIES:
        return text.strip().lower()
    annotation = ENGINE_OPTIONS.get(key)
    if algorithm in REGISTRY:
        declared = {spec.name: spec.annotation for spec in option_specs(algorithm)}
        annotation = declared.get(key, annotation)
    return convert(key, text, annotation, algorithm or "")


def split_pair(pair: str) -> tuple[str, str]:
    """``"key=value"`` -> ``("key", "value")``; a ValueError naming ``pair`` otherwise."""
    key, sep, raw = pair.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"option {pair!r} is not key=value")
    return key.strip(), raw


def parse_pairs(pairs: list[str], algorithm: str | None = None) -> dict[str, Any]:
    """``["key=value", ...]`` -> options for ``algorithm`` (typed by its constructor where known)."""
    options = {}
    for pair in pairs:
        key, raw = split_pair(pair)
        options[key] = parse_option(algorithm, key, raw)
    return options
