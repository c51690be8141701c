from __future__ import annotations

import base64
import math
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import Query

from server.errors import BadRequest

Page = Annotated[int, Query(ge=1, description="Page number, from 1.")]
Limit = Annotated[int, Query(ge=1, le=100, description="Items per page, at most 100.")]


def page_meta(page: int, limit: int, total: int) -> dict[str, int]:
    return {
        "page": page,
        "limit": limit,
        "totalItems": total,
        "totalPages": math.ceil(total / limit),
    }


def encode_cursor(moment: datetime, item_id: str) -> str:
    """An opaque keyset position: the (time, id) of the last item on a page."""
    raw = orjson.dumps([moment.isoformat(), item_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    invalid = BadRequest([{"path": ["cursor"], "message": "not a cursor this server issued"}])
    try:
        values = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment, item_id = values
        return datetime.fromisoformat(moment), str(item_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise invalid from None


def split_list(values: list[str] | None) -> list[str]:
    """Query values given repeated (?a=1&a=2) or comma separated (?a=1,2)."""
    out: list[str] = []
    for value in values or []:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out
