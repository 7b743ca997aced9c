"""HTTP API: OpenAI-compatible chat completions over a workspace, with files by upload id.

    R1MM_API_KEYS="alice:sk-alice-123,bob:sk-bob-456" python -m r1mm serve --root api-data

Each API key has a workspace of its own (ROOT/keys/NAME): one key never sees another's files.
Endpoints (all but /health need `Authorization: Bearer KEY`):

    POST /v1/files                      multipart upload (field `file`), processed at once
    GET  /v1/files, /v1/files/{id}      upload status ("interrupted" after a crash mid-analysis)
    POST /v1/files/{id}/retry           process a failed or interrupted upload again
    GET  /v1/files/{id}/findings        the findings, each with its locator
    POST /v1/chat/completions           OpenAI format; `stream` supported; `file_ids` (extra body
                                        field) limits the answer to those uploads
    GET  /v1/usage                      this key's metered usage and cost estimate

Limits: requests per minute per key (429 with Retry-After), request body size (413).
Routers: `files.py`, `chat.py`; accounts, limits and usage: `accounts.py`; the wire format,
shared with the decoder's own server (`model_server.py`): `openai_format.py`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from r1mm.api.accounts import Accounts, ServerConfig

__all__ = ["ServerConfig", "create_app", "serve", "free_port", "wait_until_up"]

log = logging.getLogger(__name__)
PUBLIC = {"/health", "/docs", "/openapi.json"}


def create_app(config: ServerConfig):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from r1mm.api import chat, files

    config.root.mkdir(parents=True, exist_ok=True)
    decoder, projectors = _model(config.model)
    app = FastAPI(title="R1-MM API", version="0.1.0")
    app.state.accounts = every = Accounts(config, decoder, projectors)
    app.include_router(files.router)
    app.include_router(chat.router)

    def error(status: int, message: str, kind: str, headers: dict | None = None):
        return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.url.path in PUBLIC:
            return await call_next(request)
        length = int(request.headers.get("content-length") or 0)
        if length > config.max_request_mb * (1 << 20):
            return error(413, f"request of {length / (1 << 20):.0f} MB is over the limit of "
                              f"{config.max_request_mb:.0f} MB", "request_too_large")
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        name = every.name_of(key)
        if name is None:
            return error(401, "missing or unknown API key", "invalid_api_key")
        wait = every.limiter.take(key)
        if wait:
            return error(429, f"rate limit of {config.requests_per_minute} requests per minute reached",
                         "rate_limit_exceeded", {"Retry-After": f"{max(1, round(wait))}"})
        request.state.account = name
        every.meter.add(name, requests=1)
        return await call_next(request)

    return app


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for tests and benchmarks that start a server)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, timeout_s: float = 90.0) -> bool:
    """Poll `url` until it answers 200; False when `timeout_s` passes first."""
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=2).status == 200:
                return True
        except OSError:
            time.sleep(0.25)
    return False


def _model(folder: str | None):
    """(decoder, projectors): a fine-tune's, or the built decoder's and the cached projectors (None)."""
    if folder is None:
        from r1mm.decoder import default_decoder

        return default_decoder(), None
    from r1mm.sdk import R1Model

    model = R1Model.from_pretrained(folder)
    return model.decoder, model.projectors


def serve(root: Path, host: str = "127.0.0.1", port: int = 8000, model: str | None = None) -> None:
    import uvicorn

    config = replace(ServerConfig.from_env(root), model=model)
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")
