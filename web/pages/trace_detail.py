"""Trace detail: the observation tree with its waterfall, and the panel of the selected node.

Routes (trace and observation ids may contain "/"):

    GET  /project/{pid}/traces/{tid}                     the page; ?observation=<id> selects
    GET  /project/{pid}/traces/{tid}/observations/{oid}  the same, with that node selected
    GET  /project/{pid}/traces/{tid}/children            tree rows: ?parent=<id>&after=<id>
    POST /project/{pid}/traces/{tid}/scores              annotate the trace or ?observation

An HTMX request for the page or an observation gets only the `panel` block, and the tree is
not even built for it. Large traces render a window of the tree (`web/tree.py`) and leave
"show more" rows that fetch the next window from the children route.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from server.db.models import Observation, Score, Trace, TraceRollup
from server.deps import SessionDep, StateDep
from server.ingest.sanitize import restore
from server.users.queries import Role
from web import content, timeline
from web import tree as trees
from web.annotation import AnnotationForm, annotation_record, store_annotation
from web.queries import trace_detail as q
from web.security import Access, ProjectAccess
from web.templating import is_fragment_request, render

router = APIRouter(prefix="/project/{project_id}/traces")

# Above this many observations the tree is rendered a window at a time.
LAZY_AFTER = 300
# Rows in one window (first paint or one "show more"), and levels below its top.
WINDOW_ROWS = 200
WINDOW_DEPTH = 3
OBSERVATION_TYPES = frozenset(
    {"SPAN", "GENERATION", "EVENT", "AGENT", "TOOL", "CHAIN", "RETRIEVER", "EVALUATOR"}
    | {"EMBEDDING", "GUARDRAIL"}
)


class Links:
    """Every URL of one trace's pages, with ids quoted."""

    def __init__(self, project_id: str, trace_id: str) -> None:
        self.project = f"/project/{quote(project_id, safe='')}"
        self.page = f"{self.project}/traces/{quote(trace_id, safe='/')}"
        self.scores = f"{self.page}/scores"

    def select(self, observation_id: str | None) -> str:
        if observation_id is None:
            return self.page
        return f"{self.page}?{urlencode({'observation': observation_id})}"

    def panel(self, observation_id: str | None) -> str:
        if observation_id is None:
            return self.page
        return f"{self.page}/observations/{quote(observation_id, safe='/')}"

    def children(self, parent: str, after: str | None) -> str:
        params = {"parent": parent} | ({"after": after} if after else {})
        return f"{self.page}/children?{urlencode(params)}"

    def user(self, user_id: str) -> str:
        return f"{self.project}/users/{quote(user_id, safe='')}"

    def session(self, session_id: str) -> str:
        return f"{self.project}/sessions/{quote(session_id, safe='')}"


@dataclass
class Totals:
    latency_ms: float | None
    observations: int
    errors: int
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cost: float | None


@dataclass
class ScoreRow:
    name: str
    value: str
    data_type: str
    source: str
    comment: str | None
    author: str | None
    timestamp: datetime
    observation_id: str | None


@dataclass
class TreeRow:
    id: str
    depth: int
    type: str
    # A CSS-safe class for the type badge.
    type_class: str
    name: str
    model: str | None
    duration_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None
    level: str
    score_count: int
    child_count: int
    orphan: bool
    bar: timeline.Bar | None
    href: str
    panel_url: str
    selected: bool
    kind: Literal["node"] = "node"

    @property
    def is_error(self) -> bool:
        return self.level == "ERROR"

    @property
    def is_warning(self) -> bool:
        return self.level == "WARNING"


@dataclass
class MoreRow:
    depth: int
    remaining: int
    url: str
    # "children" (the node's children were not rendered) or "siblings" (the rest of a level).
    what: Literal["children", "siblings"]
    kind: Literal["more"] = "more"


@dataclass
class Pair:
    key: str
    value: Any


