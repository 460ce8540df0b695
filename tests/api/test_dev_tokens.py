"""Development tokens (`POST /api/dev/token`) are signed with a key only the dev-mode process holds: never
the configured `MCPDIAG_JWT_SECRET`, so no other instance (production or dev) sharing that secret accepts
them, while the dev process still accepts its own and the identity provider's tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import jwt
import pytest

from tests.api.support import Tokens, build_app
from tests.collector.support import asgi_client


class Instances:
    """Apps on their own stores that all share one `MCPDIAG_JWT_SECRET` (`tokens.secret`)."""

    def __init__(self, stack: AsyncExitStack, tmp_path: Path, tokens: Tokens) -> None:
        self._stack, self._tmp, self.tokens = stack, tmp_path, tokens
        self._count = 0

    async def start(self, **over: object) -> httpx.AsyncClient:
        self._count += 1
        folder = self._tmp / f"instance-{self._count}"
        folder.mkdir()
        return await self._stack.enter_async_context(asgi_client(build_app(folder, self.tokens, **over)))


@pytest.fixture
async def instances(tmp_path: Path) -> AsyncIterator[Instances]:
    async with AsyncExitStack() as stack:
        yield Instances(stack, tmp_path, Tokens())


async def dev_token(client: httpx.AsyncClient, user: str = "ada") -> str:
    answer = await client.post("/api/dev/token", json={"userId": user})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_production_instance_sharing_the_secret_refuses_a_dev_token(instances: Instances) -> None:
    dev = await instances.start(dev_mode=True)
    production = await instances.start()
    token = await dev_token(dev, "ada")  # the demo admin, minted for anyone who asks
    assert (await dev.get("/api/admin/audit", headers=bearer(token))).status_code == 200
    refused = await production.get("/api/admin/audit", headers=bearer(token))
    assert refused.status_code == 401, refused.text
    assert "development" in refused.json()["error"]["message"]
    me = await production.get("/api/me", headers=bearer(token))
    assert me.status_code == 401


async def test_another_dev_instance_sharing_the_secret_refuses_it_too(instances: Instances) -> None:
    """The key is born with the process: a second dev instance (another replica) has its own."""
    first, second = await instances.start(dev_mode=True), await instances.start(dev_mode=True)
    token = await dev_token(first, "sam")
    assert (await first.get("/api/me", headers=bearer(token))).status_code == 200
    assert (await second.get("/api/me", headers=bearer(token))).status_code == 401


async def test_a_dev_token_is_not_signed_with_the_configured_secret(instances: Instances) -> None:
    token = await dev_token(await instances.start(dev_mode=True))
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, instances.tokens.secret, algorithms=["HS256"], options={"verify_aud": False})


async def test_the_dev_instance_still_accepts_the_identity_providers_tokens(instances: Instances) -> None:
    dev = await instances.start(dev_mode=True)
    real = instances.tokens.mint("ursula", roles=["support"])
    me = await dev.get("/api/me", headers=bearer(real))
    assert me.status_code == 200 and me.json()["role"] == "support"


async def test_dev_mode_without_a_configured_secret_signs_in_demo_users(instances: Instances) -> None:
    dev = await instances.start(dev_mode=True, jwt_secret=None)
    me = await dev.get("/api/me", headers=bearer(await dev_token(dev, "alice")))
    assert me.status_code == 200 and me.json()["userId"] == "alice"
    # Only the dev key verifies here: a token signed with some secret is not accepted.
    forged = instances.tokens.mint("alice")
    assert (await dev.get("/api/me", headers=bearer(forged))).status_code == 401
