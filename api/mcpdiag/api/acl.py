"""Who may see which server: the ACL file, the token's servers claim, and what a caller sees of an event."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mcpdiag.api.principal import ALL_SERVERS, Principal, Role
from mcpdiag.bundle import BundlePermissionError, BundleScope


class ServerAclModel(BaseModel):
    """One server's entry in the ACL file."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    users: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    public: bool = False


class AclFileModel(BaseModel):
    """The ACL file: `{"servers": {"<name>": {"users": [...], "groups": [...], "public": false}}}`."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    servers: dict[str, ServerAclModel] = Field(default_factory=dict)


def read_acl_file(path: Path) -> AclFileModel:
    """The ACL file at `path`, parsed (YAML, or JSON by its suffix) and checked; raises `AclFileError` saying
    where and what is wrong, never quoting the file: a file given by mistake (a `.env`) holds secrets."""
    try:
        text = path.read_text(encoding="utf-8")
        raw: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return AclFileModel.model_validate(raw or {})
    except (OSError, ValueError, yaml.YAMLError, ValidationError) as exc:
        raise AclFileError(f"ACL file {path}: {file_problem(exc)}") from None


def file_problem(exc: Exception) -> str:
    """What is wrong with a configuration file, by position and kind, never by its content (a parser's
    message quotes the line it stopped at, pydantic's the value it refused)."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'the document'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False, include_context=False)[:3]
        )
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON at line {exc.lineno}, column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (byte {exc.start})"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return f"not valid YAML or JSON ({type(exc).__name__})"


class AclFileError(ValueError):
    """An ACL file that cannot be read or does not have the ACL's shape."""


@dataclass(frozen=True, slots=True)
class ServerAcl:
    """Who may read one server besides staff and the holders of a servers claim naming it."""

    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    public: bool = False

    def grants(self, principal: Principal) -> bool:
        """Whether this entry lets `principal` in: named, in a named group, or public."""
        return self.public or principal.user_id in self.users or bool(self.groups & principal.groups)


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Server access rules: staff read everything; users by claim, ACL user, ACL group or a public entry."""

    servers: Mapping[str, ServerAcl] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path | None) -> AccessPolicy:
        """The policy of a YAML or JSON ACL file (no file = no ACL entries)."""
        if path is None:
            return cls()
        return cls.from_mapping(read_acl_file(path))

    @classmethod
    def from_mapping(cls, model: AclFileModel | Mapping[str, Any]) -> AccessPolicy:
        """The policy of an already-parsed ACL document."""
        acl = model if isinstance(model, AclFileModel) else AclFileModel.model_validate(model)
        return cls(
            {
                name: ServerAcl(frozenset(entry.users), frozenset(entry.groups), entry.public)
                for name, entry in acl.servers.items()
            }
        )

    def can_access(self, principal: Principal, server: str) -> bool:
        """Whether `principal` may read `server` at all (what they see of it is `visible_event`'s call)."""
        if principal.is_staff or ALL_SERVERS in principal.servers or server in principal.servers:
            return True
        entry = self.servers.get(server)
        return entry is not None and entry.grants(principal)

    def names(self, principal: Principal, stored: Iterable[str]) -> list[str]:
        """The servers `principal` can access among those named anywhere: stored, in the ACL, in the claim."""
        if principal.is_staff or ALL_SERVERS in principal.servers:
            candidates = {*stored, *self.servers, *principal.servers} - {ALL_SERVERS}
            return sorted(candidates)
        granted = {name for name, entry in self.servers.items() if entry.grants(principal)}
        return sorted(granted | principal.servers)

    def is_named(self, principal: Principal, server: str) -> bool:
        """Whether `server` exists for `principal` without stored events: in the ACL or their claim."""
        return server in self.servers or server in principal.servers


def can_see_event(principal: Principal, event: Mapping[str, Any]) -> bool:
    """Staff see every event; a user sees their own and server-wide ones (no `userId`)."""
    if principal.is_staff:
        return True
    owner = event.get("userId")
    return owner is None or owner == principal.user_id


def visible_event(principal: Principal, event: dict[str, Any]) -> dict[str, Any]:
    """The event as `principal` may read it: without `detail` unless they are support or admin."""
    if principal.is_staff or "detail" not in event:
        return event
    return {k: v for k, v in event.items() if k != "detail"}


def strip_detail(event: dict[str, Any]) -> dict[str, Any]:
    """`event` itself, with `detail` removed in place (for fresh dicts straight from the store)."""
    event.pop("detail", None)
    return event


def check_bundle_permission(principal: Principal, scope: BundleScope) -> None:
    """Admins may export any scope, support only a Debug ID's; raises `BundlePermissionError` otherwise."""
    if principal.role is Role.ADMIN:
        return
    if principal.role is Role.SUPPORT:
        if scope.debug_id is None:
            raise BundlePermissionError("support staff can export a bundle for one Debug ID: set debugId")
        return
    raise BundlePermissionError("only support staff and admins can export support bundles")
