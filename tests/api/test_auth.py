"""Token verification: HS256 with a secret, RS256/ES256 from a real loopback JWKS (with rotation), and
every way a token must be refused; claims → `Principal`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mcpdiag.api import ApiSettings, AuthenticationError, Principal, Role, TokenVerifier
from mcpdiag.api.errors import IdentityProviderUnavailableError
from tests.api.support import AUDIENCE, ISSUER, Tokens, api_settings


@dataclass
class KeyPair:
    kid: str
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.algorithms.RSAAlgorithm if self.alg == "RS256" else jwt.algorithms.ECAlgorithm
        data = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig"}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], *, alg: str | None = None, kid: str | None = None) -> str:
        return jwt.encode(claims, self.private, algorithm=alg or self.alg, headers={"kid": kid or self.kid})


def rsa_key(kid: str) -> KeyPair:
    return KeyPair(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> KeyPair:
    return KeyPair(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class JwksServer:
    """A real HTTP server on loopback serving the current key set and counting fetches."""

    keys: list[KeyPair] = field(default_factory=list)
    fetches: int = 0
    url: str = ""

    def document(self) -> bytes:
        self.fetches += 1
        return json.dumps({"keys": [k.jwk() for k in self.keys]}).encode()


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    state = JwksServer([rsa_key("rsa-1"), ec_key("ec-1")])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state.document()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    yield state
    server.shutdown()
    server.server_close()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(sub: str = "ursula", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, **extra}


def jwks_verifier(jwks: JwksServer, **over: Any) -> TokenVerifier:
    values: dict[str, Any] = {
        "jwks_url": jwks.url,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "jwks_refresh_cooldown_s": 0,
        **over,
    }
    return TokenVerifier(ApiSettings(_env_file=None, **values))


async def test_rs256_and_es256_tokens_verify_against_the_jwks_and_it_is_cached(jwks: JwksServer) -> None:
    verifier = jwks_verifier(jwks)
    for key in jwks.keys:
        principal = await verifier.principal(f"Bearer {key.sign(claims(roles=['support']))}")
        assert principal == Principal("ursula", Role.SUPPORT)
    assert jwks.fetches == 1


async def test_a_rotated_key_is_fetched_when_its_kid_is_first_seen(jwks: JwksServer) -> None:
    verifier = jwks_verifier(jwks)
    await verifier.claims(jwks.keys[0].sign(claims()))
    rotated = rsa_key("rsa-2")
    jwks.keys = [rotated, jwks.keys[1]]
    assert (await verifier.claims(rotated.sign(claims(sub="after-rotation"))))["sub"] == "after-rotation"
    assert jwks.fetches == 2
    with pytest.raises(AuthenticationError, match="unknown key"):
        await verifier.claims(rsa_key("never-published").sign(claims()))


async def test_unknown_kids_do_not_refetch_during_the_cooldown(jwks: JwksServer) -> None:
    verifier = jwks_verifier(jwks, jwks_refresh_cooldown_s=60)
    await verifier.claims(jwks.keys[0].sign(claims()))
    for i in range(5):
        with pytest.raises(AuthenticationError):
            await verifier.claims(rsa_key(f"spam-{i}").sign(claims()))
    assert jwks.fetches == 1


async def test_algorithm_confusion_is_refused(jwks: JwksServer) -> None:
    """An HS256 token whose HMAC key is the RSA public key PEM, and header algs that do not fit the key."""
    rsa_pair, ec_pair = jwks.keys
    payload = json.dumps(claims(roles=["admin"])).encode()
    # PyJWT refuses to HMAC with a PEM key, so sign by hand, as an attacker would.
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": rsa_pair.kid}).encode())
    signing_input = f"{head}.{b64(payload)}".encode()
    mac = hmac.new(rsa_pair.public_pem(), signing_input, hashlib.sha256).digest()
    confused = f"{signing_input.decode()}.{b64(mac)}"
    verifier = jwks_verifier(jwks)
    with pytest.raises(AuthenticationError, match="not accepted"):
        await verifier.claims(confused)
    # Even with an HS256 secret configured as well, the PEM-as-secret token does not verify.
    both = jwks_verifier(jwks, jwt_secret="s" * 40)
    with pytest.raises(AuthenticationError, match="signature"):
        await both.claims(confused)
    # An RSA key presented as ES256 (and vice versa) is refused before any signature check.
    with pytest.raises(AuthenticationError, match="does not match"):
        await verifier.claims(ec_pair.sign(claims(), kid=rsa_pair.kid))
    for alg in ("RS384", "PS256", "ES384", "none"):
        head = b64(json.dumps({"alg": alg, "kid": rsa_pair.kid}).encode())
        with pytest.raises(AuthenticationError, match="not accepted"):
            await verifier.claims(f"{head}.{b64(payload)}.c2ln")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: {**c, "exp": int(time.time()) - 31}, "expired"),
        (lambda c: {k: v for k, v in c.items() if k != "exp"}, "exp"),
        (lambda c: {k: v for k, v in c.items() if k != "sub"}, "sub"),
        (lambda c: {**c, "aud": "someone-else"}, "audience"),
        (lambda c: {**c, "iss": "https://evil.example"}, "issuer"),
        (lambda c: {**c, "nbf": int(time.time()) + 3600}, "invalid"),
        (lambda c: {**c, "sub": ""}, "sub"),
    ],
)
async def test_bad_claims_are_refused(mutate: Any, message: str) -> None:
    tokens = Tokens()
    verifier = TokenVerifier(api_settings(tokens))
    token = jwt.encode(mutate(tokens.claims("ursula")), tokens.secret, algorithm="HS256")
    with pytest.raises(AuthenticationError, match=message):
        await verifier.principal(f"Bearer {token}")


async def test_expiry_has_a_30_second_leeway() -> None:
    tokens = Tokens()
    verifier = TokenVerifier(api_settings(tokens))
    assert (await verifier.principal(f"Bearer {tokens.mint('ursula', ttl=-20)}")).user_id == "ursula"


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt", "Bearer " + "a" * 20000, "Bearer ....."],
)
async def test_missing_or_malformed_authorization_is_refused(header: str | None) -> None:
    verifier = TokenVerifier(api_settings(Tokens()))
    with pytest.raises(AuthenticationError) as err:
        await verifier.principal(header)
    assert err.value.status == 401 and err.value.headers["WWW-Authenticate"].startswith("Bearer")


async def test_hs256_tokens_are_refused_when_only_a_jwks_is_configured(jwks: JwksServer) -> None:
    tokens = Tokens()
    with pytest.raises(AuthenticationError, match="not accepted"):
        await jwks_verifier(jwks).claims(tokens.mint("ursula"))


async def test_unreachable_jwks_is_a_503_not_a_401() -> None:
    verifier = TokenVerifier(ApiSettings(_env_file=None, jwks_url="http://127.0.0.1:9/jwks.json"))
    with pytest.raises(IdentityProviderUnavailableError):
        await verifier.claims(rsa_key("k").sign(claims()))


def test_claims_map_to_the_principal_with_configurable_claim_names() -> None:
    tokens = Tokens()
    verifier = TokenVerifier(
        api_settings(tokens, roles_claim="realm_access.roles", groups_claim="grp", servers_claim="srv")
    )
    principal = verifier.principal_from_claims(
        {"sub": "u", "realm_access": {"roles": ["support", "x"]}, "grp": "eng ops", "srv": ["a", "b"]}
    )
    assert principal == Principal("u", Role.SUPPORT, frozenset({"eng", "ops"}), frozenset({"a", "b"}))
    default = TokenVerifier(api_settings(tokens))
    assert default.principal_from_claims({"sub": "u", "roles": "admin support"}).role is Role.ADMIN
    assert default.principal_from_claims({"sub": "u", "roles": [1, None]}).role is Role.USER
    assert default.principal_from_claims({"sub": "u", "mcp_servers": "*"}).servers == frozenset({"*"})
    assert default.principal_from_claims({"sub": "u", "mcp_servers": ["a", "*"]}).servers == frozenset({"*"})


def test_short_hs256_secrets_are_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ApiSettings(_env_file=None, jwt_secret="short")


# -- Rotating the HS256 secret: several secrets verify at once, one signs --------------------------------


def rotation_settings(signing: str, *accepted: str, **over: Any) -> ApiSettings:
    """Settings as an operator writes them: MCPDIAG_JWT_SECRET and a comma list of accepted ones."""
    return api_settings(Tokens(signing), jwt_accepted_secrets=",".join(accepted), **over)


async def test_tokens_of_every_accepted_hs256_secret_verify() -> None:
    """During a rotation the signing secret and each accepted one verify tokens; any other is refused."""
    old, new, spare = Tokens(), Tokens(), Tokens()
    verifier = TokenVerifier(rotation_settings(old.secret, new.secret, f" {spare.secret} "))
    for tokens in (old, new, spare):
        assert (await verifier.principal(f"Bearer {tokens.mint('ursula')}")).user_id == "ursula"
    with pytest.raises(AuthenticationError, match="signature does not verify"):
        await verifier.claims(Tokens().mint("mallory"))


async def test_the_three_rotation_steps_leave_no_gap() -> None:
    """Accept the new secret, sign with it while the old one is still accepted, then drop the old one:
    every token that is valid at a step verifies at that step, and the old one stops only at the end."""
    old, new = Tokens(), Tokens()
    steps = [
        (rotation_settings(old.secret, new.secret), {"old": True, "new": True}),
        (rotation_settings(new.secret, old.secret), {"old": True, "new": True}),
        (rotation_settings(new.secret), {"old": False, "new": True}),
    ]
    for settings, expected in steps:
        verifier = TokenVerifier(settings)
        for name, tokens in (("old", old), ("new", new)):
            try:
                await verifier.claims(tokens.mint("ursula"))
                accepted = True
            except AuthenticationError:
                accepted = False
            assert accepted is expected[name], (name, expected)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: {**c, "exp": int(time.time()) - 31}, "expired"),
        (lambda c: {**c, "aud": "someone-else"}, "audience"),
        (lambda c: {**c, "iss": "https://evil.example"}, "issuer"),
    ],
)
async def test_a_token_of_an_accepted_secret_still_has_its_claims_checked(mutate: Any, message: str) -> None:
    """Trying the next secret happens only on a bad signature: a token whose signature verified but whose
    claims are wrong is refused for its claims, whichever secret signed it."""
    old, new = Tokens(), Tokens()
    verifier = TokenVerifier(rotation_settings(old.secret, new.secret))
    for tokens in (old, new):
        token = jwt.encode(mutate(tokens.claims("ursula")), tokens.secret, algorithm="HS256")
        with pytest.raises(AuthenticationError, match=message):
            await verifier.claims(token)


def test_accepted_secrets_come_from_a_comma_list_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """MCPDIAG_JWT_ACCEPTED_SECRETS is a comma-separated list; blanks and spaces around items are dropped."""
    first, second = "a" * 40, "b" * 40
    monkeypatch.setenv("MCPDIAG_JWT_SECRET", "s" * 40)
    monkeypatch.setenv("MCPDIAG_JWT_ACCEPTED_SECRETS", f" {first} ,, {second},")
    settings = ApiSettings(_env_file=None)
    assert sorted(s.get_secret_value() for s in settings.jwt_accepted_secrets) == [first, second]
    assert first not in repr(settings) and second not in repr(settings)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"jwt_secret": "s" * 40, "jwt_accepted_secrets": "short"}, "MCPDIAG_JWT_ACCEPTED_SECRETS"),
        ({"jwt_accepted_secrets": "a" * 40}, "MCPDIAG_JWT_SECRET"),
    ],
)
def test_bad_accepted_secrets_are_refused_at_startup_by_name(values: dict[str, Any], message: str) -> None:
    """A short accepted secret, or accepted secrets without a signing one, fail at startup naming the
    variable and never echoing a secret."""
    with pytest.raises(ValueError, match=message) as err:
        ApiSettings(_env_file=None, **values)
    assert "short" not in str(err.value).split("[")[0] and "a" * 40 not in str(err.value)


def test_accepted_secrets_never_reach_a_bundle() -> None:
    """A support bundle's settings.json leaves the accepted secrets out and its redactor knows them."""
    from mcpdiag.bundle.sanitize import collect_known_secrets, sanitize_settings

    accepted = Tokens().secret
    settings = rotation_settings(Tokens().secret, accepted)
    snapshot = {"api": dict(settings)}
    assert accepted in collect_known_secrets(snapshot, {})
    assert accepted not in json.dumps(sanitize_settings(dict(settings)), default=str)
