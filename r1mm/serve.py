"""HTTP API: OpenAI-compatible chat completions over a workspace, with files by upload id.

    R1MM_API_KEYS="alice:sk-alice-123,bob:sk-bob-456" python -m r1mm serve --root api-data

Each API key has a workspace of its own (ROOT/keys/NAME): one key never sees another's files.
Endpoints (all need `Authorization: Bearer KEY`):

    POST /v1/files                      multipart upload (field `file`), processed at once
    GET  /v1/files, /v1/files/{id}      upload status ("interrupted" after a crash mid-analysis)
    POST /v1/files/{id}/retry           process a failed or interrupted upload again
    GET  /v1/files/{id}/findings        the findings, each with its locator
    POST /v1/chat/completions           OpenAI format; `stream` supported; `file_ids` (extra body
                                        field) limits the answer to those uploads
    GET  /v1/usage                      this key's metered usage and cost estimate

Limits: requests per minute per key (429 with Retry-After), request body size (413).
"""

import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path

from r1mm.errors import IngestError
from r1mm.types import Modality
from r1mm.workspace import Workspace

log = logging.getLogger(__name__)

MODEL_ID = "r1mm"


@dataclass
class ServerConfig:
    root: Path
    keys: dict[str, str]  # api key -> account name
    requests_per_minute: int = 120
    max_request_mb: float = 512.0
    price_per_1k_tokens: float = 0.0  # cost estimate shown in /v1/usage, in the operator's currency
    model: str | None = None  # a fine-tune saved by R1Model.save_pretrained; None: the built decoder

    @classmethod
    def from_env(cls, root: Path) -> "ServerConfig":
        raw = os.environ.get("R1MM_API_KEYS", "")
        keys = {}
        for entry in filter(None, (e.strip() for e in raw.split(","))):
            name, _, key = entry.partition(":")
            if not key or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                raise ValueError(f"R1MM_API_KEYS entry {entry!r} is not NAME:KEY")
            keys[key] = name
        if not keys:
            raise ValueError("no API keys: set R1MM_API_KEYS=name:key[,name:key…]")
        return cls(root=root, keys=keys,
                   requests_per_minute=int(os.environ.get("R1MM_API_RPM", 120)),
                   max_request_mb=float(os.environ.get("R1MM_API_MAX_REQUEST_MB", 512)),
                   price_per_1k_tokens=float(os.environ.get("R1MM_API_PRICE_PER_1K", 0)))


