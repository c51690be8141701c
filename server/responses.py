from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

from server.ingest.sanitize import contains_escape, restore


class ApiResponse(JSONResponse):
    """JSON via orjson, with stored text turned back into what the client sent (NUL included)."""

    def render(self, content: Any) -> bytes:
        data = orjson.dumps(content, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)
        if contains_escape(data):
            data = orjson.dumps(restore(orjson.loads(data)), option=orjson.OPT_UTC_Z)
        return data
