"""The rules that find secrets in text by their format (provider tokens, PEM keys, URLs, auth schemes), and
what each one replaces.

A rule reports edits instead of rewriting the text: (start, end, replacement, rule name, quote start, quote
end). The redactor keeps, where two overlap, the edit of the rule listed first, so each secret is counted
under its most specific name. Every pattern is linear: a literal or a short character set first (the regex
engine skips to it), bounded or possessive quantifiers, a value matched after its key is judged (a rejected
candidate costs its key, never a rescan of its value), and no nested repetition over the same characters.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass

from mcpdiag.emitters.redact_keys import HEADERS, KEY_MARKERS, is_secret_key

Edit = tuple[int, int, str, str, int, int]
"""(start, end, replacement, rule, quote start, quote end): a `"` in the replacement stands for the text's own
quote at [quote start, quote end) (-1 when there is none), so that a quote put back into JSON inside a JSON
string is escaped as that string escapes its quotes."""

PLACEHOLDER_RE = re.compile(r"\[REDACTED:[a-z_]+\]")
SCHEMES = r"(?i:bearer|basic|digest|token|negotiate|ntlm|dpop|aws4-hmac-sha256|sharedaccesssignature)"
# The value after an optional auth scheme is already a placeholder: what makes redaction idempotent.
_REDACTED_AHEAD = re.compile(rf"[ \t]*(?:{SCHEMES}[ \t]+)?\[REDACTED:")
_SCHEME_PREFIX = re.compile(rf"{SCHEMES}[ \t]+")
_QUERY_NAMES = frozenset({"key", "code", "sig"})
_PAIR_FORMS = "\"':=,<> \t\r\nnamekyhdrfilvu"
CANDIDATES: dict[str, tuple[str, str, str]] = {
    # A token after the scheme: what `looks_like_token` and `_is_basic_credential` ask at least.
    "bearer": ("bearer", r"bearer[ \t]+[\w.~+/\x80-\xff-]{8}", "bearer \t"),
    "basic": ("basic", r"basic[ \t]+[a-z0-9+/]{8}", "basic \t"),
    # A list of pairs: a bracket or comma, a bracket or parenthesis, a quote.
    "pairlist": ("", r"[\[,][ \t\r\n]*[\[(][ \t]*[\"']", "[,( \t\r\n\"'"),
    # Credentials in a URL: nothing but userinfo between the scheme's `://` and an `@`.
    "userinfo": ("://", r"://[^\s/?#]*@", ":/@"),
    # A name/value pair: the pair rules' own shapes, quotes and bounds relaxed.
    "pair_name_first": (
        "",
        r"[\"'](?:name|key|header|field)[\"'][ \t]*:[ \t]*[\"'][^\"'\\\r\n<>]{1,128}[\"'][ \t]*,[ \t\r\n]*"
        r"[\"'](?:value|val)[\"'][ \t]*:[ \t]*[\"']",
        _PAIR_FORMS,
    ),
    "pair_value_first": (
        "",
        r"[\"'](?:value|val)[\"'][ \t]*:[ \t]*[\"'].*[\"'][ \t]*,[ \t\r\n]*"
        r"[\"'](?:name|key|header|field)[\"'][ \t]*:[ \t]*[\"']",
        _PAIR_FORMS,
    ),
    "pair_attributes": (
        "",
        r"(?:name|key)=[\"'][^\"'\\\r\n<>]{1,128}[\"'][ \t\r\n]+value=[\"']",
        _PAIR_FORMS,
    ),
}
"""Scan tags that narrow a literal to where a rule can match: name → (literal, Hyperscan pattern, the
characters that can complete the pattern). An empty literal is in every text (the stdlib scan reports
the tag always)."""
CANDIDATE_TAGS = {name: f"ctx:{name}" for name in CANDIDATES}
QUERY_TAGS = {word: f"query:{word}" for word in (*KEY_MARKERS, "code")}
"""The scan tag of each word a query parameter's secret name holds, where it names a parameter."""
QUERY_PATTERN = r"[?&#](?:amp;)?[\w.\x80-\xff-]*{m}[\w.\x80-\xff-]*="
"""Where the word `m` can name a query parameter (Hyperscan syntax; `_query` decides)."""
_TOKEN_MARKS = frozenset("0123456789_~+/=")
# One value: a quoted string (escapes allowed) read to its closing quote, possessively.
_STRING = r"(?:\\.|(?!(?P={q}))[^\\\r\n])*+"


