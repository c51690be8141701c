"""The dashboard. For now one page: where the server is and how to send data to it."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

import server
from server.deps import SessionDep, StateDep
from server.projects.queries import list_projects

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.autoescape = True

dashboard_router = APIRouter(include_in_schema=False)


@dashboard_router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, state: StateDep) -> HTMLResponse:
    context = {
        "version": server.__version__,
        "base_url": str(request.base_url).rstrip("/"),
        # No dashboard login yet (it comes with the dashboard), so no project names here.
        "project_count": len(list_projects(session)),
        "database": "SQLite" if state.settings.is_sqlite else "PostgreSQL",
    }
    return templates.TemplateResponse(request, "home.html", context)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
