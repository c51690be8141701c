from __future__ import annotations

from server.deps import AppState
from server.errors import Unavailable
from server.ingest.records import Record
from server.ingest.writer import AtCapacity, Failures


async def store_records(state: AppState, records: list[Record]) -> Failures:
    """Hand records to the writer and wait for the commit; a full writer becomes a 503."""
    try:
        return await state.writer.write(records)
    except AtCapacity:
        raise Unavailable("Spyglass is busy storing earlier data; retry shortly.") from None
