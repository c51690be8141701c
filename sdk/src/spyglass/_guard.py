"""Where the SDK's own failures go, so that none of them reaches the app.

Two kinds of trouble end up here:

* internal errors: an unexpected exception inside SDK code (a bug, or a user object whose
  `__repr__` explodes). `internal_error(exc)` swallows it.
* problems: expected conditions worth telling the user about, such as a server that answers 401
  or cannot be reached. `problem(key, message)` reports them.

Both are logged on the `spyglass` logger at most once a minute per kind, with a count of what was
held back. In debug mode (`Spyglass(debug=True)` or `SPYGLASS_DEBUG=true`) every one is logged, with
its traceback. The test suite installs an error hook that collects internal errors and fails the
test that caused them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger("spyglass")

LOG_INTERVAL_SECONDS = 60.0

_debug = False
_error_hook: Callable[[BaseException], None] | None = None
_lock = threading.Lock()
_last_logged: dict[str, float] = {}
_held_back: dict[str, int] = {}


def set_debug(enabled: bool) -> None:
    global _debug
    _debug = enabled


def is_debug() -> bool:
    return _debug


def set_error_hook(hook: Callable[[BaseException], None] | None) -> None:
    """Also hand every internal error to `hook` (the test suite re-raises them)."""
    global _error_hook
    _error_hook = hook


def internal_error(exc: BaseException, where: str = "") -> None:
    """Swallow an unexpected exception raised by SDK code: log it (rate-limited), never raise."""
    try:
        hook = _error_hook
        if hook is not None:
            hook(exc)
        _log("internal", f"internal error{' in ' + where if where else ''}: {exc!r}", exc)
    except Exception:  # pragma: no cover - logging itself failed; there is nobody left to tell
        pass


def problem(key: str, message: str, level: int = logging.WARNING) -> None:
    """Report an expected failure (server down, request rejected), rate-limited per `key`."""
    try:
        _log(key, message, None, level)
    except Exception:  # pragma: no cover
        pass


def _log(key: str, message: str, exc: BaseException | None, level: int = logging.WARNING) -> None:
    if _debug:
        logger.log(max(level, logging.WARNING), "%s", message, exc_info=exc)
        return
    now = time.monotonic()
    with _lock:
        last = _last_logged.get(key)
        if last is not None and now - last < LOG_INTERVAL_SECONDS:
            _held_back[key] = _held_back.get(key, 0) + 1
            return
        _last_logged[key] = now
        held = _held_back.pop(key, 0)
    suffix = f" ({held} similar messages held back in the last minute)" if held else ""
    logger.log(level, "%s%s", message, suffix, exc_info=exc)


def reset_rate_limits() -> None:
    with _lock:
        _last_logged.clear()
        _held_back.clear()


def _after_fork_in_child() -> None:
    # Another thread of the parent may have held the lock at fork time; the child has only a copy.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)
