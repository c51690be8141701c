"""OTLP/HTTP receivers: traces (and GenAI content sent as logs) from any OpenTelemetry exporter,
including the Langfuse SDKs. Same writer, same records, same read-your-writes as the batch API."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from starlette.responses import Response

from server.deps import StateDep
from server.errors import ApiError
from server.ingest.body import read_body
from server.ingest.otlp import decode
from server.ingest.otlp.content import content_from_events
from server.ingest.otlp.mapping import span_records
from server.ingest.records import Kind, Record
from server.ingest.store import store_records
from server.projects.auth import ProjectDep

log = logging.getLogger("spyglass.otlp")
router = APIRouter(tags=["opentelemetry"])
PROTOBUF = "application/x-protobuf"


class UnsupportedMediaType(ApiError):
    status = 415


def _is_protobuf(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").lower()
    if "protobuf" in content_type:
        return True
    if "json" in content_type:
        return False
    raise UnsupportedMediaType(
        "OTLP/HTTP bodies must be application/x-protobuf or application/json",
        error="Invalid content type",
    )


def _reply(protobuf: bool, rejected: int, message: str, *, logs: bool = False) -> Response:
    if protobuf:
        reply: Any = ExportLogsServiceResponse() if logs else ExportTraceServiceResponse()
        if rejected or message:
            partial = reply.partial_success
            if logs:
                partial.rejected_log_records = rejected
            else:
                partial.rejected_spans = rejected
            partial.error_message = message
        return Response(reply.SerializeToString(), media_type=PROTOBUF)
    body: dict[str, Any] = {}
    if rejected or message:
        count_key = "rejectedLogRecords" if logs else "rejectedSpans"
        body["partialSuccess"] = {count_key: str(rejected), "errorMessage": message}
    return Response(orjson.dumps(body), media_type="application/json")


@router.post("/api/public/otel/v1/traces", summary="OTLP/HTTP traces (protobuf or JSON)")
@router.post("/v1/traces", summary="OTLP/HTTP traces at the standard path")
async def otlp_traces(request: Request, state: StateDep, principal: ProjectDep) -> Response:
    protobuf = _is_protobuf(request)
    raw = await read_body(request, state.settings.max_otlp_body_bytes)
    try:
        spans = decode.spans_from_protobuf(raw) if protobuf else decode.spans_from_json(raw)
    except decode.UndecodableBody as exc:
        raise ApiError(str(exc), error="Invalid request data", status=400) from None
    received = datetime.now(UTC)
    records: list[Record] = []
    rejected: list[str] = []
    for span in spans:
        if not decode.valid_ids(span.trace_id, span.span_id):
            rejected.append(f"span {span.name[:80]!r} has no valid traceId/spanId")
            continue
        try:
            records.extend(span_records(span, principal.project_id, received))
        except Exception as exc:  # one odd span must not sink the export
            log.warning(
                "span %s could not be mapped: %s", span.span_id, type(exc).__name__, exc_info=True
            )
            rejected.append(f"span {span.span_id} could not be mapped ({type(exc).__name__})")
    if spans and len(rejected) == len(spans):
        raise ApiError(
            "no span in this export has valid trace and span ids (is it a logs or metrics "
            "payload sent to the traces endpoint?)",
            error="Invalid request data",
            status=400,
        )
    failures = await store_records(state, records)
    rejected.extend(
        f"span {event_id.split(':')[-1]} {reason}" for event_id, reason in failures.items()
    )
    return _reply(protobuf, len(rejected), "; ".join(rejected[:10]))


@router.post("/api/public/otel/v1/logs", summary="OTLP/HTTP logs: GenAI content joined to its span")
@router.post("/v1/logs", summary="OTLP/HTTP logs at the standard path")
async def otlp_logs(request: Request, state: StateDep, principal: ProjectDep) -> Response:
    protobuf = _is_protobuf(request)
    raw = await read_body(request, state.settings.max_otlp_body_bytes)
    try:
        logs = decode.logs_from_protobuf(raw) if protobuf else decode.logs_from_json(raw)
    except decode.UndecodableBody as exc:
        raise ApiError(str(exc), error="Invalid request data", status=400) from None
    by_span: dict[tuple[str, str], list[decode.LogRecord]] = defaultdict(list)
    for record in logs:
        if record.event_name.startswith("gen_ai.") and decode.valid_ids(
            record.trace_id, record.span_id
        ):
            by_span[(record.trace_id, record.span_id)].append(record)
    records = [
        _content_record(trace_id, span_id, items, principal.project_id)
        for (trace_id, span_id), items in by_span.items()
    ]
    await store_records(state, [r for r in records if r is not None])
    return _reply(protobuf, 0, "", logs=True)


def _content_record(
    trace_id: str, span_id: str, items: list[decode.LogRecord], project_id: str
) -> Record | None:
    ordered = sorted(items, key=lambda r: r.time or datetime.min.replace(tzinfo=UTC))
    found_input, found_output = content_from_events(
        [(r.event_name, r.attributes, r.body) for r in ordered]
    )
    fields: dict[str, Any] = {"trace_id": trace_id}
    if found_input is not None:
        fields["input"] = orjson.dumps(found_input, default=str).decode()
    if found_output is not None:
        fields["output"] = orjson.dumps(found_output, default=str).decode()
    if len(fields) == 1:
        return None
    when = ordered[0].time or datetime.now(UTC)
    # Content fills what the span left empty, whichever of the two arrives first.
    return Record(
        Kind.OBSERVATION,
        project_id,
        span_id,
        when,
        f"{trace_id}:{span_id}:logs",
        fields,
        is_create=False,
        fill_only=True,
    )
