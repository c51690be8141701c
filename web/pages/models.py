"""Settings → Models: the price table (built in and the project's own), a live preview of which
recent model names a pattern matches, and cost recomputation with progress."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from server.deps import SessionDep, StateDep
from server.pricing import service
from server.pricing.catalog import (
    PER_MILLION,
    Condition,
    InvalidPattern,
    ModelPrice,
    UsageCondition,
    compile_pattern,
    find_price,
)
from server.pricing.jobs import RecomputeJob, RecomputeJobs
from server.users.queries import Role
from web.queries.models import recent_models
from web.security import Access, ProjectAccess
from web.templating import is_fragment_request, render
from web.timerange import parse_moment

router = APIRouter(prefix="/project/{project_id}/settings/models")

# The usage keys the form offers, with what people call them.
PRICE_FIELDS: list[tuple[str, str]] = [
    ("input", "Input"),
    ("output", "Output"),
    ("input_cached_tokens", "Cached input (read)"),
    ("input_cache_creation", "Cache write"),
    ("output_reasoning_tokens", "Reasoning output"),
    ("input_audio_tokens", "Audio input"),
    ("output_audio_tokens", "Audio output"),
]
FORM_KEYS = frozenset(key for key, _ in PRICE_FIELDS)


@dataclass
class TierRow:
    name: str
    when: str  # its conditions, in words
    prices: list[tuple[str, str]]


@dataclass
class DefinitionRow:
    id: str
    model_name: str
    match_pattern: str
    start_date: datetime | None
    builtin: bool
    taken: str | None
    prices: list[tuple[str, str]]  # (usage key, USD per 1M as text)
    tiers: list[TierRow] = field(default_factory=list)


@dataclass
class ModelForm:
    model_name: str = ""
    match_pattern: str = ""
    start_date: str = ""
    prices: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    saved: str | None = None
    editing: str | None = None  # the id of the project definition being edited
    # Prices the form has no field for (set through the API), kept as they are on save.
    kept: list[tuple[str, str]] = field(default_factory=list)
    kept_tiers: int = 0


def _form_of(model: ModelPrice, *, editing: bool) -> ModelForm:
    return ModelForm(
        model_name=model.model_name,
        match_pattern=model.match_pattern,
        start_date=model.start_date.strftime("%Y-%m-%d") if editing and model.start_date else "",
        prices={k: _per_million(v) for k, v in model.prices.items() if k in FORM_KEYS},
        editing=model.id if editing else None,
        kept_tiers=len(model.tiers) if editing else 0,
        kept=_kept(model) if editing else [],
    )


def _kept(model: ModelPrice) -> list[tuple[str, str]]:
    """The prices the form has no field for, per 1M as text."""
    return [(k, _per_million(v)) for k, v in model.prices.items() if k not in FORM_KEYS]


@dataclass
class PreviewRow:
    name: str
    observations: int
    unpriced: int
    priced_by: str | None  # the definition that prices it now


@dataclass
class Preview:
    pattern: str
    error: str | None
    matched: list[PreviewRow]
    others: int


@dataclass
class ModelsPage:
    access: ProjectAccess
    own: list[DefinitionRow]
    builtin: list[DefinitionRow]
    form: ModelForm
    preview: Preview
    seen: list[PreviewRow]
    job: RecomputeJob | None
    price_fields: list[tuple[str, str]] = field(default_factory=lambda: PRICE_FIELDS)
    recompute_from: str = ""
    section: str = "models"
    # A fragment answer also swaps in the preview and the recent names (what prices them, or
    # how many are unpriced, changed with it).
    refresh_others: bool = False


def _per_million(value: float) -> str:
    text = f"{value * PER_MILLION:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def _row(model: ModelPrice) -> DefinitionRow:
    return DefinitionRow(
        id=model.id,
        model_name=model.model_name,
        match_pattern=model.match_pattern,
        start_date=model.start_date,
        builtin=model.builtin,
        taken=model.taken.isoformat() if model.taken else None,
        prices=[(key, _per_million(value)) for key, value in model.prices.items()],
        tiers=[
            TierRow(
                tier.name,
                " and ".join(describe(c) for c in tier.conditions),
                [(key, _per_million(value)) for key, value in tier.prices.items()],
            )
            for tier in model.tiers
        ],
    )


_SYMBOLS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "=", "neq": "≠"}


def describe(condition: Condition) -> str:
    if isinstance(condition, UsageCondition):
        value = f"{condition.value:,.0f}" if condition.value.is_integer() else str(condition.value)
        return f"usage {condition.pattern} {_SYMBOLS[condition.operator]} {value}"
    return f"{condition.source}.{condition.key} in {', '.join(condition.values)}"


def _jobs(request: Request, state: StateDep) -> RecomputeJobs:
    jobs: RecomputeJobs | None = getattr(request.app.state, "recompute_jobs", None)
    if jobs is None:
        jobs = RecomputeJobs(state.engine, state.writer.prices)
        request.app.state.recompute_jobs = jobs
    return jobs


def _seen(session: SessionDep, project_id: str, table: list[ModelPrice]) -> list[PreviewRow]:
    now = datetime.now(UTC)
    rows = []
    for seen in recent_models(session, project_id):
        price = find_price(table, seen.name, now)
        rows.append(
            PreviewRow(
                seen.name, seen.observations, seen.unpriced, price.model_name if price else None
            )
        )
    return rows


def preview(pattern: str, seen: list[PreviewRow]) -> Preview:
    """Which recent model names a pattern would match (tried as the server does)."""
    pattern = pattern.strip()
    if not pattern:
        return Preview("", None, [], 0)
    try:
        compiled = compile_pattern(pattern)
    except InvalidPattern as exc:
        return Preview(pattern, str(exc), [], 0)
    probe = ModelPrice(
        id="preview", model_name="preview", match_pattern=compiled.pattern, prices={}
    )
    matched: list[PreviewRow] = []
    others = 0
    for row in seen:
        if probe.matches(row.name):
            matched.append(row)
        else:
            others += 1
    return Preview(pattern, None, matched, others)


def _page(
    request: Request,
    access: ProjectAccess,
    session: SessionDep,
    state: StateDep,
    form: ModelForm | None = None,
) -> ModelsPage:
    table = service.all_definitions(session, access.project.id)
    form = form or ModelForm()
    seen = _seen(session, access.project.id, table)
    jobs = _jobs(request, state)
    return ModelsPage(
        access=access,
        own=[_row(m) for m in table if not m.builtin],
        builtin=[_row(m) for m in table if m.builtin],
        form=form,
        preview=preview(form.match_pattern, seen),
        seen=seen,
        job=jobs.running(access.project.id),
        recompute_from=(datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%d"),
    )


@router.get("")
def models_page(
    request: Request,
    access: Access,
    session: SessionDep,
    state: StateDep,
    override: str = "",
    edit: str = "",
) -> Response:
    """`?override=` prefills the form from any definition (to add a project one that wins);
    `?edit=` opens one of the project's own definitions for changing in place."""
    form = None
    if override:
        base = service.get_definition(session, access.project.id, override)
        if base is not None:
            form = _form_of(base, editing=False)
    elif edit:
        base = service.get_definition(session, access.project.id, edit)
        if base is not None and not base.builtin:
            form = _form_of(base, editing=True)
        else:
            form = ModelForm(error="No such definition in this project to edit.")
    return render(request, "settings_models.html", _page(request, access, session, state, form))


