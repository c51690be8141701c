"""The one internal shape that every wire format becomes before it reaches the writer.

A record says "this event sets these fields of this entity". `fields` holds only what the
event set, keyed by column name; the writer merges it into the stored row.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Kind(enum.Enum):
    TRACE = "trace"
    OBSERVATION = "observation"
    SCORE = "score"


@dataclass(slots=True)
class Record:
    kind: Kind
    project_id: str
    id: str
    # When the client says the event happened; orders events for the same entity.
    event_time: datetime
    # Id of the wire event this came from, for per-event error reports.
    event_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    # A create (rather than an update) sets an observation's type, and settles the immutable
    # fields of a trace or observation that so far only had defaults.
    is_create: bool = True
    # Only fills fields that are still empty, whatever its time (content joined from OTLP logs).
    fill_only: bool = False

    @property
    def lock_key(self) -> str:
        return f"{self.kind.value}:{self.project_id}:{self.id}"
