"""Prompts kept on the server: fetched once, cached, refreshed in the background.

`get_prompt(name)` answers from a per-client cache keyed by `(name, version, label)`. A fresh
entry (younger than `cache_ttl_seconds`) is returned as is, with no request. A stale one is
returned at once too, and one background thread per key fetches the new version, which the next
call sees; if that fetch fails the stale value stays. Only the first fetch of a key happens on the
caller's thread, with a short timeout. When it fails (server down, error, 404) the prompt is built
from `fallback` and marked `is_fallback=True`; without a fallback `PromptNotAvailable` (a
`LookupError`) is raised: the one exception the SDK raises to the app, since the app asked for
the value and has nothing else to use.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from spyglass import _guard

if TYPE_CHECKING:
    import httpx

PROMPTS_PATH = "/api/public/v2/prompts/"
DEFAULT_CACHE_TTL = 60.0
DEFAULT_FETCH_TIMEOUT = 5.0

_VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")

PromptType = Literal["text", "chat"]


class PromptNotAvailable(LookupError):
    """`get_prompt` could not fetch the prompt, had none cached and was given no fallback."""


def _substitute(text: str, variables: Mapping[str, Any]) -> str:
    if not variables or "{{" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in variables:
            return match.group(0)
        value = variables[key]
        return value if isinstance(value, str) else str(value)

    return _VARIABLE.sub(replace, text)


class _Prompt:
    __slots__ = ("name", "version", "config", "labels", "tags", "prompt", "is_fallback")

    type: PromptType

    def __init__(
        self,
        name: str,
        version: int,
        prompt: Any,
        *,
        config: Mapping[str, Any] | None = None,
        labels: Sequence[str] = (),
        tags: Sequence[str] = (),
        is_fallback: bool = False,
    ) -> None:
        self.name = name
        self.version = version
        self.prompt = prompt
        self.config: dict[str, Any] = dict(config or {})
        self.labels: list[str] = list(labels)
        self.tags: list[str] = list(tags)
        self.is_fallback = is_fallback

    def __repr__(self) -> str:
        fallback = " fallback" if self.is_fallback else ""
        return f"<{type(self).__name__} {self.name!r} version={self.version}{fallback}>"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, key) == getattr(other, key) for key in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    @property
    def variables(self) -> list[str]:
        """Names of the `{{variables}}` the prompt uses, in order of first use."""
        texts = (
            [self.prompt]
            if isinstance(self.prompt, str)
            else [m.get("content") for m in self.prompt if isinstance(m, dict)]
        )
        found: dict[str, None] = {}
        for text in texts:
            if isinstance(text, str):
                for match in _VARIABLE.finditer(text):
                    found.setdefault(match.group(1), None)
        return list(found)


class TextPrompt(_Prompt):
    """A text prompt: `prompt` is a string with `{{variables}}`."""

    __slots__ = ()
    type: PromptType = "text"
    prompt: str

    def compile(self, **variables: Any) -> str:
        """The prompt with each `{{name}}` (spaces inside the braces allowed) replaced by
        `str(variables[name])`; variables not passed stay as they are."""
        return _substitute(self.prompt, variables)


class ChatPrompt(_Prompt):
    """A chat prompt: `prompt` is a list of messages (`{"role", "content"}`) and placeholders
    (`{"type": "placeholder", "name"}`)."""

    __slots__ = ()
    type: PromptType = "chat"
    prompt: list[dict[str, Any]]

    def compile(
        self,
        placeholders: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        **variables: Any,
    ) -> list[dict[str, Any]]:
        """The messages, ready for a chat API: `{{variables}}` replaced in each `content`, the
        `"type": "chatmessage"` key dropped, and each placeholder replaced by the messages given
        for its name in `placeholders` (inserted as given). A placeholder not given stays in the
        list as `{"type": "placeholder", "name": ...}`, so a missing one is visible."""
        compiled: list[dict[str, Any]] = []
        for message in self.prompt:
            if message.get("type") == "placeholder":
                name = message.get("name")
                if placeholders is not None and name in placeholders:
                    compiled.extend(dict(m) for m in placeholders[name])  # type: ignore[index]
                else:
                    compiled.append(dict(message))
                continue
            out = {k: v for k, v in message.items() if not (k == "type" and v == "chatmessage")}
            content = out.get("content")
            if isinstance(content, str):
                out["content"] = _substitute(content, variables)
            compiled.append(out)
        return compiled


def from_body(body: Any) -> TextPrompt | ChatPrompt:
    """A prompt from the server's JSON answer; ValueError when it is not one."""
    if not isinstance(body, dict):
        raise ValueError("prompt response is not a JSON object")
    kind = body.get("type", "text")
    prompt = body.get("prompt")
    version = body.get("version")
    if not isinstance(body.get("name"), str) or not isinstance(version, int):
        raise ValueError("prompt response lacks name or version")
    common: dict[str, Any] = {
        "config": body.get("config") if isinstance(body.get("config"), dict) else {},
        "labels": [str(x) for x in body.get("labels") or ()],
        "tags": [str(x) for x in body.get("tags") or ()],
    }
    if kind == "chat":
        if not isinstance(prompt, list) or not all(isinstance(m, dict) for m in prompt):
            raise ValueError("chat prompt is not a list of messages")
        return ChatPrompt(body["name"], version, [dict(m) for m in prompt], **common)
    if not isinstance(prompt, str):
        raise ValueError("text prompt is not a string")
    return TextPrompt(body["name"], version, prompt, **common)