@router.get("/preview")
def preview_fragment(
    request: Request, access: Access, session: SessionDep, state: StateDep, match_pattern: str = ""
) -> Response:
    form = ModelForm(match_pattern=match_pattern)
    return render(
        request,
        "settings_models.html",
        _page(request, access, session, state, form),
        fragment="preview",
    )


def _parse_prices(values: dict[str, str], kept: dict[str, float]) -> dict[str, float]:
    """The form's prices (USD per 1M) as USD per token, plus the `kept` prices of keys the
    form has no field for."""
    prices = {key: value for key, value in kept.items() if key not in FORM_KEYS}
    for key, text in values.items():
        text = text.strip().replace(",", ".").lstrip("$")
        if not text:
            continue
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"the {key} price {text[:20]!r} is not a number") from None
        if not number >= 0 or number == float("inf"):
            raise ValueError(f"the {key} price must be a number ≥ 0")
        prices[key] = number / PER_MILLION
    if not prices:
        raise ValueError("give at least one price (USD per 1M tokens)")
    return prices


@router.post("")
async def save_definition(
    request: Request, access: Access, session: SessionDep, state: StateDep
) -> Response:
    """Add a definition, or change one of the project's own (`definition_id` in the form)."""
    access.require(Role.MEMBER)
    data = await request.form()

    def field_value(name: str) -> str:
        value = data.get(name)
        return value if isinstance(value, str) else ""

    form = ModelForm(
        model_name=field_value("model_name").strip(),
        match_pattern=field_value("match_pattern").strip(),
        start_date=field_value("start_date").strip(),
        prices={key: field_value(f"price_{key}") for key, _ in PRICE_FIELDS},
        editing=field_value("definition_id") or None,
    )
    existing = None
    if form.editing is not None:
        existing = service.get_definition(session, access.project.id, form.editing)
        if existing is None or existing.builtin:
            form = ModelForm(error="No such definition in this project (it may have been deleted).")
            page = _page(request, access, session, state, form)
            return render(
                request, "settings_models.html", page, fragment="definitions", status_code=404
            )
        form.kept = _kept(existing)
    try:
        if not form.model_name:
            raise ValueError("give the model a name")
        if not form.match_pattern:
            form.match_pattern = "^" + re.escape(form.model_name) + "$"
        compile_pattern(form.match_pattern)
        start = parse_moment(form.start_date) if form.start_date else None
        if form.start_date and start is None:
            raise ValueError(f"{form.start_date[:30]!r} is not a date (YYYY-MM-DD)")
        prices = _parse_prices(form.prices, kept=existing.prices if existing else {})
        if existing is None:
            service.create_definition(
                session,
                access.project.id,
                model_name=form.model_name[:255],
                match_pattern=form.match_pattern,
                prices=prices,
                start_date=start,
            )
        else:
            service.update_definition(
                session,
                access.project.id,
                existing.id,
                model_name=form.model_name[:255],
                match_pattern=form.match_pattern,
                prices=prices,
                start_date=start,
            )
    except (ValueError, InvalidPattern) as exc:
        session.rollback()
        form.error = str(exc)
        page = _page(request, access, session, state, form)
        return render(
            request, "settings_models.html", page, fragment="definitions", status_code=400
        )
    session.commit()
    state.writer.prices.invalidate(access.project.id)
    verb = "Saved" if existing is None else "Updated"
    saved = ModelForm(
        saved=f"{verb} {form.model_name}. New observations use it at once; "
        "recompute to reprice older ones."
    )
    return _changed(request, _page(request, access, session, state, saved))


