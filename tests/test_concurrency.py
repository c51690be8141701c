from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import Engine

from server.config import Settings
from tests.conftest import make_project
from tests.factories import new_id, span_event, trace_event
from tests.live import live_server


def test_many_concurrent_batches_complete_with_a_tiny_connection_pool(
    settings: Settings, engine: Engine
) -> None:
    """Requests waiting for the writer must never hold the connections the writer needs."""
    project = make_project(engine)
    small = settings.model_copy(update={"db_pool_size": 1})
    trace_ids = [new_id() for _ in range(40)]

    def send(trace_id: str) -> int:
        batch = {"batch": [trace_event(trace_id, name="t"), span_event(new_id(), trace_id)]}
        return httpx.post(
            f"{url}/api/public/ingestion", json=batch, auth=project.auth, timeout=20
        ).status_code

    with live_server(small) as url, ThreadPoolExecutor(max_workers=40) as pool:
        statuses = list(pool.map(send, trace_ids))
        assert statuses == [207] * len(trace_ids)
        listed = httpx.get(
            f"{url}/api/public/traces", params={"limit": 100}, auth=project.auth
        ).json()
    assert listed["meta"]["totalItems"] == len(trace_ids)
