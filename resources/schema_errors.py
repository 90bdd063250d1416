"""Turn pydantic validation errors into issues that name the field and say what to do."""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from resources.issues import Issue, with_hint

RULE_SCHEMA = "schema"


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """`('spec', 'fields', 0, 'path')` -> `spec.fields[0].path`."""
    text = prefix
    for part in _clean(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text = f"{text}.{part}" if text else part
    return text


def _clean(loc: tuple[int | str, ...]) -> list[int | str]:
    # pydantic adds steps such as `function-before[...]` or `[key]` that are not field names.
    return [p for p in loc if isinstance(p, int) or not ("[" in p or "(" in p)]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return _models_in(args[0])
    if origin in (Union, types.UnionType, list, tuple, set, frozenset):
        return [m for arg in args for m in _models_in(arg)]
    if origin is dict and args:
        return _models_in(args[-1])
    return []


def _wire_name(model: type[BaseModel], name: str) -> str:
    field = model.model_fields[name]
    return field.alias or name


def _field_named(model: type[BaseModel], part: str) -> str | None:
    for name, field in model.model_fields.items():
        if part in (name, field.alias):
            return name
    return None


def model_at(model: type[BaseModel], loc: list[int | str]) -> type[BaseModel] | None:
    """The model class found by following `loc` from `model` (list indexes and map keys skipped)."""
    current = model
    for part in loc:
        if isinstance(part, int):
            continue
        name = _field_named(current, part)
        if name is None:
            continue  # a key of a dict field
        found = _models_in(current.model_fields[name].annotation)
        if not found:
            return None
        current = found[0]
    return current


def known_fields(model: type[BaseModel]) -> list[str]:
    return [_wire_name(model, name) for name in model.model_fields]


def issues_from_validation_error(
    error: ValidationError, model: type[BaseModel], *, prefix: str = ""
) -> list[Issue]:
    """One issue per pydantic error; the caller adds source, kind and name."""
    return [_issue(detail, model, prefix) for detail in error.errors(include_url=False)]


def _issue(detail: ErrorDetails, model: type[BaseModel], prefix: str) -> Issue:
    loc = _clean(tuple(detail["loc"]))
    path = field_path(tuple(loc), prefix)
    kind = detail["type"]
    given = detail.get("input")
    ctx = detail.get("ctx") or {}
    if kind == "extra_forbidden":
        parent = model_at(model, loc[:-1])
        known = known_fields(parent) if parent else []
        unknown = str(loc[-1]) if loc else "?"
        close = difflib.get_close_matches(unknown, known, n=1)
        return Issue(
            RULE_SCHEMA,
            f'unknown field "{unknown}"',
            with_hint(close, f"remove or rename it; known fields here: {', '.join(known)}"),
            field=path,
        )
    if kind == "missing":
        return Issue(RULE_SCHEMA, "required field is missing", f"add {path}", field=path)
    if kind in ("enum", "literal_error"):
        expected = str(ctx.get("expected", "")).replace("'", "")
        return Issue(
            RULE_SCHEMA,
            f"{given!r} is not an accepted value",
            f"use one of: {expected}",
            field=path,
        )
    if kind == "string_pattern_mismatch" and path.endswith(("name", "namespace")):
        return Issue(
            RULE_SCHEMA,
            f"{given!r} is not a valid Kubernetes name",
            "use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
            field=path,
        )
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        inner = model_at(model, loc)
        fields = f" with fields: {', '.join(known_fields(inner))}" if inner else ""
        return Issue(
            RULE_SCHEMA,
            f"expected a mapping, got {type(given).__name__} {given!r}",
            f"write {path or 'the document'} as a mapping{fields}",
            field=path or None,
        )
    if kind == "value_error":
        message = detail["msg"].removeprefix("Value error, ")
        return Issue(RULE_SCHEMA, message, None, field=path or None)
    return Issue(
        RULE_SCHEMA,
        f"{detail['msg'][:1].lower()}{detail['msg'][1:]} (got {given!r})",
        f"correct the value of {path}" if path else "correct the document",
        field=path or None,
    )
