"""Configuration, the no-op client, sampling, masking, environment and release."""

from __future__ import annotations

import gzip
import logging
import threading
from typing import Any

import httpx
import pytest
from support import Sink, flushed, make_client

from spyglass import (
    Spyglass,
    get_client,
    observe,
    score,
    start_observation,
    update_current_observation,
)


class TestConfiguration:
    def test_explicit_arguments(self, sink: Sink) -> None:
        client = make_client(sink)
        assert client.enabled and client.base_url == "http://spyglass.test"
        assert get_client() is client
        assert "spyglass.test" in repr(client)

    def test_spyglass_environment_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SPYGLASS_BASE_URL", "http://from-env:3000")
        monkeypatch.setenv("SPYGLASS_PUBLIC_KEY", "pk-env")
        monkeypatch.setenv("SPYGLASS_SECRET_KEY", "sk-env")
        monkeypatch.setenv("SPYGLASS_SAMPLE_RATE", "0.25")
        monkeypatch.setenv("SPYGLASS_ENVIRONMENT", "staging")
        monkeypatch.setenv("SPYGLASS_RELEASE", "abc123")
        client = get_client()
        assert client.enabled
        assert (client.base_url, client.public_key) == ("http://from-env:3000", "pk-env")
        assert (client.sample_rate, client.environment, client.release) == (
            0.25,
            "staging",
            "abc123",
        )

    @pytest.mark.parametrize("url_variable", ["LANGFUSE_BASE_URL", "LANGFUSE_HOST"])
    def test_langfuse_variables_are_fallbacks(
        self, monkeypatch: pytest.MonkeyPatch, url_variable: str
    ) -> None:
        monkeypatch.setenv(url_variable, "http://langfuse-style:3000")
        monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf")
        monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf")
        client = Spyglass()
        assert client.enabled and client.base_url == "http://langfuse-style:3000"

    def test_spyglass_variables_win_over_langfuse_ones(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("LANGFUSE_HOST", "http://langfuse:3000")
        monkeypatch.setenv("SPYGLASS_BASE_URL", "http://spyglass:3000")
        monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk")
        monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk")
        assert Spyglass().base_url == "http://spyglass:3000"

    def test_spyglass_host_is_the_servers_bind_address_not_ours(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SPYGLASS_HOST", "0.0.0.0")
        monkeypatch.setenv("SPYGLASS_PUBLIC_KEY", "pk")
        monkeypatch.setenv("SPYGLASS_SECRET_KEY", "sk")
        client = Spyglass()
        assert client.base_url is None and not client.enabled

    def test_enabled_false_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SPYGLASS_ENABLED", "false")
        monkeypatch.setenv("SPYGLASS_BASE_URL", "http://x")
        monkeypatch.setenv("SPYGLASS_PUBLIC_KEY", "pk")
        monkeypatch.setenv("SPYGLASS_SECRET_KEY", "sk")
        assert not Spyglass().enabled

    def test_debug_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from spyglass import _guard

        _guard.set_debug(False)
        monkeypatch.setenv("SPYGLASS_DEBUG", "1")
        Spyglass(enabled=False)
        assert _guard.is_debug()


class TestUnconfigured:
    def test_one_warning_and_a_cheap_no_op(self, caplog: pytest.LogCaptureFixture) -> None:
        threads_before = threading.active_count()

        @observe
        def work(x: int) -> int:
            return x + 1

        with caplog.at_level(logging.WARNING, logger="spyglass"):
            assert [work(i) for i in range(100)] == list(range(1, 101))
            Spyglass()
        warnings = [r for r in caplog.records if "not configured" in r.getMessage()]
        assert len(warnings) == 1
        assert not get_client().enabled
        assert get_client().flush(0) and get_client().shutdown() and get_client().dropped == {}
        assert threading.active_count() == threads_before
        assert score("s", 1, trace_id="t") is None

    def test_explicitly_disabled_is_silent(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING, logger="spyglass"):
            client = Spyglass(enabled=False)
        assert not client.enabled and caplog.records == []
        assert "disabled" in repr(client)


class TestSampling:
    def test_rate_zero_records_nothing(self, sink: Sink) -> None:
        client = make_client(sink, sample_rate=0.0)

        @observe
        def root() -> None:
            child()
            score("s", 1)

        @observe
        def child() -> None:
            pass

        root()
        flushed(client)
        assert sink.events == []

    def test_traces_are_kept_or_dropped_whole(self, sink: Sink) -> None:
        client = make_client(sink, sample_rate=0.5)

        @observe
        def leaf() -> None:
            pass

        @observe
        def root() -> None:
            leaf()
            with start_observation("block"):
                leaf()
            score("quality", 1)

        for _ in range(400):
            root()
        flushed(client)
        kept = {t["id"] for t in sink.bodies("trace-create")}
        assert 100 < len(kept) < 300
        per_trace: dict[str, int] = {}
        for obs in sink.observations():
            per_trace[obs["traceId"]] = per_trace.get(obs["traceId"], 0) + 1
        assert set(per_trace) == kept
        assert set(per_trace.values()) == {4}
        assert {s["traceId"] for s in sink.bodies("score-create")} == kept


class TestMaskEnvironmentRelease:
    def test_mask_runs_before_anything_is_sent(self, sink: Sink) -> None:
        seen_threads = set()

        def mask(data: Any) -> Any:
            seen_threads.add(threading.current_thread().name)
            return "[redacted]" if isinstance(data, (str, dict, list)) else data

        client = make_client(sink, mask=mask)

        @observe
        def login(password: str) -> dict[str, str]:
            update_current_observation(metadata={"password": password})
            score("s", 1, comment=password)
            return {"token": "secret"}

        login("hunter2")
        flushed(client)
        sent = b"".join(gzip.decompress(request.content) for request in sink.requests)
        assert sent and b"hunter2" not in sent
        span = sink.observation("login")
        assert (span["input"], span["output"], span["metadata"]) == ("[redacted]",) * 3
        trace = sink.bodies("trace-create")[0]
        assert (trace["input"], trace["output"]) == ("[redacted]", "[redacted]")
        assert sink.bodies("score-create")[0]["comment"] == "[redacted]"
        assert seen_threads == {"spyglass-sender"}

    def test_a_failing_mask_sends_a_placeholder_not_the_data(
        self, sink: Sink, internal_errors: list[BaseException]
    ) -> None:
        def mask(data: Any) -> Any:
            raise RuntimeError("mask bug")

        client = make_client(sink, mask=mask)

        @observe
        def login(password: str) -> None:
            pass

        login("hunter2")
        flushed(client)
        assert sink.observation("login")["input"] == "<masking failed>"
        assert internal_errors and all(str(e) == "mask bug" for e in internal_errors)
        internal_errors.clear()

    def test_environment_and_release(self, sink: Sink) -> None:
        client = make_client(sink, environment="production", release="v1.2.3")

        @observe
        def work() -> None:
            score("s", 1)

        work()
        flushed(client)
        trace = sink.bodies("trace-create")[0]
        assert (trace["environment"], trace["release"]) == ("production", "v1.2.3")
        assert sink.observation("work")["environment"] == "production"
        assert sink.bodies("score-create")[0]["environment"] == "production"


def test_requests_carry_basic_auth_gzip_and_a_user_agent(client: Spyglass, sink: Sink) -> None:
    @observe
    def work() -> None:
        pass

    work()
    flushed(client)
    request = sink.requests[0]
    assert request.url == httpx.URL("http://spyglass.test/api/public/ingestion")
    assert request.headers["authorization"] == "Basic cGstbGYtdGVzdDpzay1sZi10ZXN0"
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["user-agent"].startswith("spyglass-python/")
    assert {e["type"] for e in sink.events} == {"span-create", "trace-create"}
    assert all(set(e) == {"id", "type", "timestamp", "body"} for e in sink.events)
    assert all(e["timestamp"].endswith("Z") for e in sink.events)