def approx_tokens(text: str) -> int:
    """Tokens as a BPE tokenizer would roughly count them: words and punctuation, long words split."""
    return sum(max(1, len(w) // 4) for w in re.findall(r"\w+|[^\w\s]", text))


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimiter:
    """Token bucket per key: `per_minute` requests, refilled continuously."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else seconds to wait."""
        with self._lock:
            now = time.monotonic()
            b = self._buckets.setdefault(key, _Bucket(float(self.per_minute), now))
            b.tokens = min(self.per_minute, b.tokens + (now - b.updated) * self.per_minute / 60.0)
            b.updated = now
            if b.tokens >= 1:
                b.tokens -= 1
                return 0.0
            return (1 - b.tokens) * 60.0 / self.per_minute


class Meter:
    """Usage per account, kept in ROOT/usage.sqlite (survives restarts)."""

    def __init__(self, path: Path):
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS usage (account TEXT PRIMARY KEY, requests INTEGER, "
                         "tokens_in INTEGER, tokens_out INTEGER, audio_s REAL, ct_slices INTEGER)")
        self._lock = threading.Lock()

    def add(self, account: str, requests=0, tokens_in=0, tokens_out=0, audio_s=0.0, ct_slices=0) -> None:
        with self._lock:
            self._db.execute("INSERT INTO usage VALUES (?, 0, 0, 0, 0, 0) ON CONFLICT(account) DO NOTHING", (account,))
            self._db.execute("UPDATE usage SET requests = requests + ?, tokens_in = tokens_in + ?, "
                             "tokens_out = tokens_out + ?, audio_s = audio_s + ?, ct_slices = ct_slices + ? "
                             "WHERE account = ?", (requests, tokens_in, tokens_out, audio_s, ct_slices, account))

    def get(self, account: str) -> dict:
        row = self._db.execute("SELECT requests, tokens_in, tokens_out, audio_s, ct_slices FROM usage "
                               "WHERE account = ?", (account,)).fetchone() or (0, 0, 0, 0.0, 0)
        return dict(zip(("requests", "tokens_in", "tokens_out", "audio_seconds", "ct_slices"), row))


def create_app(config: ServerConfig):
    from fastapi import Depends, FastAPI, HTTPException, Request, UploadFile
    from fastapi.responses import JSONResponse, StreamingResponse
    from pydantic import BaseModel, ConfigDict

    class ChatRequest(BaseModel):
        model_config = ConfigDict(extra="allow")  # temperature, max_tokens… are accepted and ignored
        messages: list[dict]
        model: str | None = None
        stream: bool = False
        file_ids: list[str] = []

    config.root.mkdir(parents=True, exist_ok=True)
    # one model for every account; it serialises its own generation
    decoder, projectors = _model(config.model)
    limiter = RateLimiter(config.requests_per_minute)
    meter = Meter(config.root / "usage.sqlite")
    workspaces: dict[str, Workspace] = {}
    ws_lock = threading.Lock()
    app = FastAPI(title="R1-MM API", version="0.1.0")

    def error(status: int, message: str, kind: str, headers: dict | None = None):
        return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)

    public = {"/health", "/docs", "/openapi.json"}

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.url.path in public:
            return await call_next(request)
        length = int(request.headers.get("content-length") or 0)
        if length > config.max_request_mb * (1 << 20):
            return error(413, f"request of {length / (1 << 20):.0f} MB is over the limit of "
                              f"{config.max_request_mb:.0f} MB", "request_too_large")
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if key not in config.keys:
            return error(401, "missing or unknown API key", "invalid_api_key")
        wait = limiter.take(key)
        if wait:
            return error(429, f"rate limit of {config.requests_per_minute} requests per minute reached",
                         "rate_limit_exceeded", {"Retry-After": f"{max(1, round(wait))}"})
        request.state.account = config.keys[key]
        meter.add(request.state.account, requests=1)
        return await call_next(request)

    def account(request: Request) -> str:
        return request.state.account

    locks: dict[str, threading.Lock] = {}

    def workspace_of(name: str) -> Workspace:
        with ws_lock:
            if name not in workspaces:
                workspaces[name] = Workspace(config.root / "keys" / name, decoder=decoder, projectors=projectors)
                locks[name] = threading.Lock()
            return workspaces[name]

    def lock_of(name: str) -> threading.Lock:
        """One request at a time per account: a workspace's SQLite connection is shared by threads."""
        workspace_of(name)
        return locks[name]

    def file_object(ws: Workspace, file_id: int) -> dict:
        rec = next((f for f in ws.files() if f.id == file_id), None)
        if rec is None:
            raise HTTPException(404, f"no file {file_id}")
        return {"id": f"file-{rec.id}", "object": "file", "bytes": rec.size_bytes, "created_at": int(time.time()),
                "filename": rec.name, "purpose": "assistants",
                "status": "processed" if rec.ok else "error" if rec.status == "failed" else rec.status,
                "status_details": rec.error}

    def parse_id(file_id: str) -> int:
        m = re.fullmatch(r"file-(\d+)", file_id)
        if not m:
            raise HTTPException(404, f"no file {file_id}")
        return int(m.group(1))

    @app.post("/v1/files")
    def upload(file: UploadFile, name: str = Depends(account)):
        ws = workspace_of(name)
        incoming = Path(tempfile.mkdtemp(prefix="r1mm-upload-"))
        try:
            path = incoming / "upload"
            with open(path, "wb") as out:
                shutil.copyfileobj(file.file, out, 1 << 20)
            with lock_of(name):
                record = ws.add(path, name=Path(file.filename or "upload").name)
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        items = ws.items(file_id=record.id)
        meter.add(name, audio_s=sum(i.meta.get("duration_s", 0) for i in items if i.modality is Modality.AUDIO),
                  ct_slices=sum(i.meta.get("slices", 0) for i in items if i.modality is Modality.CT))
        return file_object(ws, record.id)

    @app.post("/v1/files/{file_id}/retry")
    def retry(file_id: str, name: str = Depends(account)):
        ws = workspace_of(name)
        number = parse_id(file_id)
        with lock_of(name):
            rec = file_object(ws, number)  # 404 for files of another key
            if rec["status"] not in ("error", "interrupted"):
                raise HTTPException(409, f"{rec['filename']} is {rec['status']}; only failed or interrupted "
                                         "uploads can be retried")
            try:
                ws.retry(number)
            except IngestError as exc:
                raise HTTPException(409, str(exc)) from None
        return file_object(ws, number)

    @app.get("/v1/files")
    def list_files(name: str = Depends(account)):
        ws = workspace_of(name)
        with lock_of(name):
            data = [file_object(ws, f.id) for f in ws.files()]
        # every file in one page: without has_more=false the openai client keeps asking for the next
        return {"object": "list", "data": data, "has_more": False,
                "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}

    @app.get("/v1/files/{file_id}")
    def get_file(file_id: str, name: str = Depends(account)):
        with lock_of(name):
            return file_object(workspace_of(name), parse_id(file_id))

    @app.get("/v1/files/{file_id}/findings")
    def get_findings(file_id: str, name: str = Depends(account)):
        ws = workspace_of(name)
        number = parse_id(file_id)
        with lock_of(name):
            file_object(ws, number)  # 404 for a file of another key
            return {"object": "list", "data": [f.to_dict() for f in ws.findings(file_ids=[number])]}

    @app.get("/v1/usage")
    def usage(name: str = Depends(account)):
        used = meter.get(name)
        tokens = used["tokens_in"] + used["tokens_out"]
        return {"account": name, **used,
                "estimated_cost": round(tokens / 1000 * config.price_per_1k_tokens, 6),
                "price_per_1k_tokens": config.price_per_1k_tokens}

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/v1/models")
    def models(name: str = Depends(account)):
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "r1mm"}]}

    @app.post("/v1/chat/completions")
    def chat(body: ChatRequest, name: str = Depends(account)):
        messages = body.messages
        question = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
        if not question:
            raise HTTPException(400, "the body needs `messages` with a user message")
        if isinstance(question, list):  # content parts
            question = " ".join(p.get("text", "") for p in question if isinstance(p, dict))
        ws = workspace_of(name)
        file_ids = [parse_id(f) for f in body.file_ids] or None
        tokens_in = approx_tokens(" ".join(str(m.get("content", "")) for m in messages))
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            return "data: " + json.dumps({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                                         "model": MODEL_ID, **extra,
                                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) + "\n\n"

        lock = lock_of(name)
        lock.acquire()
        try:
            for number in file_ids or []:
                file_object(ws, number)  # 404 for files of another key
            stream = ws.ask_stream(str(question), file_ids=file_ids)
        except BaseException:
            lock.release()
            raise
        if body.stream:
            def events():
                # pieces go out as the decoder writes them; a draft the grounding check refuses
                # is followed by the reason and the findings answer
                try:
                    for k, piece in enumerate(stream):
                        yield chunk({"role": "assistant", "content": piece} if k == 0 else {"content": piece})
                    answer = stream.answer
                    if stream.replaced:
                        yield chunk({"content": f"\n\n(The draft above was not used: {stream.replaced}.)\n\n"
                                                + answer.text})
                finally:
                    lock.release()
                meter.add(name, tokens_in=tokens_in, tokens_out=approx_tokens(answer.text))
                yield chunk({}, "stop", evidence=[e.to_dict() for e in answer.evidence], answer=answer.text,
                            answered_by=answer.model)
                yield "data: [DONE]\n\n"
            return StreamingResponse(events(), media_type="text/event-stream")
        try:
            for _ in stream:
                pass
        finally:
            lock.release()
        answer = stream.answer
        tokens_out = approx_tokens(answer.text)
        meter.add(name, tokens_in=tokens_in, tokens_out=tokens_out)
        evidence = [e.to_dict() for e in answer.evidence]
        return {"id": completion_id, "object": "chat.completion", "created": created, "model": MODEL_ID,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                          "total_tokens": tokens_in + tokens_out},
                "evidence": evidence, "timings": answer.timings, "answered_by": answer.model}

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
