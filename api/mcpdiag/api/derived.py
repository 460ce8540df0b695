"""Response models derived from the wire contract, so that `/docs` shows `DiagnosticEvent` as it is declared.

The API answers with events the collector validated before it stored them. A derived model has the
contract's fields — names, aliases, defaults, required ones, enums, nested models — and documents each value
with the schema its declaration gives (patterns, lengths, ranges, `date-time`), but does not check those
values again on every read: a value is passed on as it was stored (a `ts` stays the stored RFC 3339 text).
Enums are checked (they are cheap to check and name their members in `/docs`) and models are derived in turn.
"""

from __future__ import annotations

import types
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Field, TypeAdapter, WithJsonSchema, create_model
from pydantic.fields import FieldInfo


def output_model(
    model: type[BaseModel],
    *,
    base: type[BaseModel],
    name: str,
    doc: str,
    descriptions: dict[str, str] | None = None,
) -> type[BaseModel]:
    """A response model on `base` with the fields of `model` (its nested models derived as `<Name>Out`).

    `descriptions` replace or add field descriptions, by field name.
    """
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        declared = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        description = (descriptions or {}).get(field_name, info.description)
        fields[field_name] = (_output_type(declared, base), _output_field(info, description, base))
    derived: type[BaseModel] = create_model(
        name, __base__=base, __doc__=doc, __module__=base.__module__, **fields
    )
    return derived


def _output_field(info: FieldInfo, description: str | None, base: type[BaseModel]) -> Any:
    factory = info.default_factory
    if isinstance(factory, type) and issubclass(factory, BaseModel):
        factory = _nested(factory, base)
    if factory is not None:
        return Field(default_factory=factory, alias=info.alias, description=description)
    return Field(default=info.default, alias=info.alias, description=description)


_NESTED: dict[tuple[type[BaseModel], type[BaseModel]], type[BaseModel]] = {}


def _nested(model: type[BaseModel], base: type[BaseModel]) -> type[BaseModel]:
    """The output model of a nested model: one per model and base, named after it with `Out`."""
    key = (model, base)
    if key not in _NESTED:
        doc = (model.__doc__ or model.__name__).strip()
        _NESTED[key] = output_model(model, base=base, name=f"{model.__name__}Out", doc=doc)
    return _NESTED[key]


def _output_type(annotation: Any, base: type[BaseModel]) -> Any:
    """`annotation` as a response type: enums kept, models derived, any other value documented only."""
    if not _holds_class(annotation):
        schema = TypeAdapter(annotation).json_schema(mode="serialization")
        return Annotated[Any, WithJsonSchema(schema)]
    origin = get_origin(annotation)
    if origin is Annotated:
        return _output_type(get_args(annotation)[0], base)
    if origin is Union or origin is types.UnionType:
        members = tuple(arg if arg is type(None) else _output_type(arg, base) for arg in get_args(annotation))
        return Union[members]  # noqa: UP007 (built at run time, of any arity)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _nested(annotation, base)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return annotation
    raise TypeError(f"cannot derive a response type from {annotation!r} (an enum or a model in a container)")


def _holds_class(annotation: Any) -> bool:
    """Whether `annotation` is, or holds, an enum or a model (which the response type keeps as a type)."""
    if isinstance(annotation, type):
        return issubclass(annotation, Enum | BaseModel)
    return any(_holds_class(arg) for arg in get_args(annotation))
