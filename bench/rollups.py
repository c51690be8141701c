#!/usr/bin/env python3
"""What rebuilding the hourly metric rollups costs, per hour of a big project.

Uses the databases `bench/dashboard.py` seeds (run `python bench/dashboard.py --seed-only`
first). Marks `--hours` closed hours dirty and rebuilds them with `refresh_hours`, the code
the server and `spyglass metrics rebuild` run, in rounds. With `--compare-usage-split`, each
round also rebuilds the same hours with the cost-by-usage-type rows switched off, so the two
figures come from the same run, alternating (the machine's noise hits both alike).

    python bench/rollups.py                          # both databases, 48 hours, 3 rounds
    python bench/rollups.py --db postgres --hours 200 --compare-usage-split
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from dashboard import (  # noqa: E402
    DEFAULT_DATA_DIR,
    DEFAULT_PG_ADMIN,
    DEFAULT_PG_DATABASE,
    Target,
    postgres_target,
    read_meta,
    sqlite_target,
)
from sqlalchemy import Engine, select  # noqa: E402

from server.db.engine import make_engine  # noqa: E402
from server.db.models import metric_hours  # noqa: E402
from server.metrics import rollups  # noqa: E402


@contextmanager
def usage_split(enabled: bool) -> Iterator[None]:
    """Switch the cost-by-usage-type rows off (the state before they existed)."""
    original: Callable[..., dict[str, float]] = rollups.cost_by_type
    if not enabled:
        rollups.cost_by_type = lambda _details: {}  # type: ignore[assignment]
    try:
        yield
    finally:
        rollups.cost_by_type = original  # type: ignore[assignment]


def busiest_hours(engine: Engine, count: int) -> list[tuple[str, datetime]]:
    """The `count` most recent closed hours that hold rollup rows."""
    m = metric_hours.c
    cutoff = rollups.hour_of(datetime.now(UTC)) - rollups.HOUR
    query = (
        select(m.project_id, m.hour)
        .where(m.hour <= cutoff)
        .group_by(m.project_id, m.hour)
        .order_by(m.hour.desc())
        .limit(count)
    )
    with engine.connect() as conn:
        return [(project, rollups.hour_of(hour)) for project, hour in conn.execute(query)]


def rebuild(engine: Engine, hours: list[tuple[str, datetime]]) -> float:
    """Seconds to rebuild `hours` (marked dirty first, outside the timing)."""
    with engine.begin() as conn:
        rollups.mark(conn, hours)
    started = time.perf_counter()
    done = rollups.refresh_hours(engine, hours)
    elapsed = time.perf_counter() - started
    if done != len(hours):
        raise SystemExit(f"rebuilt {done} of {len(hours)} hours")
    return elapsed


def run(target: Target, args: argparse.Namespace) -> None:
    if read_meta(target, args.pg_admin_url) is None:
        print(f"{target.label}: not seeded; run `python bench/dashboard.py --seed-only` first")
        return
    engine = make_engine(target.url)
    try:
        rollups.refresh_dirty(engine, datetime.now(UTC))  # start from clean rollups
        hours = busiest_hours(engine, args.hours)
        if not hours:
            print(f"{target.label}: no rollup hours found")
            return
        variants = [("with usage split", True)]
        if args.compare_usage_split:
            variants.append(("without usage split", False))
        times: dict[str, list[float]] = {label: [] for label, _ in variants}
        for _ in range(args.rounds):
            for label, enabled in variants:
                with usage_split(enabled):
                    times[label].append(rebuild(engine, hours))
        rollups.refresh_dirty(engine, datetime.now(UTC))
        print(f"{target.label}: rebuilding {len(hours)} hours, {args.rounds} rounds")
        medians = {}
        for label, seconds in times.items():
            per_hour = [s / len(hours) * 1000 for s in seconds]
            medians[label] = statistics.median(per_hour)
            rounds = ", ".join(f"{ms:.1f}" for ms in per_hour)
            print(f"  {label:<20} median {medians[label]:7.1f} ms/hour  (rounds: {rounds})")
        if len(medians) == 2:
            ratio = medians["with usage split"] / medians["without usage split"]
            print(f"  ratio with / without: {ratio:.2f}")
    finally:
        engine.dispose()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--hours", type=int, default=48, help="closed hours to rebuild per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--compare-usage-split", action="store_true")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    p.add_argument("--pg-database", default=DEFAULT_PG_DATABASE)
    args = p.parse_args()
    if args.db in ("sqlite", "both"):
        run(sqlite_target(args.data_dir.expanduser()), args)
    if args.db in ("postgres", "both"):
        run(postgres_target(args.pg_admin_url, args.pg_database), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
