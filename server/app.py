from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker

import server
from server.config import Settings
from server.db.engine import make_engine
from server.deps import AppState
from server.errors import register_error_handlers
from server.health.routes import router as health_router
from server.ingest.otlp.routes import router as otlp_router
from server.ingest.routes import router as ingest_router
from server.ingest.writer import IngestWriter
from server.media.routes import router as media_router
from server.observations.routes import router as observations_router
from server.pricing.routes import router as models_router
from server.projects.keys import SecretVerifier
from server.projects.routes import router as projects_router
from server.prompts.routes import router as prompts_router
from server.responses import ApiResponse
from server.scores.routes import router as scores_router
from server.sessions.routes import router as sessions_router
from server.traces.routes import router as traces_router
from web.app import install as install_dashboard


def create_app(settings: Settings) -> FastAPI:
    """The whole server. The database must already be migrated (`bootstrap.prepare_database`)."""
    engine = make_engine(settings.resolved_database_url, pool_size=settings.db_pool_size)
    # The writer gets an engine (and so a connection) of its own: requests waiting for it can
    # never take the connection it needs.
    # (One connection for writing, one more for the statistics refresh it starts.)
    writer_engine = make_engine(settings.resolved_database_url, pool_size=1)
    writer = IngestWriter(writer_engine, max_pending=settings.max_pending_records)
    state = AppState(
        settings=settings,
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        writer=writer,
        verifier=SecretVerifier(),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        writer.start()
        try:
            yield
        finally:
            writer.stop()
            writer.engine.dispose()
            engine.dispose()

    app = FastAPI(
        title="Spyglass",
        version=server.__version__,
        description="Self-hosted LLM observability with a Langfuse-compatible API.",
        default_response_class=ApiResponse,
        lifespan=lifespan,
    )
    app.state.spyglass = state
    register_error_handlers(app)
    for router in (
        health_router,
        ingest_router,
        otlp_router,
        media_router,
        prompts_router,
        models_router,
        projects_router,
        traces_router,
        observations_router,
        scores_router,
        sessions_router,
    ):
        app.include_router(router)
    install_dashboard(app, state)
    return app