@dataclass
class Panel:
    kind: Literal["trace", "observation"]
    trace_id: str
    observation_id: str | None
    title: str
    type: str
    type_class: str
    start: datetime | None
    end: datetime | None
    duration_ms: float | None
    ttft_ms: float | None = None
    model: str | None = None
    model_parameters: list[Pair] = field(default_factory=list)
    usage: list[Pair] = field(default_factory=list)
    cost: list[Pair] = field(default_factory=list)
    total_cost: float | None = None
    cost_note: str | None = None  # where the cost came from, or why there is none
    usage_estimated: bool = False
    level: str | None = None
    status_message: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    version: str | None = None
    environment: str | None = None
    parent_id: str | None = None
    input: content.Content | None = None
    output: content.Content | None = None
    metadata: content.Content | None = None
    scores: list[ScoreRow] = field(default_factory=list)
    annotation: AnnotationForm | None = None
    notice: str | None = None
    link: str = ""

    @property
    def is_error(self) -> bool:
        return self.level == "ERROR"

    @property
    def is_warning(self) -> bool:
        return self.level == "WARNING"


@dataclass
class PanelFragment:
    access: ProjectAccess
    panel: Panel
    section: str = "traces"


@dataclass
class RowsFragment:
    access: ProjectAccess
    rows: list[TreeRow | MoreRow]
    section: str = "traces"


@dataclass
class TracePage:
    access: ProjectAccess
    trace_id: str
    name: str | None
    timestamp: datetime
    user_id: str | None
    user_url: str | None
    session_id: str | None
    session_url: str | None
    environment: str
    release: str | None
    version: str | None
    tags: list[str]
    totals: Totals
    trace_scores: list[ScoreRow]
    trace_bar: timeline.Bar | None
    trace_url: str
    trace_selected: bool
    rows: list[TreeRow | MoreRow]
    lazy: bool
    ticks: list[timeline.Tick]
    panel: Panel
    section: str = "traces"


@dataclass
class TreeData:
    """A trace's observations as a tree, with the span its waterfall covers."""

    project_id: str
    trace_id: str
    tree: trees.Tree
    span: timeline.Span | None

    @classmethod
    def load(cls, session: SessionDep, project_id: str, trace_id: str) -> TreeData:
        tree = trees.build_tree(q.tree_nodes(session, project_id, trace_id))
        bounds = q.time_span(session, project_id, trace_id) if len(tree) else None
        span = timeline.Span(*bounds) if bounds is not None else None
        return cls(project_id, trace_id, tree, span)

    @property
    def lazy(self) -> bool:
        return len(self.tree) > LAZY_AFTER


# --- routes ---------------------------------------------------------------------------


@router.get("/{trace_id:path}/children")
def tree_children(
    request: Request,
    access: Access,
    session: SessionDep,
    trace_id: str,
    parent: str = "",
    after: str | None = None,
) -> Response:
    if q.get_trace(session, access.project.id, trace_id) is None:
        # Perhaps a trace whose id ends in "/children".
        full_id = f"{trace_id}/children"
        return _page(request, access, session, full_id, request.query_params.get("observation"))
    links = Links(access.project.id, trace_id)
    if not is_fragment_request(request):
        return RedirectResponse(links.select(parent or None), status_code=303)
    data = TreeData.load(session, access.project.id, trace_id)
    if parent and parent not in data.tree:
        return _not_found(request, access, "No such observation", "It is not in this trace.")
    slots = trees.window(
        data.tree, parent or trees.ROOT, after=after, budget=WINDOW_ROWS, max_depth=WINDOW_DEPTH
    )
    score_counts = _score_counts(q.scores_of_trace(session, access.project.id, trace_id))
    rows = _rows(session, slots, data, links, score_counts, selected=None)
    return render(request, "trace.html", RowsFragment(access, rows), fragment="rows")


@router.get("/{trace_id:path}/observations/{observation_id:path}")
def observation_panel(
    request: Request, access: Access, session: SessionDep, trace_id: str, observation_id: str
) -> Response:
    if q.get_trace(session, access.project.id, trace_id) is None:
        full_id = f"{trace_id}/observations/{observation_id}"
        return _page(request, access, session, full_id, request.query_params.get("observation"))
    return _page(request, access, session, trace_id, observation_id, strict=True)


