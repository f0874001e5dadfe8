"""The validation toolkit every config and request uses: a field's value checked against (and coerced to) its
annotated type, dataclasses built from and written to plain dicts, `@checked` arguments of public functions,
and the one-line refusals (`require`, `choice`) naming the field and the fix."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import types
import typing
from collections.abc import Callable
from typing import Any

from aeflow.errors import ConfigError


def _check_type(where: str, name: str, value: Any, annotation: Any) -> Any:
    """Coerce `value` to the field's annotated type, or raise a ConfigError that names the field."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_type(where, name, value, inner[0])
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}.{name} must be a mapping, got {value!r}")
        item_type = args[1] if len(args) == 2 else Any
        return {k: _check_type(where, f"{name}.{k}", v, item_type) for k, v in value.items()}
    if dataclasses.is_dataclass(annotation):
        return from_dict(annotation, value, f"{where}.{name}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}.{name} must be a list, got {value!r}")
        item_type = args[0] if args else Any
        items = [_check_type(where, name, v, item_type) for v in value]
        return tuple(items) if origin is tuple else items
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}.{name} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}.{name} must be an integer, got {value!r}")
        if abs(value) >= 2 ** 63:
            raise ConfigError(f"{where}.{name} must fit in 64 bits, got {value}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}.{name} must be a number, got {value!r}")
        if not math.isfinite(value):   # nan and inf pass every comparison check silently, or fail deep in torch
            raise ConfigError(f"{where}.{name} must be a finite number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}.{name} must be a string, got {value!r}")
        return value
    return value


def check_fields(obj: Any, where: str) -> None:
    """Every field of dataclass `obj` of its annotated type (for objects built directly, not `from_dict`)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        _check_type(where, f.name, getattr(obj, f.name), hints[f.name])


def checked(function: Callable) -> Callable:
    """A public function whose arguments are checked against its annotations on every call: a wrong type is a
    ConfigError naming the argument, not an AttributeError from deep inside (`aeflow.train(None, ...)`)."""
    signature = inspect.signature(function)
    hints: dict[str, Any] = {}

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not hints:
            hints.update(_resolved_hints(function))
        for name, value in signature.bind(*args, **kwargs).arguments.items():
            if name in hints and not _matches(value, hints[name]):
                raise ConfigError(f"{function.__name__}(): {name} must be {_describe(hints[name])}, got "
                                  f"{type(value).__name__} {str(value)[:60]!r}")
        return function(*args, **kwargs)

    return wrapper


def _resolved_hints(function: Callable) -> dict[str, Any]:
    """The annotations that resolve at run time (names imported only for type checkers are skipped)."""
    hints = {}
    for name, text in function.__annotations__.items():
        try:
            hints[name] = eval(text, function.__globals__) if isinstance(text, str) else text   # noqa: S307
        except NameError:
            continue
    hints.pop("return", None)
    return hints


def _matches(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(annotation))
    if annotation is None or annotation is type(None):
        return value is None
    if origin is not None:   # dict[str, Any], tuple[int, ...]: the container's kind is checked, not its items
        return isinstance(value, origin)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return not isinstance(annotation, type) or isinstance(value, annotation)


def _describe(annotation: Any) -> str:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def from_dict(cls: type, data: dict[str, Any] | None, where: str) -> Any:
    """Build dataclass `cls` from a dict, rejecting unknown keys and values of the wrong type."""
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping of {cls.__name__} fields, got {data!r}")
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in {where}; valid keys: {', '.join(sorted(known))}")
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in data and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}")
    kwargs = {k: _check_type(where, k, v, hints[k]) for k, v in data.items()}
    obj = cls(**kwargs)
    if hasattr(obj, "validate"):
        obj.validate()
    return obj


def to_dict(value: Any) -> Any:
    """Dataclasses, dicts and sequences as plain YAML/JSON-able values (tuples become lists)."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: to_dict(x) for k, x in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_dict(x) for x in value]
    return value


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def choice(where: str, value: str, choices: typing.Iterable[str]) -> None:
    choices = list(choices)
    require(value in choices, f"{where} must be one of {', '.join(choices)}; got {value!r}")