def redacted_ahead(text: str, pos: int) -> bool:
    """Whether the value at `pos` is already a placeholder (after an optional auth scheme)."""
    return _REDACTED_AHEAD.match(text, pos) is not None


def scheme_end(value: str) -> int:
    """The length of a leading auth scheme and its spaces in `value` (`Bearer `), or 0."""
    match = _SCHEME_PREFIX.match(value)
    return match.end() if match else 0


def looks_like_token(value: str) -> bool:
    """Prose after "Bearer" is letters ("the Bearer scheme"); tokens carry digits or symbols, or are long."""
    return len(value) >= 8 and (len(value) >= 20 or not _TOKEN_MARKS.isdisjoint(value))


def _is_basic_credential(value: str) -> bool:
    # Real Basic credentials are base64("user:password"); "Basic authentication" does not decode to that.
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(value) >= 8 and b":" in decoded


Accept = Callable[[re.Match[str]], bool]


@dataclass(frozen=True, slots=True)
class RegexRule:
    """A rule whose candidates a regex finds (`head`), optionally followed by a value matched where the head
    ends (`tail`), and judged by `accept`. The replaced span is the `value` group of the tail or the head
    (else the head without its `pre` group)."""

    name: str
    gate: frozenset[str]
    """Lowercase literals one of which every match holds: the rule runs only on texts holding one."""
    head: re.Pattern[str]
    tail: re.Pattern[str] | None = None
    accept: Accept | None = None
    scheme: bool = False
    """Whether an auth scheme at the start of the value stays (`Bearer [REDACTED:…]`)."""
    requires: tuple[frozenset[str], ...] = ()
    """Groups of scan tags: every text the rule matches holds one of each group besides."""
    anchors: tuple[str, ...] = ()
    """Lowercase literals one of which every match holds within `back` characters of its start."""
    back: int | None = 0
    """How far before its first anchor a match can start (None: anywhere): the search starts there."""
    lead: re.Pattern[str] | None = None
    """Where a match can start, for a head whose body can hold its own start (`eyJ` in a JWT's body, after
    `_`): the head is then tried candidate by candidate, and a failed one passes over the rest of its
    `run`."""
    run: re.Pattern[str] | None = None
    """What a failed candidate shares with every later one inside it (matched from its start): each of those
    reads the same run to its end and fails as it did. Without it a search tries each again, to the end:
    `eyJ_` repeated was quadratic."""

    def edits(self, text: str, low: str, present: frozenset[str], out: list[Edit]) -> None:
        """Append this rule's edits of `text` to `out`, in order and not overlapping each other."""
        pos = 0
        if self.back is not None and len(low) == len(text):
            # Positions of the lowercased text are the text's: no match starts before the first anchor.
            found = [at for literal in self.anchors if (at := low.find(literal)) != -1]
            if not found:
                return
            pos = max(0, min(found) - self.back)
        head = self._next(text, pos)
        while head is not None:
            pos = max(head.end(), head.start() + 1)
            edit = self._edit(text, head)
            if edit is not None:
                out.append(edit)
                pos = max(pos, edit[1])
            head = self._next(text, pos)

    def _next(self, text: str, pos: int) -> re.Match[str] | None:
        """The first match of the head from `pos`: a search, or for a rule with a `lead`, candidate by
        candidate, a failed one passing over its `run`."""
        if self.lead is None or self.run is None:
            return self.head.search(text, pos)
        match, find, spare = self.head.match, self.lead.search, self.run.match
        while (candidate := find(text, pos)) is not None:
            at = candidate.start()
            if (head := match(text, at)) is not None:
                return head
            skip = spare(text, at)
            pos = max(skip.end() if skip else at, at + 1)
        return None

    def _edit(self, text: str, head: re.Match[str]) -> Edit | None:
        # The head is judged before its value is read: a rejected name never costs a scan of what follows
        # it (`?keyx=…` repeated stays linear).
        if self.accept is not None and not self.accept(head):
            return None
        value = None
        if self.tail is not None and (value := self.tail.match(text, head.end())) is None:
            return None
        match = value if value is not None else head
        if "value" in match.re.groupindex and match.start("value") >= 0:
            start, end = match.span("value")
        elif value is not None:
            start, end = value.span()
        else:
            start = head.end("pre") if "pre" in head.re.groupindex else head.start()
            end = head.end()
        if self.scheme:
            start += scheme_end(text[start:end])
        return (start, end, f"[REDACTED:{self.name}]", self.name, -1, -1)


