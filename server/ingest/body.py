"""Reading request bodies with a size limit that also holds after decompression."""

from __future__ import annotations

import zlib

from fastapi import Request

from server.errors import BadRequest, PayloadTooLarge

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS}


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in _WBITS:
        raise BadRequest(f"unsupported Content-Encoding {encoding[:40]!r}", "Unsupported encoding")
    return _decompress(raw, _WBITS[encoding], limit)


def _decompress(raw: bytes, wbits: int, limit: int) -> bytes:
    try:
        inflater = zlib.decompressobj(wbits)
        data = inflater.decompress(raw, limit + 1)
        if len(data) > limit or inflater.unconsumed_tail:
            raise PayloadTooLarge(limit)
        data += inflater.flush()
    except zlib.error as exc:
        raise BadRequest(f"body could not be decompressed: {exc}", "Invalid request data") from None
    if len(data) > limit:
        raise PayloadTooLarge(limit)
    return data
