"""Who am I, and what the codes mean: what the UI needs before it draws anything."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from mcpdiag.api.deps import CurrentUser
from mcpdiag.emitters import CATALOG

router = APIRouter(tags=["session"])


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Me(_Camel):
    """The verified caller."""

    user_id: str
    role: str
    groups: list[str]


class CodeEntry(_Camel):
    """One catalog code as the UI renders it."""

    title: str
    severity: str
    retryable: bool
    action: str
    failure: bool


class Catalog(_Camel):
    """Every known code."""

    codes: dict[str, CodeEntry]


@router.get("/api/me", response_model=Me, response_model_by_alias=True)
async def me(principal: CurrentUser) -> Me:
    """The caller's user id, role and groups, as the token says."""
    return Me(user_id=principal.user_id, role=principal.role.value, groups=sorted(principal.groups))


@router.get("/api/catalog", response_model=Catalog, response_model_by_alias=True)
async def catalog(_: CurrentUser) -> Catalog:
    """The code catalog: title, severity, retryability and the action the UI offers for each code."""
    return Catalog(
        codes={
            code: CodeEntry(
                title=info.title,
                severity=info.severity.value,
                retryable=info.retryable,
                action=info.action.value,
                failure=info.failure,
            )
            for code, info in CATALOG.items()
        }
    )