def _rule(
    name: str,
    gate: tuple[str, ...],
    head: str,
    tail: str | None = None,
    accept: Accept | None = None,
    *,
    scheme: bool = False,
    requires: tuple[tuple[str, ...], ...] = (),
    anchor: tuple[str, ...] | None = None,
    back: int | None = 0,
    lead: str | None = None,
    run: str | None = None,
) -> RegexRule:
    """A rule; its gate (scan tags) is its anchors (literals) unless `anchor` says otherwise."""
    compiled = re.compile(tail) if tail else None
    groups = tuple(frozenset(group) for group in requires)
    anchors = gate if anchor is None else anchor
    return RegexRule(
        name,
        frozenset(gate),
        re.compile(head),
        compiled,
        accept,
        scheme,
        groups,
        anchors,
        back,
        re.compile(lead) if lead else None,
        re.compile(run) if run else None,
    )


def _pair_value(head: re.Match[str]) -> bool:
    name = head["n"]
    return (name.lower() in HEADERS or is_secret_key(name)) and not redacted_ahead(head["value"], 0)


def _query(head: re.Match[str]) -> bool:
    name = head["name"]
    return name.lower() in _QUERY_NAMES or is_secret_key(name)


def _curl_user(head: re.Match[str]) -> bool:
    # `docker run -u 1000:1000` is a user and group, not a password.
    return not (head["user"].isdigit() and head["value"].isdigit())


# Provider token formats: a literal first (so the engine skips to it), the boundary checked behind it: a
# letter or digit (a longer word: `task-…`), never `-` or `_`, which join a token to a name (`tool-sk-ant-…`,
# `x_ghp_…`).
TOKEN_RULES = (
    _rule(
        "private_key",
        ("-----begin",),
        r"(?s)-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)",
    ),
    _rule(
        "jwt",
        ("eyj",),
        r"eyJ(?<![A-Za-z0-9]eyJ)[A-Za-z0-9_-]{5,}+(?:\.[A-Za-z0-9_-]*+){2,4}",
        lead=r"eyJ(?<![A-Za-z0-9]eyJ)",
        run=r"[A-Za-z0-9_-]*+",
    ),
    _rule(
        "aws_access_key_id", ("akia", "asia"), r"A[KS]IA(?<![A-Za-z0-9]A[KS]IA)[A-Z0-9]{16}(?![A-Za-z0-9])"
    ),
    _rule(
        "aws_secret_access_key",
        ("aws",),
        r"(?P<pre>(?i:aws)(?<![A-Za-z0-9][Aa][Ww][Ss])[_-]?(?i:secret)[_-]?(?i:access[_-]?)?(?i:key)"
        r"[\"']?[ \t]*[:=][ \t]*[\"']?)[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])",
        requires=(("secret",),),
    ),
    _rule(
        "github_token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"g(?<![A-Za-z0-9]g)(?:h[pousr]_[A-Za-z0-9]{36,}+|ithub_pat_[A-Za-z0-9_]{22,}+)",
    ),
    _rule("gitlab_token", ("glpat-",), r"glpat-(?<![A-Za-z0-9]glpat-)[\w-]{20,}+"),
    _rule(
        "slack_token",
        ("xox", "xapp"),
        r"x(?<![A-Za-z0-9]x)(?:ox[abposre]-|app-|oxe\.xox[bp]-)[A-Za-z0-9-]{10,}+",
    ),
    _rule(
        "webhook_url",
        ("hooks.", "discord", ".webhook."),
        r"(?P<pre>(?i:hooks\.slack\.com/(?:services|workflows|triggers)/|discord(?:app)?\.com/api/webhooks/"
        r"|\.webhook\.office\.com/webhookb2/|hooks\.zapier\.com/hooks/catch/))(?!\[REDACTED:)"
        r"[^\s\"'<>?#\\]{6,}+",
    ),
    _rule(
        "stripe_key",
        ("sk_live_", "sk_test_"),
        r"sk_(?:live|test)_(?<![A-Za-z0-9]sk_(?:live|test)_)[A-Za-z0-9]{16,}+",
    ),
    _rule(
        "stripe_key",
        ("rk_live_", "rk_test_"),
        r"rk_(?:live|test)_(?<![A-Za-z0-9]rk_(?:live|test)_)[A-Za-z0-9]{16,}+",
    ),
    _rule("webhook_secret", ("whsec_",), r"whsec_(?<![A-Za-z0-9]whsec_)[A-Za-z0-9+/=]{16,}+"),
    _rule("google_api_key", ("aiza",), r"AIza(?<![A-Za-z0-9]AIza)[A-Za-z0-9_-]{35,}+"),
    _rule("google_oauth_token", ("ya29.",), r"ya29\.(?<![A-Za-z0-9.]ya29\.)[\w-]{20,}+"),
    _rule("anthropic_key", ("sk-ant-",), r"sk-ant-(?<![A-Za-z0-9]sk-ant-)[A-Za-z0-9_-]{20,}+"),
    _rule("openai_key", ("sk-",), r"sk-(?<![A-Za-z0-9]sk-)[A-Za-z0-9_-]{20,}+"),
)

