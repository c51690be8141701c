"""Run by tests/test_langfuse2_client.py under the langfuse 2.x SDK (which speaks batch ingestion).

Usage: python langfuse2_flow.py BASE_URL PUBLIC_KEY SECRET_KEY  → prints what the SDK read back.
"""

from __future__ import annotations

import json
import sys

import httpx
from langfuse import Langfuse
from langfuse.version import __version__


def main(base_url: str, public_key: str, secret_key: str) -> None:
    with httpx.Client(timeout=10) as http:
        langfuse = Langfuse(
            public_key=public_key,
            secret_key=secret_key,
            host=base_url,
            flush_at=50,
            flush_interval=0.2,
            max_retries=1,
            httpx_client=http,
        )
        trace = langfuse.trace(
            name="checkout",
            user_id="user-7",
            session_id="sess-1",
            tags=["prod", "eu"],
            metadata={"plan": "pro"},
            input={"cart": 3},
        )
        span = trace.span(name="retrieve", input={"query": "shoes"})
        generation = span.generation(
            name="answer",
            model="gpt-4o-mini",
            model_parameters={"temperature": 0.1},
            input=[{"role": "user", "content": "Which shoes?"}],
            usage={"input": 42, "output": 17},
        )
        generation.end(output={"role": "assistant", "content": "These."})
        span.end(output={"docs": 2})
        trace.update(output="ordered", metadata={"region": "eu"})
        trace.score(name="helpfulness", value=0.75, comment="good")
        generation.score(name="correct", value=1, data_type="BOOLEAN")
        langfuse.flush()

        fetched = langfuse.fetch_trace(trace.id).data
        listed = langfuse.fetch_traces(user_id="user-7").data
        generations = langfuse.fetch_observations(trace_id=trace.id, type="GENERATION").data
        result = {
            "sdk_version": __version__,
            "auth_check": langfuse.auth_check(),
            "trace": {
                "id": fetched.id,
                "name": fetched.name,
                "user_id": fetched.user_id,
                "session_id": fetched.session_id,
                "tags": sorted(fetched.tags),
                "metadata": fetched.metadata,
                "input": fetched.input,
                "output": fetched.output,
            },
            "observations": {
                o.name: {
                    "id": o.id,
                    "type": o.type,
                    "parent": o.parent_observation_id,
                    "model": o.model,
                    "usage": [o.usage.input, o.usage.output] if o.usage else None,
                    "output": o.output,
                    "ended": o.end_time is not None,
                }
                for o in fetched.observations
            },
            "scores": {
                s.name: {"value": s.value, "comment": s.comment, "observation_id": s.observation_id}
                for s in fetched.scores
            },
            "listed": [t.id for t in listed],
            "generations": [o.id for o in generations],
            "sessions": [s.id for s in langfuse.fetch_sessions().data],
        }
        langfuse.shutdown()
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:4])
