"""Hand-built OTLP/JSON bodies, as the JS SDK and other languages' exporters send them."""

from __future__ import annotations

import secrets
from typing import Any

from tests.factories import T0


def trace_id() -> str:
    return secrets.token_hex(16)


def span_id() -> str:
    return secrets.token_hex(8)


def nanos(seconds: float) -> str:
    return str(int((T0.timestamp() + seconds) * 1_000_000_000))


def value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, list):
        return {"arrayValue": {"values": [value(i) for i in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": [{"key": k, "value": value(i)} for k, i in v.items()]}}
    return {"stringValue": str(v)}


def attributes(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": value(v)} for k, v in attrs.items()]


def span(
    tid: str,
    sid: str,
    name: str,
    attrs: dict[str, Any],
    *,
    parent: str = "",
    start: float = 0.0,
    end: float = 1.0,
    status: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "traceId": tid,
        "spanId": sid,
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": nanos(start),
        "endTimeUnixNano": nanos(end),
        "attributes": attributes(attrs),
        "status": status or {},
        "events": events or [],
    }


def export(
    *spans: dict[str, Any], resource: dict[str, Any] | None = None, scope: str = "test"
) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes(resource or {"service.name": "tests"})},
                "scopeSpans": [{"scope": {"name": scope, "version": "1.0"}, "spans": list(spans)}],
            }
        ]
    }


def log_export(*records: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": []},
                "scopeLogs": [{"scope": {"name": "t"}, "logRecords": list(records)}],
            }
        ]
    }


def log_record(tid: str, sid: str, event_name: str, body: Any) -> dict[str, Any]:
    return {
        "traceId": tid,
        "spanId": sid,
        "timeUnixNano": nanos(0.5),
        "eventName": event_name,
        "body": value(body),
        "attributes": attributes({"gen_ai.system": "openai"}),
    }
