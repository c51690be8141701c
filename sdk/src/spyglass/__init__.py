"""Spyglass SDK: `@observe` for LLM apps, reporting to Spyglass or any Langfuse-compatible server.

    from spyglass import observe

    @observe
    def answer(question: str) -> str: ...

Recording happens on the caller's thread and costs microseconds; serialization and sending
happen on one background thread that never blocks the app, and the SDK's own failures are logged,
never raised (the one exception: `get_prompt` without a fallback, when the prompt cannot be
had). See README.md for configuration.
"""

from spyglass._client import Spyglass, __version__, get_client, get_prompt
from spyglass._context import (
    bind_context,
    current_observation_id,
    current_trace_id,
    score,
    start_observation,
    update_current_observation,
    update_current_trace,
)
from spyglass._observe import observe
from spyglass._prompts import ChatPrompt, TextPrompt
from spyglass._records import Observation

__all__ = [
    "ChatPrompt",
    "Observation",
    "Spyglass",
    "TextPrompt",
    "__version__",
    "bind_context",
    "current_observation_id",
    "current_trace_id",
    "get_client",
    "get_prompt",
    "observe",
    "score",
    "start_observation",
    "update_current_observation",
    "update_current_trace",
]
