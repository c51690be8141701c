"""Cost recomputations started from the dashboard, run in a thread of this process.

One job per project at a time; its progress lives in memory and the settings page polls it.
(Behind several replicas, the page polls the replica that started the job only if the load
balancer keeps the session there; the CLI command is the dependable path for big ranges.)
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from server.pricing.book import PriceBook
from server.pricing.recompute import RecomputeResult, count_to_recompute, recompute_costs

log = logging.getLogger("spyglass.pricing")


@dataclass
class RecomputeJob:
    id: str
    project_id: str
    start: datetime | None
    end: datetime | None
    total: int = 0
    done: int = 0
    finished: bool = False
    error: str | None = None
    result: RecomputeResult | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else min(1.0, self.done / self.total)


class RecomputeJobs:
    def __init__(self, engine: Engine, prices: PriceBook) -> None:
        self._engine = engine
        self._prices = prices
        self._jobs: dict[str, RecomputeJob] = {}
        self._lock = threading.Lock()

    def running(self, project_id: str) -> RecomputeJob | None:
        with self._lock:
            for job in self._jobs.values():
                if job.project_id == project_id and not job.finished:
                    return job
        return None

    def get(self, project_id: str, job_id: str) -> RecomputeJob | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.project_id == project_id else None

    def start(self, project_id: str, start: datetime | None, end: datetime | None) -> RecomputeJob:
        existing = self.running(project_id)
        if existing is not None:
            return existing
        job = RecomputeJob(str(uuid.uuid4()), project_id, start, end)
        job.total = count_to_recompute(self._engine, project_id, start, end)
        with self._lock:
            self._jobs[job.id] = job
        threading.Thread(
            target=self._run, args=(job,), name="spyglass-recompute", daemon=True
        ).start()
        return job

    def _run(self, job: RecomputeJob) -> None:
        def advance(count: int) -> None:
            job.done += count

        try:
            job.result = recompute_costs(
                self._engine,
                job.project_id,
                job.start,
                job.end,
                prices=self._prices,
                on_batch=advance,
            )
        except Exception as exc:
            log.exception("cost recomputation failed")
            job.error = (
                f"{type(exc).__name__}: the recomputation stopped; run it again or use the CLI"
            )
        finally:
            job.finished = True
