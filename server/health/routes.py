from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

import server
from server.deps import StateDep
from server.responses import ApiResponse

router = APIRouter(prefix="/api/public", tags=["health"])


@router.get(
    "/health", summary="Liveness (no auth); ?failIfDatabaseUnavailable=true checks the database"
)
def health(state: StateDep, failIfDatabaseUnavailable: bool = False) -> Any:
    if failIfDatabaseUnavailable:
        try:
            with state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return ApiResponse(
                {"status": "Database not available", "version": server.__version__}, status_code=503
            )
    return {"status": "OK", "version": server.__version__}


@router.get("/ready", summary="Readiness (no auth)")
def ready() -> dict[str, str]:
    return {"status": "OK"}