def from_fallback(name: str, fallback: Any, type: PromptType | None) -> TextPrompt | ChatPrompt:
    if type == "chat" or (type is None and not isinstance(fallback, str)):
        messages = []
        for message in fallback:
            message = dict(message)
            if message.get("type") != "placeholder":
                message.setdefault("type", "chatmessage")
            messages.append(message)
        return ChatPrompt(name, 0, messages, is_fallback=True)
    return TextPrompt(name, 0, str(fallback), is_fallback=True)


class _Entry:
    __slots__ = ("prompt", "expires", "refreshing")

    def __init__(self, prompt: TextPrompt | ChatPrompt, expires: float) -> None:
        self.prompt = prompt
        self.expires = expires
        self.refreshing = False


Key = tuple[str, "int | None", "str | None"]


class PromptSource:
    """Fetches and caches one client's prompts."""

    def __init__(
        self,
        *,
        base_url: str,
        public_key: str,
        secret_key: str,
        user_agent: str,
        http_transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + PROMPTS_PATH
        token = base64.b64encode(f"{public_key}:{secret_key}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "User-Agent": user_agent}
        self._http_transport = http_transport
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()
        self._cache: dict[Key, _Entry] = {}
        self.requests = 0

    def get(
        self,
        name: str,
        version: int | None,
        label: str | None,
        ttl: float,
        timeout: float,
    ) -> TextPrompt | ChatPrompt:
        """The cached prompt, refreshed in the background when stale, or a fresh fetch.

        Raises (PromptNotAvailable) only when there is nothing cached and the fetch fails.
        """
        key: Key = (name, version, label)
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and ttl > 0:
                if time.monotonic() < entry.expires:
                    return entry.prompt
                if not entry.refreshing:
                    entry.refreshing = True
                    self._start_refresh(key, ttl, timeout)
                return entry.prompt
        try:
            prompt = self._fetch(name, version, label, timeout)
        except PromptNotAvailable:
            if entry is not None:  # ttl <= 0: a failed fetch still has the last value
                return entry.prompt
            raise
        self._store(key, prompt, ttl)
        return prompt

    def _store(self, key: Key, prompt: TextPrompt | ChatPrompt, ttl: float) -> None:
        with self._lock:
            self._cache[key] = _Entry(prompt, time.monotonic() + max(ttl, 0.0))

    def _start_refresh(self, key: Key, ttl: float, timeout: float) -> None:
        def refresh() -> None:
            try:
                prompt = self._fetch(*key, timeout)
            except PromptNotAvailable:
                prompt = None  # keep the stale value; the next call tries again
            except Exception as exc:  # pragma: no cover
                _guard.internal_error(exc, "refreshing a prompt")
                prompt = None
            with self._lock:
                entry = self._cache.get(key)
                if entry is not None:
                    entry.refreshing = False
                    if prompt is not None:
                        entry.prompt = prompt
                        entry.expires = time.monotonic() + ttl

        thread = threading.Thread(target=refresh, name="spyglass-prompt-refresh", daemon=True)
        try:
            thread.start()
        except RuntimeError as exc:  # pragma: no cover - interpreter shutting down
            _guard.problem("prompt-refresh", f"could not refresh prompt {key[0]!r}: {exc}")
            self._cache[key].refreshing = False

    def _fetch(
        self, name: str, version: int | None, label: str | None, timeout: float
    ) -> TextPrompt | ChatPrompt:
        import httpx

        params: dict[str, str] = {}
        if version is not None:
            params["version"] = str(version)
        if label is not None:
            params["label"] = label
        url = self.base_url + quote(name, safe="")
        self.requests += 1
        try:
            response = self._client().get(
                url, params=params, headers=self._headers, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise self._failed(name, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            try:
                detail = str(response.json().get("message") or response.text[:200])
            except Exception:
                detail = response.text[:200]
            raise self._failed(name, f"HTTP {response.status_code}: {detail}")
        try:
            return from_body(response.json())
        except ValueError as exc:
            raise self._failed(name, f"unexpected answer: {exc}") from exc

    def _failed(self, name: str, why: str) -> PromptNotAvailable:
        message = f"could not fetch prompt {name!r} from {self.base_url}: {why}"
        _guard.problem("prompt-fetch", message)
        return PromptNotAvailable(message)

    def _client(self) -> httpx.Client:
        http = self._http
        if http is None:
            import httpx

            with self._lock:
                if self._http is None:
                    self._http = httpx.Client(transport=self._http_transport)
                http = self._http
        return http

    def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            try:
                http.close()
            except Exception as exc:  # pragma: no cover
                _guard.internal_error(exc, "closing the prompt HTTP client")