@router.get("/{trace_id:path}")
def trace_page(
    request: Request,
    access: Access,
    session: SessionDep,
    trace_id: str,
    observation: str | None = None,
) -> Response:
    return _page(request, access, session, trace_id, observation or None)


@router.post("/{trace_id:path}/scores")
async def annotate(
    request: Request,
    access: Access,
    session: SessionDep,
    state: StateDep,
    trace_id: str,
    observation: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    data_type: Annotated[str, Form()] = "NUMERIC",
    value: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Add a score by hand, through the ingestion writer like any other score."""
    access.require(Role.MEMBER)
    links = Links(access.project.id, trace_id)
    form = AnnotationForm(links.scores, observation, name, data_type, value, comment)
    prepared = await run_in_threadpool(annotation_record, session, access, trace_id, form)
    if prepared is None:
        return _not_found(request, access, "No such trace", "It is not in this project.")
    status = 400
    if isinstance(prepared, str):
        form.error = prepared
    else:
        form.error, status = await store_annotation(state, prepared)
    # End the read transaction, so the panel below sees the score the writer committed.
    await run_in_threadpool(session.commit)
    if form.error is None:
        if not is_fragment_request(request):
            return RedirectResponse(links.select(observation or None), status_code=303)
        form = AnnotationForm(links.scores, observation, saved=f"Score “{name.strip()}” saved.")
    return await run_in_threadpool(
        _page, request, access, session, trace_id, observation or None, True, form, status
    )


# --- page building --------------------------------------------------------------------


def _wants_panel(request: Request) -> bool:
    return is_fragment_request(request)


def _page(
    request: Request,
    access: ProjectAccess,
    session: SessionDep,
    trace_id: str,
    observation_id: str | None,
    strict: bool = False,
    form: AnnotationForm | None = None,
    status: int = 200,
) -> Response:
    project_id = access.project.id
    trace = q.get_trace(session, project_id, trace_id)
    if trace is None:
        return _not_found(request, access, "No such trace", "It is not in this project.")
    links = Links(project_id, trace_id)
    selected = None
    notice = None
    if observation_id is not None:
        selected = q.get_observation(session, project_id, trace_id, observation_id)
        if selected is None:
            if strict:
                return _not_found(
                    request, access, "No such observation", "It is not in this trace."
                )
            notice = "That observation is not in this trace; showing the trace."
    scores = q.scores_of_trace(session, project_id, trace_id)
    panel = _panel(session, access, links, trace, selected, scores, form)
    panel.notice = notice
    if _wants_panel(request):
        fragment = PanelFragment(access, panel)
        return render(request, "trace.html", fragment, fragment="panel", status_code=status)
    data = TreeData.load(session, project_id, trace_id)
    page = _trace_page(session, access, links, trace, data, selected, scores, panel)
    return render(request, "trace.html", page, status_code=status)


def _not_found(request: Request, access: ProjectAccess, title: str, message: str) -> Response:
    if request.headers.get("hx-request") == "true":
        from web.app import error_page  # web.app imports this module

        return error_page(request, 404, title, message)
    ctx = {"access": access, "section": "traces", "title": title, "message": message}
    return render(request, "error.html", ctx, status_code=404)


def _trace_page(
    session: SessionDep,
    access: ProjectAccess,
    links: Links,
    trace: Trace,
    data: TreeData,
    selected: Observation | None,
    scores: list[Score],
    panel: Panel,
) -> TracePage:
    reveal: list[str] = []
    if selected is not None and selected.id in data.tree:
        reveal = [selected.id, *data.tree.ancestors(selected.id)]
    limits: dict[str, Any] = (
        {"budget": WINDOW_ROWS, "max_depth": WINDOW_DEPTH, "reveal": set(reveal)}
        if data.lazy
        else {}
    )
    slots = trees.window(data.tree, **limits)
    selected_id = selected.id if selected is not None else None
    rows = _rows(session, slots, data, links, _score_counts(scores), selected_id)
    rollup = q.get_rollup(session, access.project.id, trace.id)
    return TracePage(
        access=access,
        trace_id=trace.id,
        name=trace.name,
        timestamp=trace.timestamp,
        user_id=trace.user_id,
        user_url=links.user(trace.user_id) if trace.user_id else None,
        session_id=trace.session_id,
        session_url=links.session(trace.session_id) if trace.session_id else None,
        environment=trace.environment,
        release=trace.release,
        version=trace.version,
        tags=list(trace.tags or []),
        totals=_totals(rollup),
        trace_scores=_trace_scores(scores),
        trace_bar=timeline.bar(data.span, data.span.start, data.span.end) if data.span else None,
        trace_url=links.page,
        trace_selected=selected is None,
        rows=rows,
        lazy=data.lazy,
        ticks=timeline.ticks(data.span) if data.span else [],
        panel=panel,
    )


def _totals(rollup: TraceRollup | None) -> Totals:
    if rollup is None:
        return Totals(None, 0, 0, None, None, None, None)
    return Totals(
        latency_ms=rollup.latency_ms,
        observations=rollup.observation_count,
        errors=rollup.error_count,
        input_tokens=rollup.input_tokens,
        output_tokens=rollup.output_tokens,
        total_tokens=rollup.total_tokens,
        cost=rollup.total_cost,
    )


def cost_note(
    source: str | None, unpriced: str | None, price_id: str | None, tier: str | None = None
) -> str | None:
    if source == "client":
        return "sent by the client"
    if source == "computed":
        definition = (price_id or "").removeprefix("builtin:")
        note = f"computed from usage × the {definition} price" if definition else "computed"
        if tier:
            note += f", tier “{tier}”"
        return f"{note} ({unpriced})" if unpriced else note
    if unpriced:
        return f"unpriced: {unpriced}"
    return None


def _type_class(type_: str) -> str:
    return type_.lower() if type_ in OBSERVATION_TYPES else "other"


def _score_counts(scores: list[Score]) -> Counter[str]:
    return Counter(s.observation_id for s in scores if s.observation_id)


def _rows(
    session: SessionDep,
    slots: list[trees.Slot],
    data: TreeData,
    links: Links,
    score_counts: Counter[str],
    selected: str | None,
) -> list[TreeRow | MoreRow]:
    ids = [slot.id for slot in slots if isinstance(slot, trees.Row)]
    details = q.skeleton_rows(session, data.project_id, data.trace_id, ids)
    rows: list[TreeRow | MoreRow] = []
    for slot in slots:
        if isinstance(slot, trees.More):
            what: Literal["children", "siblings"] = "siblings" if slot.after else "children"
            url = links.children(slot.parent, slot.after)
            rows.append(MoreRow(slot.depth, slot.remaining, url, what))
            continue
        node = details.get(slot.id)
        if node is None:
            continue  # deleted since the tree was read
        bar = None
        if data.span is not None:
            bar = timeline.bar(
                data.span, node.start_time, node.end_time, node.completion_start_time
            )
        rows.append(
            TreeRow(
                id=node.id,
                depth=slot.depth,
                type=node.type,
                type_class=_type_class(node.type),
                name=node.name or node.type.lower(),
                model=node.model,
                duration_ms=node.duration_ms,
                input_tokens=node.input_tokens,
                output_tokens=node.output_tokens,
                cost=node.total_cost,
                level=node.level,
                score_count=score_counts[node.id],
                child_count=len(data.tree.kids(node.id)),
                orphan=node.id in data.tree.orphans,
                bar=bar,
                href=links.select(node.id),
                panel_url=links.panel(node.id),
                selected=node.id == selected,
            )
        )
    return rows


# --- the detail panel -----------------------------------------------------------------


def _panel(
    session: SessionDep,
    access: ProjectAccess,
    links: Links,
    trace: Trace,
    selected: Observation | None,
    scores: list[Score],
    form: AnnotationForm | None,
) -> Panel:
    mine = [s for s in scores if s.observation_id == (selected.id if selected else None)]
    authors = q.user_emails(session, {s.author_user_id for s in mine if s.author_user_id})
    score_rows = [_score_row(s, authors, access) for s in mine]
    if form is None and access.can_edit:
        form = AnnotationForm(links.scores, selected.id if selected else "")
    if not access.can_edit:
        form = None
    if selected is None:
        return Panel(
            kind="trace",
            trace_id=trace.id,
            observation_id=None,
            title=trace.name or "Trace",
            type="TRACE",
            type_class="trace",
            start=trace.timestamp,
            end=None,
            duration_ms=None,
            version=trace.version,
            environment=trace.environment,
            input=content.from_stored(trace.input),
            output=content.from_stored(trace.output),
            metadata=_metadata(trace.metadata_),
            scores=score_rows,
            annotation=form,
            link=links.page,
        )
    return _observation_panel(links, trace, selected, score_rows, form)


def _observation_panel(
    links: Links,
    trace: Trace,
    obs: Observation,
    score_rows: list[ScoreRow],
    form: AnnotationForm | None,
) -> Panel:
    ttft = None
    if obs.completion_start_time is not None:
        ttft = (obs.completion_start_time - obs.start_time).total_seconds() * 1000.0
    return Panel(
        kind="observation",
        trace_id=trace.id,
        observation_id=obs.id,
        title=obs.name or obs.type.lower(),
        type=obs.type,
        type_class=_type_class(obs.type),
        start=obs.start_time,
        end=obs.end_time,
        duration_ms=obs.duration_ms,
        ttft_ms=ttft,
        model=obs.model,
        model_parameters=_pairs(obs.model_parameters),
        usage=_numbers(obs.usage_details),
        cost=_numbers(obs.cost_details),
        total_cost=obs.total_cost,
        cost_note=cost_note(
            obs.cost_source, obs.unpriced_reason, obs.model_price_id, obs.pricing_tier
        ),
        usage_estimated=obs.usage_estimated,
        level=obs.level,
        status_message=obs.status_message,
        prompt_name=obs.prompt_name,
        prompt_version=obs.prompt_version,
        version=obs.version,
        environment=obs.environment,
        parent_id=obs.parent_observation_id,
        input=content.from_stored(obs.input),
        output=content.from_stored(obs.output),
        metadata=_metadata(obs.metadata_),
        scores=score_rows,
        annotation=form,
        link=links.select(obs.id),
    )


def _metadata(value: dict[str, Any] | None) -> content.Content | None:
    if not value:
        return None
    return content.json_part(restore(value))


def _pairs(mapping: dict[str, Any] | None) -> list[Pair]:
    """Key/value rows for display: strings as they are, anything else as compact JSON."""
    if not mapping:
        return []
    return [
        Pair(str(key), value if isinstance(value, str) else json.dumps(value, default=str))
        for key, value in restore(mapping).items()
    ]


def _numbers(mapping: dict[str, Any] | None) -> list[Pair]:
    """Usage or cost rows: the numeric entries (the filters format them)."""
    if not mapping:
        return []
    return [
        Pair(str(key), value)
        for key, value in mapping.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def _trace_scores(scores: list[Score]) -> list[ScoreRow]:
    return [_score_row(s, {}, None) for s in scores if s.observation_id is None]


def _score_row(score: Score, authors: dict[str, str], access: ProjectAccess | None) -> ScoreRow:
    author = None
    if score.author_user_id:
        if access is not None and score.author_user_id == access.user.id:
            author = "you"
        else:
            author = authors.get(score.author_user_id, score.author_user_id)
    return ScoreRow(
        name=score.name,
        value=_score_value(score),
        data_type=score.data_type,
        source=score.source,
        comment=score.comment,
        author=author,
        timestamp=score.timestamp,
        observation_id=score.observation_id,
    )


def _score_value(score: Score) -> str:
    if score.data_type == "NUMERIC":
        value = score.value
        return str(int(value)) if value.is_integer() else f"{value:.6g}"
    return score.string_value if score.string_value is not None else f"{score.value:g}"
