"""Contexts that carry a secret by their shape: key spellings, command-line flags, list values, XML, Azure
connection strings, `curl -u`, name/value header lists, webhook URLs and webhook signing secrets, with their
neighbours. Each secret is generated at run time and must not survive; the text around it is kept."""

from __future__ import annotations

import json
import string

import pytest

from mcpdiag.emitters import Redactor, find_leaks, redact_event, redact_text
from tests.emitters.secret_forms import chars

# (template, expected): `{v}` is a fresh secret, `{p}` where its placeholder must be.
CONTEXTS: list[tuple[str, str]] = [
    # key spellings
    ("passWord={v}", "passWord={p}"),
    ("PassWord: {v}", "PassWord: {p}"),
    ("pass={v}", "pass={p}"),
    ("db_pass={v} user=app", "db_pass={p} user=app"),
    ("Pass_Phrase={v}", "Pass_Phrase={p}"),
    ("passphrase: {v}", "passphrase: {p}"),
    # command-line flags
    ("--password={v}", "--password={p}"),
    ("--password {v} --user app", "--password {p} --user app"),
    ("--token {v}", "--token {p}"),
    ("-token={v}", "-token={p}"),
    ("--api-key {v}", "--api-key {p}"),
    ("--client-secret='{v}'", "--client-secret='{p}'"),
    ('--auth-token "{v}"', '--auth-token "{p}"'),
    ("mysql -uroot -p{v} app", "mysql -uroot -p{p} app"),
    ("sshpass -p {v} ssh host", "sshpass -p {p} ssh host"),
    ("openssl pkcs12 -passin pass:{v} -in x.p12", "openssl pkcs12 -passin pass:{p} -in x.p12"),
    ("curl -u alice:{v} https://x.example.com", "curl -u alice:{p} https://x.example.com"),
    ("curl --user 'alice:{v}' https://x", "curl --user 'alice:{p}' https://x"),
    ("curl -U proxy:{v} -x http://p:3128 https://x", "curl -U proxy:{p} -x http://p:3128 https://x"),
    ("curl -u :{v} https://x", "curl -u :{p} https://x"),
    # list values under secret keys
    ('{{"token": ["{v}"]}}', '{{"token": ["{p}"]}}'),
    ('{{"api_keys": ["{v}", "{v}"], "n": 2}}', '{{"api_keys": ["{p}", "{p}"], "n": 2}}'),
    # XML
    ("<password>{v}</password>", "<password>{p}</password>"),
    ("<token>{v}</token>", "<token>{p}</token>"),
    ('<ns:clientSecret type="x">{v}</ns:clientSecret>', '<ns:clientSecret type="x">{p}</ns:clientSecret>'),
    ("<apiKey><![CDATA[{v}]]></apiKey>", "<apiKey><![CDATA[{p}]]></apiKey>"),
    ('<add key="Password" value="{v}"/>', '<add key="Password" value="{p}"/>'),
    # Azure
    (
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={v}==;EndpointSuffix=core.windows.net",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={p};EndpointSuffix=core.windows.net",
    ),
    ("Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=R;SharedAccessKey={v}=",
     "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=R;SharedAccessKey={p}"),
    ("BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&ss=b&sig={v}",
     "BlobEndpoint=https://a.blob.core.windows.net/;SharedAccessSignature={p}"),
    # name/value pairs (HAR, Postman, Kubernetes env), as JSON text
    ('{{"name": "Authorization", "value": "Bearer {v}"}}',
     '{{"name": "Authorization", "value": "Bearer {p}"}}'),
    ('{{"value": "{v}", "name": "X-Api-Key"}}', '{{"value": "{p}", "name": "X-Api-Key"}}'),
    ('{{"key": "DB_PASSWORD", "value": "{v}"}}', '{{"key": "DB_PASSWORD", "value": "{p}"}}'),
    ('[["Authorization", "Basic {v}"]]', '[["Authorization", "Basic {p}"]]'),
    # fragments (OAuth implicit flow)
    ("https://app.example.com/cb#access_token={v}&token_type=bearer",
     "https://app.example.com/cb#access_token={p}&token_type=bearer"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "expected"), CONTEXTS, ids=[c[0][:40] for c in CONTEXTS])
def test_a_secret_in_a_shaped_context_is_replaced_and_the_shape_is_kept(template: str, expected: str) -> None:
    value = chars(18) + "9"
    out = redact_text(template.format(v=value))
    assert value not in out
    placeholders = {
        out[i : out.index("]", i) + 1] for i in range(len(out)) if out.startswith("[REDACTED:", i)
    }
    assert len(placeholders) == 1, out
    assert out == expected.format(p=placeholders.pop())
    assert redact_text(out) == out


