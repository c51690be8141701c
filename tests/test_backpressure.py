from __future__ import annotations

from datetime import UTC, datetime

import anyio
import httpx
import pytest
from sqlalchemy import Engine

from server.app import create_app
from server.config import Settings
from server.deps import AppState
from server.ingest.records import Kind, Record
from server.ingest.writer import AtCapacity, IngestWriter
from tests.conftest import make_project
from tests.factories import new_id, trace_event


def records(count: int) -> list[Record]:
    now = datetime.now(UTC)
    return [Record(Kind.TRACE, "p", new_id(), now, new_id()) for _ in range(count)]


def test_the_writer_refuses_work_beyond_its_limit_but_never_an_empty_queue(engine: Engine) -> None:
    writer = IngestWriter(engine, max_pending=100)  # not started: nothing drains it
    writer.submit(records(80))
    with pytest.raises(AtCapacity):
        writer.submit(records(30))
    writer.submit(records(20))  # still within the limit
    assert writer.pending == 100

    lone = IngestWriter(engine, max_pending=100)
    lone.submit(records(500))  # one request larger than the limit still gets through alone
    assert lone.pending == 500


def test_a_full_writer_answers_503_with_retry_after(settings: Settings, engine: Engine) -> None:
    project = make_project(engine)
    app = create_app(settings.model_copy(update={"max_pending_records": 100}))
    state: AppState = app.state.spyglass
    state.writer.submit(records(100))  # the writer thread is not running: the queue stays full

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://spyglass") as client:
            batch = {"batch": [trace_event(new_id(), name="too much")]}
            return await client.post("/api/public/ingestion", json=batch, auth=project.auth)

    try:
        response = anyio.run(post)
    finally:
        state.writer.engine.dispose()
        state.engine.dispose()
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "retry" in response.json()["message"]


def test_a_full_writer_answers_otlp_exporters_503_so_they_retry(
    settings: Settings, engine: Engine
) -> None:
    from tests.otlp_bodies import export, span, span_id, trace_id

    project = make_project(engine)
    app = create_app(settings.model_copy(update={"max_pending_records": 100}))
    state: AppState = app.state.spyglass
    state.writer.submit(records(100))

    async def post() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://spyglass") as client:
            body = export(span(trace_id(), span_id(), "busy", {}))
            return await client.post("/v1/traces", json=body, auth=project.auth)

    try:
        response = anyio.run(post)
    finally:
        state.writer.engine.dispose()
        state.engine.dispose()
    # 503 and 429 are the codes OTLP exporters retry; Retry-After stays short so they do.
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
