"""A refusal names what is wrong and where, never the value it refused: a value written in the wrong place is
most often a credential (a password in a URL, `X-Api-Key=<key>` for a header, a `.env` given as the ACL
file, a secret sent as an OTLP number, a key pasted where a public key goes). Parsers and validators quote
what they could not read; each message below reached a terminal, an HTTP answer or a log line whole. The
values are made at run time."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import typer
from pydantic import ValidationError

from mcpdiag.api.acl import AccessPolicy, AclFileError
from mcpdiag.api.routes.doctor import DoctorRequest
from mcpdiag.bundle.crypt import parse_recipient
from mcpdiag.bundle.errors import InvalidKeyError
from mcpdiag.cli.doctor import parse_header
from mcpdiag.collector.body import JSON
from mcpdiag.collector.errors import InvalidBodyError
from mcpdiag.collector.otlp import decode_request
from mcpdiag.doctor.options import Target, TargetError


def _secret() -> str:
    return "pw" + secrets.token_hex(8)


@pytest.mark.parametrize(
    "content",
    [
        "servers:\n  billing:\n    users: [alice]\n    password: {s}\n",  # a field the file does not have
        "MCPDIAG_JWT_SECRET={s}\nMCPDIAG_INGEST_KEYS=ik-{s}\n",  # a .env given as the ACL file
        'servers:\n  billing:\n    users: [alice, "token: {s}]\n',  # YAML broken on the secret's line
        "servers:\n  billing: {{users: {s}}}\n",  # the wrong type
        "servers:\n\t{s}: x\n",  # a tab: the scanner quotes the line
    ],
)
def test_an_acl_file_refused_is_described_by_position_not_quoted(tmp_path: Path, content: str) -> None:
    secret = _secret()
    path = tmp_path / "acl.yaml"
    path.write_text(content.format(s=secret))
    with pytest.raises(AclFileError) as refused:
        AccessPolicy.from_file(path)
    assert "acl.yaml" in str(refused.value) and secret not in str(refused.value), refused.value


def test_an_acl_json_file_refused_is_described_by_position_not_quoted(tmp_path: Path) -> None:
    secret = _secret()
    path = tmp_path / "acl.json"
    path.write_text('{"servers": {"a": {"users": ["' + secret + '"]}}, oops ' + secret)
    with pytest.raises(AclFileError, match="line 1, column") as refused:
        AccessPolicy.from_file(path)
    assert secret not in str(refused.value)


def test_a_doctor_url_whose_password_holds_a_slash_is_refused_without_it() -> None:
    """`urlsplit` takes the password up to the `/` for a port and says so, quoting it."""
    secret = _secret()
    with pytest.raises(TargetError, match="percent-escaped") as refused:
        Target.parse(f"http://admin:{secret}/x@127.0.0.1:9/mcp")
    assert secret not in str(refused.value)


@pytest.mark.parametrize("written", ["X-Api-Key={s}", "{s}", "Authorization Bearer {s}", ": {s}"])
def test_a_doctor_header_written_wrong_is_refused_without_it(written: str) -> None:
    secret = _secret()
    with pytest.raises(typer.BadParameter) as refused:
        parse_header(written.format(s=secret))
    assert "Name: value" in str(refused.value) and secret not in str(refused.value)
    with pytest.raises(ValidationError) as invalid:
        headers = {f"X-Api-Key={secret}": "v"}
        DoctorRequest.model_validate({"url": "http://127.0.0.1:9/mcp", "headers": headers})
    assert "header 1" in str(invalid.value) and secret not in str(invalid.value)


@pytest.mark.parametrize(
    "record",
    [
        {"attributes": [{"key": "db.password", "value": {"intValue": "{s}"}}]},
        {"attributes": [{"key": "db.password", "value": {"doubleValue": "{s}"}}]},
        {"timeUnixNano": "{s}"},
        {"observedTimeUnixNano": "{s}"},
    ],
)
def test_an_otlp_json_value_of_the_wrong_type_is_refused_by_its_field_without_it(
    record: dict[str, object],
) -> None:
    secret = _secret()
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}
    with pytest.raises(InvalidBodyError) as refused:
        decode_request(json.dumps(body).replace("{s}", secret).encode(), JSON)
    message = str(refused.value)
    assert "logRecords" in message and secret not in message, message


def test_a_secret_pasted_where_a_recipient_goes_is_refused_without_it() -> None:
    secret = _secret()
    with pytest.raises(InvalidKeyError) as refused:
        parse_recipient(secret, "--recipient")
    assert secret[:6] not in str(refused.value) and "--recipient" in str(refused.value)
    with pytest.raises(InvalidKeyError, match="'age1wrong' is not an age X25519"):
        parse_recipient("age1wrong", "--recipient")


@pytest.mark.parametrize("written", ["mongodb//svc:{s}@db.invalid/x", "svc:{s}@db.invalid", "{s}"])
def test_a_store_url_written_wrong_is_refused_without_what_it_holds(written: str) -> None:
    from mcpdiag.store.backends import check_store_url
    from mcpdiag.store.errors import UnsupportedStoreURLError

    secret = _secret()
    with pytest.raises(UnsupportedStoreURLError, match="sqlite:///path") as refused:
        check_store_url(written.format(s=secret))
    assert secret not in str(refused.value)
    with pytest.raises(UnsupportedStoreURLError, match="scheme 'postgres'"):
        check_store_url("postgres://db.invalid/x")