# Credentials in URLs and auth schemes. A URL's scheme is checked behind its `://`.
URL_RULES = (
    # The greedy value backtracks to the last "@" (at most 1024 characters), so an unencoded "@" in the
    # password is covered too.
    _rule(
        "url_password",
        ("://",),
        r"(?P<pre>://(?<=[A-Za-z0-9+.-]://)[^\s/?#@:\[\]]{0,256}+:)(?!\[REDACTED:)[^\s/?#\"'<>]{1,1024}(?=@)",
        requires=(("@",), (CANDIDATE_TAGS["userinfo"],)),
    ),
    _rule(
        "url_userinfo",
        ("://",),
        r"(?P<pre>://(?<=[A-Za-z0-9+.-]://))[A-Za-z0-9._~%!$&'()*+,;=-]{16,1024}(?=@)",
        requires=(("@",), (CANDIDATE_TAGS["userinfo"],)),
    ),
    _rule(
        "bearer",
        (CANDIDATE_TAGS["bearer"],),
        # `name="..."` is an auth-param (`Bearer resource_metadata="..."`), not a token; so is `name=`
        # before a placeholder, which a second pass must leave alone.
        r"(?P<pre>[Bb](?<![\w][Bb])(?i:earer)[ \t]+)(?P<value>[\w.~+/-]++(?:=+(?![\"']|\[REDACTED:))?)"
        r"(?![\w.~+/=-])",
        accept=lambda head: looks_like_token(head["value"]),
        anchor=("bearer",),
    ),
    _rule(
        "basic",
        (CANDIDATE_TAGS["basic"],),
        r"(?P<pre>[Bb](?<![\w][Bb])(?i:asic)[ \t]+)(?P<value>[A-Za-z0-9+/]++(?:=+(?![\"']|\[REDACTED:))?)"
        r"(?![A-Za-z0-9+/=])",
        accept=lambda head: _is_basic_credential(head["value"]),
        anchor=("basic",),
    ),
    _rule(
        "query_param",
        tuple(QUERY_TAGS),
        r"[?&#](?:amp;)?(?P<name>[A-Za-z_][\w.-]*+)=",
        r"(?!\[REDACTED:)[^&#\s\"'<>]++",
        _query,
        requires=(("?", "&", "#"), ("=",)),
        anchor=("?", "&", "#"),
    ),
)

