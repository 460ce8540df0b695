"""Response types derived from the wire contract, so that `/docs` shows `DiagnosticEvent` as it is declared.

The API answers with events the collector validated before it stored them. A derived type is a TypedDict of
the contract's wire names: the same keys, the same required ones, enums, nested models (derived in turn),
and for every other value the schema its declaration gives (patterns, lengths, ranges, `date-time`,
defaults). Those values are documented, not checked again on every read: a value is passed on as it was
stored (a `ts` stays the stored RFC 3339 text), a key the document does not have stays absent (a plain
user's `detail`), and a key the contract does not have is left out.

A TypedDict, not a model: validating a page of them builds no objects, and fills in no defaults.
"""

from __future__ import annotations

import types
from enum import Enum
from typing import Annotated, Any, NotRequired, Required, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, WithJsonSchema
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from typing_extensions import TypedDict  # pydantic reads no `typing.TypedDict` before Python 3.12


def output_type(
    model: type[BaseModel], *, name: str, doc: str, descriptions: dict[str, str] | None = None
) -> type[Any]:
    """A TypedDict named `name` with the fields of `model` under their wire names (nested models derived as
    `<Name>Out`); `descriptions` replace or add field descriptions, by field name."""
    keys: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        declared = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        value: Any = Annotated[
            (_output_type(declared), _documented(info, (descriptions or {}).get(field_name)))
        ]
        keys[info.alias or field_name] = Required[value] if info.is_required() else NotRequired[value]
    derived: type[Any] = TypedDict(name, keys)  # type: ignore[misc]
    derived.__doc__ = doc
    derived.__pydantic_config__ = ConfigDict(extra="ignore")  # type: ignore[attr-defined]
    return derived


def _documented(info: FieldInfo, description: str | None) -> Any:
    """The field's description and default, for the schema only (a default filled in would be a key the
    stored document does not have)."""
    extra: dict[str, Any] = {}
    if info.default is not PydanticUndefined:
        extra["default"] = info.default.value if isinstance(info.default, Enum) else info.default
    return Field(description=description or info.description, json_schema_extra=extra or None)


_NESTED: dict[type[BaseModel], type[Any]] = {}


def _nested(model: type[BaseModel]) -> type[Any]:
    """The output type of a nested model: one per model, named after it with `Out`."""
    if model not in _NESTED:
        doc = (model.__doc__ or model.__name__).strip()
        _NESTED[model] = output_type(model, name=f"{model.__name__}Out", doc=doc)
    return _NESTED[model]


def _output_type(annotation: Any) -> Any:
    """`annotation` as a response type: enums kept, models derived, any other value documented only."""
    if not _holds_class(annotation):
        schema = TypeAdapter(annotation).json_schema(mode="serialization")
        return Annotated[Any, WithJsonSchema(schema)]
    origin = get_origin(annotation)
    if origin is Annotated:
        return _output_type(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        members = tuple(arg if arg is type(None) else _output_type(arg) for arg in get_args(annotation))
        return Union[members]  # noqa: UP007 (built at run time, of any arity)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _nested(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return annotation
    raise TypeError(f"cannot derive a response type from {annotation!r} (an enum or a model in a container)")


def _holds_class(annotation: Any) -> bool:
    """Whether `annotation` is, or holds, an enum or a model (which the response type keeps as a type)."""
    if isinstance(annotation, type):
        return issubclass(annotation, Enum | BaseModel)
    return any(_holds_class(arg) for arg in get_args(annotation))
