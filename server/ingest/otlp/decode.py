"""OTLP/HTTP bodies (protobuf or JSON) → plain spans and log records.

JSON is decoded by hand rather than through protobuf's JSON parser: OTLP/JSON writes trace and
span ids as hex, which that parser silently misreads as base64 (a 32-char trace id becomes 24
bytes). Protobuf bodies are parsed with the official `opentelemetry-proto` classes.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

STATUS_ERROR = 2


class UndecodableBody(ValueError):
    pass


@dataclass(slots=True)
class SpanEvent:
    name: str
    time: datetime | None
    attributes: dict[str, Any]


@dataclass(slots=True)
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start: datetime | None
    end: datetime | None
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope_name: str
    scope_version: str
    status_code: int = 0
    status_message: str = ""
    kind: int = 0
    events: list[SpanEvent] = field(default_factory=list)


@dataclass(slots=True)
class LogRecord:
    trace_id: str
    span_id: str
    time: datetime | None
    event_name: str
    body: Any
    attributes: dict[str, Any]


def _time(nanos: Any) -> datetime | None:
    try:
        value = int(nanos)
    except (TypeError, ValueError):
        return None
    if value <= 0:
        return None
    return datetime.fromtimestamp(value // 1000 / 1_000_000, tz=UTC)


def _hex_id(raw: Any, size: int) -> str | None:
    """An id as lower-case hex, or None when absent or malformed."""
    if isinstance(raw, bytes):
        text = raw.hex()
    elif isinstance(raw, str):
        text = raw.strip().lower()
    else:
        return None
    if len(text) != size * 2 or text.strip("0") == "":
        return None
    try:
        bytes.fromhex(text)
    except ValueError:
        return None
    return text


# --- protobuf -------------------------------------------------------------------------------


def _pb_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [_pb_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def _pb_attrs(attributes: Any) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in attributes}


def spans_from_protobuf(raw: bytes) -> list[Span]:
    try:
        request = ExportTraceServiceRequest.FromString(raw)
    except DecodeError as exc:
        raise UndecodableBody(f"not an OTLP ExportTraceServiceRequest: {exc}") from None
    spans = []
    for resource_spans in request.resource_spans:
        resource = _pb_attrs(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            for span in scope_spans.spans:
                spans.append(
                    Span(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        start=_time(span.start_time_unix_nano),
                        end=_time(span.end_time_unix_nano),
                        attributes=_pb_attrs(span.attributes),
                        resource=resource,
                        scope_name=scope.name,
                        scope_version=scope.version,
                        status_code=span.status.code,
                        status_message=span.status.message,
                        kind=span.kind,
                        events=[
                            SpanEvent(e.name, _time(e.time_unix_nano), _pb_attrs(e.attributes))
                            for e in span.events
                        ],
                    )
                )
    return spans


def logs_from_protobuf(raw: bytes) -> list[LogRecord]:
    try:
        request = ExportLogsServiceRequest.FromString(raw)
    except DecodeError as exc:
        raise UndecodableBody(f"not an OTLP ExportLogsServiceRequest: {exc}") from None
    records = []
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for log in scope_logs.log_records:
                attributes = _pb_attrs(log.attributes)
                event_name = getattr(log, "event_name", "") or str(attributes.get("event.name", ""))
                records.append(
                    LogRecord(
                        trace_id=log.trace_id.hex(),
                        span_id=log.span_id.hex(),
                        time=_time(log.time_unix_nano) or _time(log.observed_time_unix_nano),
                        event_name=event_name,
                        body=_pb_value(log.body),
                        attributes=attributes,
                    )
                )
    return records


# --- JSON -----------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "doubleValue" in value:
        return value["doubleValue"]
    if "arrayValue" in value:
        return [_json_value(v) for v in _list(value["arrayValue"], "values")]
    if "kvlistValue" in value:
        return _json_attrs(_list(value["kvlistValue"], "values"))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _list(container: Any, key: str) -> list[Any]:
    if not isinstance(container, dict):
        raise UndecodableBody(f"expected an object holding {key!r}")
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise UndecodableBody(f"{key!r} must be an array")
    return value


def _json_attrs(attributes: Any) -> dict[str, Any]:
    if attributes is None:
        return {}
    if not isinstance(attributes, list):
        raise UndecodableBody("attributes must be a list of {key, value} objects")
    out: dict[str, Any] = {}
    for item in attributes:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = _json_value(item.get("value"))
    return out


def _json_id(raw: Any, size: int) -> str:
    """Hex per OTLP/JSON; base64 (what a generic protobuf JSON encoder writes) as a fallback."""
    if isinstance(raw, str) and len(raw) != size * 2:
        try:
            decoded = base64.b64decode(raw, validate=True)
        except ValueError:
            return raw
        if len(decoded) == size:
            return decoded.hex()
    return raw if isinstance(raw, str) else ""


def _load_json(raw: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UndecodableBody(f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise UndecodableBody("expected a JSON object")
    return payload


def spans_from_json(raw: bytes) -> list[Span]:
    payload = _load_json(raw)
    spans = []
    for resource_spans in _list(payload, "resourceSpans"):
        resource = _json_attrs((resource_spans.get("resource") or {}).get("attributes"))
        for scope_spans in _list(resource_spans, "scopeSpans"):
            scope = scope_spans.get("scope") or {}
            for span in _list(scope_spans, "spans"):
                if not isinstance(span, dict):
                    raise UndecodableBody("each span must be an object")
                status = span.get("status") or {}
                spans.append(
                    Span(
                        trace_id=_json_id(span.get("traceId"), 16),
                        span_id=_json_id(span.get("spanId"), 8),
                        parent_span_id=_json_id(span.get("parentSpanId"), 8) or None,
                        name=str(span.get("name") or ""),
                        start=_time(span.get("startTimeUnixNano")),
                        end=_time(span.get("endTimeUnixNano")),
                        attributes=_json_attrs(span.get("attributes")),
                        resource=resource,
                        scope_name=str(scope.get("name") or ""),
                        scope_version=str(scope.get("version") or ""),
                        status_code=_status_code(status.get("code")),
                        status_message=str(status.get("message") or ""),
                        kind=_int_field(span.get("kind")),
                        events=[
                            SpanEvent(
                                str(e.get("name") or ""),
                                _time(e.get("timeUnixNano")),
                                _json_attrs(e.get("attributes")),
                            )
                            for e in _list(span, "events")
                            if isinstance(e, dict)
                        ],
                    )
                )
    return spans


def _int_field(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _status_code(code: Any) -> int:
    if isinstance(code, int):
        return code
    return {"STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}.get(str(code), 0)


def logs_from_json(raw: bytes) -> list[LogRecord]:
    payload = _load_json(raw)
    records = []
    for resource_logs in _list(payload, "resourceLogs"):
        for scope_logs in _list(resource_logs, "scopeLogs"):
            for log in _list(scope_logs, "logRecords"):
                if not isinstance(log, dict):
                    continue
                attributes = _json_attrs(log.get("attributes"))
                records.append(
                    LogRecord(
                        trace_id=_json_id(log.get("traceId"), 16),
                        span_id=_json_id(log.get("spanId"), 8),
                        time=_time(log.get("timeUnixNano"))
                        or _time(log.get("observedTimeUnixNano")),
                        event_name=str(log.get("eventName") or attributes.get("event.name") or ""),
                        body=_json_value(log.get("body")),
                        attributes=attributes,
                    )
                )
    return records


def valid_ids(trace_id: str, span_id: str) -> bool:
    return _hex_id(trace_id, 16) is not None and _hex_id(span_id, 8) is not None
