"""Scores added by hand on the trace page: the form, its validation, and the write.

The score goes through the ingestion writer like any other (source ANNOTATION, author = the
signed-in user), so the usual merge rules and read-your-writes hold.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from server.deps import SessionDep, StateDep
from server.errors import ApiError
from server.ingest.records import Record
from server.ingest.scores import ScoreBody, score_record
from server.ingest.store import store_records
from web.queries import trace_detail as q
from web.security import ProjectAccess

ANNOTATION_TYPES = ("NUMERIC", "BOOLEAN", "CATEGORICAL")
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


@dataclass
class AnnotationForm:
    action: str
    observation_id: str = ""
    name: str = ""
    data_type: str = "NUMERIC"
    value: str = ""
    comment: str = ""
    error: str | None = None
    saved: str | None = None
    data_types: tuple[str, ...] = ANNOTATION_TYPES


def annotation_record(
    session: SessionDep, access: ProjectAccess, trace_id: str, form: AnnotationForm
) -> Record | str | None:
    """The score record to store, the reason the form is refused, or None: no such trace."""
    trace = q.get_trace(session, access.project.id, trace_id)
    if trace is None:
        return None
    environment = trace.environment
    if form.observation_id:
        obs = q.get_observation(session, access.project.id, trace_id, form.observation_id)
        if obs is None:
            return "That observation is not in this trace."
        environment = obs.environment
    parsed = _annotation_value(form)
    if isinstance(parsed, _Refusal):
        return parsed.message
    score_id = str(uuid.uuid4())
    try:
        body = ScoreBody(
            name=form.name.strip(),
            value=parsed,
            dataType=form.data_type,  # checked by _annotation_value
            traceId=trace_id,
            observationId=form.observation_id or None,
            comment=form.comment.strip() or None,
            source="ANNOTATION",
            environment=environment,
        )
        record = score_record(
            body, score_id, datetime.now(UTC), access.project.id, default_id=score_id
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        return f"Invalid {'.'.join(str(p) for p in first['loc'])}: {first['msg']}."
    except ValueError as exc:
        return f"Invalid value: {exc}."
    record.fields["author_user_id"] = access.user.id
    return record


@dataclass(frozen=True)
class _Refusal:
    message: str


def _annotation_value(form: AnnotationForm) -> float | str | _Refusal:
    if not form.name.strip():
        return _Refusal("Give the score a name.")
    raw = form.value.strip()
    if form.data_type == "NUMERIC":
        try:
            return float(raw)
        except ValueError:
            return _Refusal("A NUMERIC score needs a number as its value.")
    if form.data_type == "BOOLEAN":
        if raw.lower() in TRUE_WORDS:
            return 1.0
        if raw.lower() in FALSE_WORDS:
            return 0.0
        return _Refusal("A BOOLEAN score needs true or false (1 or 0) as its value.")
    if form.data_type == "CATEGORICAL":
        return raw if raw else _Refusal("A CATEGORICAL score needs a category as its value.")
    return _Refusal(f"Choose a data type: {', '.join(ANNOTATION_TYPES)}.")


async def store_annotation(state: StateDep, record: Record) -> tuple[str | None, int]:
    """(error message or None, HTTP status) after handing the score to the writer."""
    try:
        failures = await store_records(state, [record])
    except ApiError as exc:
        return f"{exc.message}", exc.status
    if failures:
        return "The score could not be stored; try again.", 503
    return None, 200