def _changed(request: Request, page: ModelsPage) -> Response:
    """The definitions after a save or delete; the address loses any `?edit=`."""
    page.refresh_others = is_fragment_request(request)
    headers = {"HX-Replace-Url": f"/project/{page.access.project.id}/settings/models"}
    return render(request, "settings_models.html", page, fragment="definitions", headers=headers)


@router.post("/{definition_id}/delete")
def delete_definition(
    request: Request, access: Access, session: SessionDep, state: StateDep, definition_id: str
) -> Response:
    access.require(Role.MEMBER)
    if not service.delete_definition(session, access.project.id, definition_id):
        form = ModelForm(
            error="No such definition in this project (built-in ones cannot be deleted)."
        )
        page = _page(request, access, session, state, form)
        return render(
            request, "settings_models.html", page, fragment="definitions", status_code=404
        )
    session.commit()
    state.writer.prices.invalidate(access.project.id)
    return _changed(request, _page(request, access, session, state, ModelForm(saved="Deleted.")))


@router.post("/recompute")
def start_recompute(
    request: Request,
    access: Access,
    session: SessionDep,
    state: StateDep,
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
) -> Response:
    access.require(Role.MEMBER)
    start_at, end_at = parse_moment(start), parse_moment(end)
    job = _jobs(request, state).start(access.project.id, start_at, end_at)
    page = _page(request, access, session, state)
    page.job = job
    page.refresh_others = job.finished and is_fragment_request(request)
    return render(request, "settings_models.html", page, fragment="recompute")


@router.get("/recompute/{job_id}")
def recompute_progress(
    request: Request, access: Access, session: SessionDep, state: StateDep, job_id: str
) -> Response:
    page = _page(request, access, session, state)
    page.job = _jobs(request, state).get(access.project.id, job_id)
    page.refresh_others = (
        page.job is not None and page.job.finished and is_fragment_request(request)
    )
    return render(request, "settings_models.html", page, fragment="recompute")
