"""Errors that carry their HTTP status, rendered the way Langfuse renders them.

ApiError(status, message, error=None)    body {"message": ..., "error"?: ...}
├── NotFound          404 LangfuseNotFoundError
├── BadRequest        400 "Invalid request data" with the problems under "error"
├── Unauthorized      401
├── Forbidden         403
├── PayloadTooLarge   413
└── Unavailable       503 with Retry-After
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from server.responses import ApiResponse

log = logging.getLogger("spyglass.errors")


class ApiError(Exception):
    status = 500

    def __init__(
        self,
        message: str,
        *,
        error: Any = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error = error
        self.headers = headers or {}
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.error is not None:
            body["error"] = self.error
        return body


class NotFound(ApiError):
    status = 404

    def __init__(self, message: str) -> None:
        super().__init__(message, error="LangfuseNotFoundError")


class BadRequest(ApiError):
    status = 400

    def __init__(self, problems: Any, message: str = "Invalid request data") -> None:
        super().__init__(message, error=problems)


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class PayloadTooLarge(ApiError):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"Request body is larger than {limit} bytes (after decompression). "
            "Send smaller batches.",
            error="PayloadTooLargeError",
        )


class Unavailable(ApiError):
    status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(
            message, error="ServiceUnavailableError", headers={"Retry-After": str(retry_after)}
        )


def register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return ApiResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> Response:
        # Langfuse answers 400 (not FastAPI's 422) for bad parameters and bodies.
        problems = [
            {"path": [str(p) for p in e.get("loc", ())], "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return ApiResponse(BadRequest(problems).body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: "Not found", 405: "Method not allowed"}
        body: dict[str, Any] = {"message": messages.get(exc.status_code, str(exc.detail))}
        if exc.status_code == 405:
            body["error"] = "MethodNotAllowedError"
        return ApiResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return ApiResponse(
            {"message": "Internal Server Error", "error": type(exc).__name__}, status_code=500
        )
