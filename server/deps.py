from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.config import Settings
from server.ingest.writer import IngestWriter
from server.projects.keys import SecretVerifier


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    writer: IngestWriter
    verifier: SecretVerifier


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.spyglass
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A session for one request. Routes that change data commit it themselves."""
    with state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
