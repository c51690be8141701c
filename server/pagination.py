from __future__ import annotations

import base64
import math
from typing import Annotated, Any

import orjson
from fastapi import Query
from pydantic import BaseModel

from server.errors import BadRequest

Page = Annotated[int, Query(ge=1, description="Page number, from 1.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page, at most 100.")]


class PageMeta(BaseModel):
    page: int
    limit: int
    totalItems: int
    totalPages: int


def page_meta(page: int, limit: int, total: int) -> dict[str, int]:
    return {"page": page, "limit": limit, "totalItems": total, "totalPages": math.ceil(total / limit)}


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise BadRequest([{"path": ["cursor"], "message": "not a cursor this server issued"}]) from None
    if not isinstance(values, list) or len(values) != length:
        raise BadRequest([{"path": ["cursor"], "message": "not a cursor this server issued"}])
    return values


def split_list(values: list[str] | None) -> list[str]:
    """Query values given repeated (?a=1&a=2) or comma separated (?a=1,2)."""
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out