# Credentials on command lines: `curl -u user:pass`, `mysql -pSECRET`, `sshpass -p`, openssl `pass:`.
CLI_RULES = (
    _rule(
        "cli_password",
        ("-u",),
        r"-(?<![\w-]-)(?:-user|-proxy-user|u|U)(?:[ \t]+|=)?(?P<q>[\"']?)(?P<user>[^\s:\"'@]{0,256}+):"
        r"(?!\[REDACTED:)(?P<value>[^\s\"']{1,1024}+)",
        accept=_curl_user,
        back=1,  # the first dash of `--user`
    ),
    _rule(
        "cli_password",
        ("mysql", "mariadb"),
        r"m(?<![\w-]m)(?:ysql|ariadb)(?:dump|admin|sh|import|check)?\b[^\r\n]{0,512}?[ \t]-p"
        r"(?!\[REDACTED:)(?P<value>[^\s\"'-][^\s\"']{0,1023}+)",
        requires=(("-p",),),
    ),
    _rule(
        "cli_password",
        ("sshpass",),
        r"sshpass(?<![\w-]sshpass)[ \t]+-p[ \t]*[\"']?(?!\[REDACTED:)(?P<value>[^\s\"']{1,1024}+)",
    ),
    _rule(
        "cli_password",
        ("-pass",),
        r"-pass(?<![\w-]-pass)(?:in|out)?[ \t]+pass:(?!\[REDACTED:)(?P<value>[^\s\"']{1,1024}+)",
        requires=(("pass:",),),
    ),
)

# Name/value pairs: HAR and Postman header lists, Kubernetes env, .NET `<add key= value=/>`, header tuples.
_NAME = r"(?P<n>[^\"'\\\r\n<>]{1,128}+)"
PAIR_RULES = (
    _rule(
        "assignment",
        KEY_MARKERS,
        rf"(?P<nq>[\"'])(?i:name|key|header|field)(?P=nq)[ \t]*:[ \t]*(?P<q>[\"']){_NAME}(?P=q)[ \t]*,"
        rf"[ \t\r\n]*(?P<vq>[\"'])(?i:value|val)(?P=vq)[ \t]*:[ \t]*(?P<q2>[\"'])"
        rf"(?P<value>{_STRING.format(q='q2')})(?P=q2)",
        accept=_pair_value,
        scheme=True,
        requires=(
            ('name"', "name'", 'key"', "key'", 'header"', "header'", 'field"', "field'"),
            ("val",),
            (CANDIDATE_TAGS["pair_name_first"],),
        ),
        anchor=('name"', "name'", 'key"', "key'", 'header"', "header'", 'field"', "field'"),
        back=1,  # the quote before the name key
    ),
    _rule(
        "assignment",
        KEY_MARKERS,
        rf"(?P<vq>[\"'])(?i:value|val)(?P=vq)[ \t]*:[ \t]*(?P<q>[\"'])"
        rf"(?P<value>{_STRING.format(q='q')})(?P=q)"
        rf"[ \t]*,[ \t\r\n]*(?P<nq>[\"'])(?i:name|key|header|field)(?P=nq)[ \t]*:[ \t]*(?P<q2>[\"']){_NAME}"
        r"(?P=q2)",
        accept=_pair_value,
        scheme=True,
        requires=(
            ('value"', "value'", 'val"', "val'"),
            ("name", "key", "header", "field"),
            (CANDIDATE_TAGS["pair_value_first"],),
        ),
        anchor=('value"', "value'", 'val"', "val'"),
        back=1,  # the quote before the value key
    ),
    _rule(
        "assignment",
        KEY_MARKERS,
        rf"=(?:(?<=[Nn][Aa][Mm][Ee]=)|(?<=[Kk][Ee][Yy]=))(?P<q>[\"']){_NAME}(?P=q)[ \t\r\n]+(?i:value)="
        rf"(?P<q2>[\"'])(?P<value>{_STRING.format(q='q2')})(?P=q2)",
        accept=_pair_value,
        scheme=True,
        requires=(("name=", "key="), ("value=",), (CANDIDATE_TAGS["pair_attributes"],)),
        anchor=("name=", "key="),
    ),
    _rule(
        "assignment",
        KEY_MARKERS,
        # Only in a list of pairs (or Python tuples): `["password", "email"]` alone is a list of names.
        rf"(?:\[|,)[ \t\r\n]*+[\[(][ \t]*(?P<q>[\"']){_NAME}(?P=q)[ \t]*,[ \t]*(?P<q2>[\"'])"
        rf"(?P<value>{_STRING.format(q='q2')})(?P=q2)[ \t]*[\])]",
        accept=_pair_value,
        scheme=True,
        requires=((CANDIDATE_TAGS["pairlist"],),),
        back=None,
    ),
)
