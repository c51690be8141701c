"""The dashboard: routers, error pages and the state it needs (see web/pages/ for the pages)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, RedirectResponse, Response

from server.deps import AppState
from web.pages import auth, metrics, models, people, sessions, settings, trace_detail, traces
from web.security import CsrfFailed, Forbidden, LoginRequired, check_csrf, make_web_state
from web.templating import is_fragment_request, render

HERE = Path(__file__).parent

# Every unsafe request to the dashboard must carry the CSRF token.
dashboard_router = APIRouter(include_in_schema=False, dependencies=[Depends(check_csrf)])
for module in (auth, settings, models, traces, trace_detail, sessions, people, metrics):
    dashboard_router.include_router(module.router)


def install(app: FastAPI, state: AppState) -> None:
    with Session(state.engine) as session:
        app.state.dashboard = make_web_state(
            session,
            session_days=state.settings.session_days,
            secure_cookies=state.settings.base_url.startswith("https://"),
        )
        session.commit()
    app.include_router(dashboard_router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(CsrfFailed, _csrf_failed)


def _redirect(request: Request, url: str) -> Response:
    if request.headers.get("hx-request") == "true":
        # A redirect answered to HTMX would be swapped into the page; make it navigate instead.
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def _login_required(request: Request, _: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _redirect(request, f"/login?next={quote(target, safe='')}")


async def _forbidden(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, Forbidden) else "not allowed"
    return error_page(request, 403, "Not allowed", message)


async def _csrf_failed(request: Request, _: Exception) -> Response:
    return error_page(
        request,
        403,
        "Form expired",
        "This form was not sent from this browser's current page. Reload the page and try again.",
    )


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """A full page, or for HTMX a toast that does not replace the part of the page it targeted."""
    if is_fragment_request(request) or request.headers.get("hx-request") == "true":
        return render(
            request,
            "toast.html",
            {"title": title, "message": message},
            status_code=status,
            headers={"HX-Retarget": "#toasts", "HX-Reswap": "beforeend"},
        )
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)