@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (lambda: "xapp-1-A" + chars(10, string.ascii_uppercase) + "-" + chars(13, string.digits) + "-"
         + chars(64, "0123456789abcdef"), "slack_token"),
        (lambda: "xoxe.xoxp-1-" + chars(140), "slack_token"),
        (lambda: "whsec_" + chars(32), "webhook_secret"),
        (lambda: "glpat-" + chars(20), "gitlab_token"),
        (lambda: "ya29." + chars(60), "google_oauth_token"),
    ],
)  # fmt: skip
def test_provider_token_neighbours_are_replaced_by_their_placeholder(make: object, rule: str) -> None:
    assert callable(make)
    token = make()
    assert redact_text(f"value: {token} end") == f"value: [REDACTED:{rule}] end"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T{a}/B{b}/{v}",
        "https://hooks.slack.com/workflows/T{a}/A{b}/{v}/1",
        "https://discord.com/api/webhooks/{n}/{v}",
        "https://contoso.webhook.office.com/webhookb2/{v}@{a}/IncomingWebhook/{b}/{n}",
        "https://hooks.zapier.com/hooks/catch/{n}/{v}/",
    ],
)
def test_webhook_urls_lose_their_secret_path_but_keep_the_host(url: str) -> None:
    value = chars(24)
    text = url.format(a=chars(8, string.ascii_uppercase), b=chars(8, string.ascii_uppercase), v=value,
                      n=chars(12, string.digits))  # fmt: skip
    out = redact_text(f"posting to {text} failed")
    assert value not in out and "[REDACTED:webhook_url]" in out
    assert out.startswith("posting to " + text.split("/")[0] + "//" + text.split("/")[2])
    assert redact_text(out) == out


@pytest.mark.parametrize(
    "text",
    [
        "bypass=true compass=north",
        "tests pass: 12 of 12",
        "the --password flag is required",
        "use --token to pass it",
        "docker run -u 1000:1000 -p 8080:80 image",
        "gcc -pthread -pipe -O2 x.c",
        "mysql -h db -P 3306 app",
        "curl -u alice https://x.example.com",
        "<password-policy>strict</password-policy>",
        "<auth><user>app</user></auth>",
        '{"name": "Accept", "value": "text/event-stream"}',
        '{"name": "github", "value": 42}',
        '{"required": ["password", "email"]}',
        "https://hooks.example.com/services/x",
        "AccountName=acct;EndpointSuffix=core.windows.net",
        "https://example.com/page#section-2",
    ],
)
def test_neighbouring_ordinary_text_is_left_byte_for_byte(text: str) -> None:
    assert redact_text(text) == text
    assert find_leaks(text) == []


# --- the same shapes as values of an event (the walk) ------------------------------------------------


def test_header_lists_in_an_event_lose_their_secret_values_but_keep_the_scheme() -> None:
    token, cookie, pw = chars(30), chars(12), chars(12)
    event = {
        "attrs": {
            "har": [
                {"name": "Authorization", "value": f"Bearer {token}"},
                {"name": "Cookie", "value": f"sid={cookie}"},
                {"name": "Accept", "value": "text/event-stream"},
            ],
            "env": [{"name": "DB_PASSWORD", "value": pw}, {"name": "DB_HOST", "value": "db"}],
            "postman": [{"key": "x-api-key", "value": pw, "type": "text"}],
            "pairs": [["Authorization", f"Basic {cookie}"], ["Accept", "*/*"]],
            "tuple": ("X-Api-Key", pw),
        }
    }
    out, counts = redact_event(event)
    dumped = json.dumps(out)
    assert token not in dumped and cookie not in dumped and pw not in dumped
    attrs = out["attrs"]
    assert attrs["har"][0]["value"].startswith("Bearer [REDACTED:")
    assert attrs["har"][2] == {"name": "Accept", "value": "text/event-stream"}
    assert attrs["env"][1] == {"name": "DB_HOST", "value": "db"}
    assert attrs["pairs"][1] == ["Accept", "*/*"]
    assert attrs["postman"][0]["type"] == "text"
    assert sum(counts.values()) == 6
    assert redact_event(out) == (out, {})


def test_list_values_under_a_secret_key_are_replaced_in_an_event() -> None:
    out, counts = redact_event({"token": [chars(12)], "api_keys": [chars(12), chars(12)], "n": [1]})
    assert out == {"token": "[REDACTED:secret_key]", "api_keys": "[REDACTED:secret_key]", "n": [1]}
    assert counts == {"secret_key": 2}


def test_a_reused_redactor_agrees_with_the_one_shot_functions_on_every_context() -> None:
    redactor = Redactor()
    for template, _ in CONTEXTS:
        text = template.format(v=chars(18) + "9")
        assert redactor.text(text) == redact_text(text)
