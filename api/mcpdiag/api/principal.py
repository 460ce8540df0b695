"""Who is calling: the identity and role taken from a verified token."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """What a caller may do: users see their own diagnostics, support and admins see everything."""

    USER = "user"
    SUPPORT = "support"
    ADMIN = "admin"


ALL_SERVERS = "*"


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller. `servers` is the token's servers claim: names, or `{"*"}` for every server."""

    user_id: str
    role: Role = Role.USER
    groups: frozenset[str] = field(default_factory=frozenset)
    servers: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_staff(self) -> bool:
        """Support or admin: may read every server, every user's events and `detail`."""
        return self.role in (Role.SUPPORT, Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        """May export any bundle and read the audit log."""
        return self.role is Role.ADMIN
