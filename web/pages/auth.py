"""Sign in, sign out, the start page and the account page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from server.deps import SessionDep
from server.users import queries as users
from web.security import (
    SESSION_COOKIE,
    CurrentUser,
    WebStateDep,
    session_cookie_value,
    user_from_cookie,
)
from web.templating import render

router = APIRouter()


@dataclass
class LoginPage:
    next: str
    email: str = ""
    error: str | None = None


@dataclass
class NoProjectPage:
    email: str


@dataclass
class AccountPage:
    message: str | None = None
    error: str | None = None


def safe_next(value: str | None) -> str:
    """Only a path on this server; anything else (another site, `//host`) goes home."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


@router.get("/login")
def login_form(
    request: Request, session: SessionDep, web: WebStateDep, next: str = "/"
) -> Response:
    if user_from_cookie(request, session, web) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", LoginPage(next=safe_next(next)))


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    web: WebStateDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    user = users.authenticate(session, email, password)
    if user is None:
        page = LoginPage(next=safe_next(next), email=email, error="Wrong email or password.")
        return render(request, "login.html", page, status_code=401)
    session.commit()
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie_value(web, user),
        max_age=web.session_seconds,
        httponly=True,
        samesite="lax",
        secure=web.secure_cookies,
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
def home(request: Request, user: CurrentUser, session: SessionDep) -> Response:
    mine = users.projects_of(session, user.id)
    if not mine:
        return render(request, "no_project.html", NoProjectPage(email=user.email))
    return RedirectResponse(f"/project/{mine[0][0].id}/traces", status_code=303)


@router.get("/account")
def account(request: Request, user: CurrentUser) -> Response:
    return render(request, "account.html", AccountPage())


@router.post("/account/password")
def change_password(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    web: WebStateDep,
    current: Annotated[str, Form()] = "",
    new: Annotated[str, Form()] = "",
) -> Response:
    from server.projects.keys import check_secret

    if not check_secret(user.password_hash, current):
        return render(
            request,
            "account.html",
            AccountPage(error="The current password is wrong."),
            status_code=400,
        )
    try:
        users.set_password(session, user, new)
    except users.UserError as exc:
        return render(request, "account.html", AccountPage(error=str(exc)), status_code=400)
    session.commit()
    response = render(
        request, "account.html", AccountPage(message="Password changed. Other sign-ins have ended.")
    )
    # This browser stays signed in with a cookie for the new password.
    response.set_cookie(
        SESSION_COOKIE,
        session_cookie_value(web, user),
        max_age=web.session_seconds,
        httponly=True,
        samesite="lax",
        secure=web.secure_cookies,
    )
    return response
