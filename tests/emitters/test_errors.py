"""MCPDiagnosticError and error_data: what a host raises and returns once a failure is classified."""

from __future__ import annotations

import json
import pickle
import secrets

import pytest
from mcp.shared.exceptions import MCPError

from mcpdiag.emitters.classifier import classify
from mcpdiag.emitters.codes import CATALOG
from mcpdiag.emitters.errors import MCPDiagnosticError, error_data
from mcpdiag.emitters.ids import new_trace_id

TASK_GROUP = "unhandled errors in a TaskGroup (1 sub-exception)"


def sdk_timeout(secret: str = "") -> BaseExceptionGroup[BaseException]:
    """A 2.x session timeout as it escapes the transport and session task groups."""
    leaf = MCPError(code=-32001, message=f"Request 'initialize' timed out {secret}")
    return BaseExceptionGroup(TASK_GROUP, [BaseExceptionGroup(TASK_GROUP, [leaf])])


def raised(err: MCPDiagnosticError, cause: BaseException) -> MCPDiagnosticError:
    """`err` as a host raises it: `raise err from cause`."""
    try:
        raise err from cause
    except MCPDiagnosticError as caught:
        return caught


def test_str_is_the_safe_message_and_the_debug_id_never_the_sdk_text() -> None:
    secret, debug_id = secrets.token_hex(8), new_trace_id()
    cause = sdk_timeout(secret)
    classification = classify(cause, server="github")
    err = raised(MCPDiagnosticError.from_classification(classification, debug_id=debug_id), cause)
    assert str(err) == f"{CATALOG['MCP_TIMEOUT'].render('github')} (Debug ID: {debug_id})"
    assert secret not in str(err) and secret not in repr(err)
    assert err.__cause__ is cause


def test_attributes_come_from_the_classification() -> None:
    classification = classify(sdk_timeout(), server="github")
    event = {"code": "MCP_TIMEOUT", "traceId": "ab" * 16}
    err = MCPDiagnosticError.from_classification(classification, debug_id="ab" * 16, event=event)
    assert err.classification is classification
    assert (err.code, err.retryable, err.message_safe) == ("MCP_TIMEOUT", True, classification.message_safe)
    assert err.debug_id == "ab" * 16
    assert err.event == event and err.event is not event
    assert MCPDiagnosticError(classification, debug_id="x").event is None


def test_a_bare_code_builds_its_classification_from_the_catalog() -> None:
    err = MCPDiagnosticError("MCP_DOMAIN_NOT_ALLOWED", debug_id="cd" * 16, server="files")
    assert err.code == "MCP_DOMAIN_NOT_ALLOWED" and err.retryable is False
    assert err.message_safe == CATALOG["MCP_DOMAIN_NOT_ALLOWED"].render("files")
    assert err.classification.action == CATALOG["MCP_DOMAIN_NOT_ALLOWED"].action


def test_an_unknown_code_is_kept_with_the_fallback_entry() -> None:
    err = MCPDiagnosticError("MCP_FROM_THE_FUTURE", debug_id="ef" * 16)
    assert err.code == "MCP_FROM_THE_FUTURE"
    assert err.classification.severity == CATALOG["MCP_INTERNAL_ERROR"].severity


def test_it_is_an_ordinary_exception_hosts_already_catch() -> None:
    with pytest.raises(Exception, match=r"\(Debug ID: 0123\)$"):
        raise MCPDiagnosticError("MCP_TIMEOUT", debug_id="0123")


def test_classify_passes_an_already_classified_error_through_unchanged() -> None:
    cause = sdk_timeout()
    err = raised(MCPDiagnosticError.from_classification(classify(cause), debug_id="12" * 16), cause)
    assert classify(err) is err.classification
    group = BaseExceptionGroup(TASK_GROUP, [ValueError("sibling"), err])
    assert classify(group, touchpoint="tool_call") is err.classification


def test_pickling_round_trips() -> None:
    err = MCPDiagnosticError.from_classification(classify(sdk_timeout()), debug_id="34" * 16, event={"a": 1})
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is MCPDiagnosticError
    assert (str(copy), copy.code, copy.event) == (str(err), err.code, {"a": 1})
    assert copy.classification == err.classification


def test_error_data_comes_from_the_diagnostic_error_wherever_it_sits() -> None:
    err = MCPDiagnosticError("MCP_RATE_LIMITED", debug_id="56" * 16)
    wrapper = RuntimeError("host wrapper")
    wrapper.__cause__ = err
    expected = {"debugId": "56" * 16, "code": "MCP_RATE_LIMITED", "retryable": True}
    assert error_data(err) == expected
    assert error_data(BaseExceptionGroup(TASK_GROUP, [wrapper])) == expected
    assert error_data(err, debug_id="ignored") == expected


def test_error_data_classifies_other_exceptions() -> None:
    assert error_data(sdk_timeout()) == {"debugId": None, "code": "MCP_TIMEOUT", "retryable": True}
    data = error_data(ConnectionRefusedError(111, "Connection refused"), debug_id="78" * 16)
    assert data == {"debugId": "78" * 16, "code": "MCP_CONNECTION_REFUSED", "retryable": True}
    assert json.loads(json.dumps(data)) == data
