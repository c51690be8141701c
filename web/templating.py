"""Rendering: one function decides between the whole page and one block of it.

Each page template defines named blocks (`results`, `panel`, …). A plain request gets the
page; an HTMX request (not a boosted navigation) for a page rendered with `fragment=` gets only
that block, so a page and its partial updates come from one template file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

import server
from web import filters
from web.security import CSRF_COOKIE, csrf_token

HERE = Path(__file__).parent

env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    # Ingested text is hostile: everything is escaped, and nothing stored is ever marked safe.
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
filters.register(env)


def is_fragment_request(request: Request) -> bool:
    """An HTMX swap of part of the page (not a boosted navigation, nor a back-button restore,
    which both need the whole page)."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and headers.get("hx-boosted") != "true"
        and headers.get("hx-history-restore-request") != "true"
    )


def page_context(ctx: Any) -> dict[str, Any]:
    """A page's typed context as template variables (shallow: lists stay as they are)."""
    if dataclasses.is_dataclass(ctx) and not isinstance(ctx, type):
        return {f.name: getattr(ctx, f.name) for f in dataclasses.fields(ctx)}
    return dict(ctx)


def render(
    request: Request,
    template_name: str,
    ctx: Any,
    *,
    fragment: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    template = env.get_template(template_name)
    variables = {
        "request": request,
        "csrf_token": csrf_token(request),
        "app_version": server.__version__,
        "current_user": getattr(request.state, "user", None),
        **page_context(ctx),
    }
    if fragment is not None and is_fragment_request(request):
        context = template.new_context(variables)
        html = "".join(template.blocks[fragment](context))
    else:
        html = template.render(variables)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    remember_csrf(request, response)
    return response


def remember_csrf(request: Request, response: Any) -> None:
    """Set the CSRF cookie if this request made a new token."""
    token = getattr(request.state, "csrf_token", None)
    if token is not None and request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request)
        )


def _secure(request: Request) -> bool:
    return bool(request.app.state.dashboard.secure_cookies)
