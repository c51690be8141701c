"""A tiny stand-in for the OpenAI HTTP API, for tests that drive the real `openai` client.

It runs `http.server` in a daemon thread on a free loopback port and answers three routes with
canned, realistically shaped bodies:

* `POST /v1/chat/completions`: a ChatCompletion, or with `"stream": true` a server-sent-event
  stream of ChatCompletionChunks (ending with a usage-only chunk when
  `stream_options.include_usage` is set, as OpenAI does) and `data: [DONE]`.
* `POST /v1/embeddings`: an embedding list, base64-encoded when the client asks for it (the
  `openai` client does by default and decodes it itself).

Every request body it gets is kept in `FakeOpenAI.requests`, so a test can check what was sent.
"""

from __future__ import annotations

import base64
import json
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
EMBEDDING_MODEL = "text-embedding-3-small"
ANSWER = "Paris is the capital of France."
# Streamed in these pieces; joined they are ANSWER.
ANSWER_PIECES = ["Paris", " is the capital", " of France", "."]
USAGE = {
    "prompt_tokens": 31,
    "completion_tokens": 8,
    "total_tokens": 39,
    "prompt_tokens_details": {"cached_tokens": 12, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
EMBEDDING_USAGE = {"prompt_tokens": 6, "total_tokens": 6}
EMBEDDING = [0.25, -0.5, 0.125, 1.0]
CREATED = 1_730_000_000
COMPLETION_ID = "chatcmpl-fake0123456789"
FINGERPRINT = "fp_0ba0d124f1"


def chat_completion() -> dict[str, Any]:
    return {
        "id": COMPLETION_ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": RESPONSE_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": ANSWER,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def chat_chunks(include_usage: bool) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": COMPLETION_ID,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": RESPONSE_MODEL,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            body["usage"] = None
        return body

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": piece}) for piece in ANSWER_PIECES]
    chunks.append(chunk({}, "stop"))
    if include_usage:
        last = chunk({})
        last["choices"] = []
        last["usage"] = USAGE
        chunks.append(last)
    return chunks


def embeddings(body: dict[str, Any]) -> dict[str, Any]:
    texts = body.get("input")
    count = len(texts) if isinstance(texts, list) else 1
    if body.get("encoding_format") == "base64":
        vector: Any = base64.b64encode(struct.pack(f"<{len(EMBEDDING)}f", *EMBEDDING)).decode()
    else:
        vector = EMBEDDING
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": vector} for i in range(count)],
        "model": EMBEDDING_MODEL,
        "usage": EMBEDDING_USAGE,
    }


@dataclass
class FakeOpenAI:
    url: str
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeOpenAI  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.fake.requests.append((self.path, body))
        if self.path == "/v1/chat/completions":
            if body.get("stream"):
                include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
                self._send_events(chat_chunks(include_usage))
            else:
                self._send_json(200, chat_completion())
        elif self.path == "/v1/embeddings":
            self._send_json(200, embeddings(body))
        else:
            error = {"message": f"Unknown path {self.path}", "type": "invalid_request_error"}
            self._send_json(404, {"error": error})

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req_fake")
        self.end_headers()
        self.wfile.write(data)

    def _send_events(self, chunks: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("x-request-id", "req_fake")
        self.end_headers()
        events = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks] + ["data: [DONE]\n\n"]
        for event in events:
            data = event.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


@contextmanager
def fake_openai_server() -> Iterator[FakeOpenAI]:
    """Yield a running fake; its `url` is the origin (append `/v1` for the client's base_url)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    fake = FakeOpenAI(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = type("Handler", (_Handler,), {"fake": fake})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
