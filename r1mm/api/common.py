"""What the routers share: the account of a request and how a file is shown."""
from __future__ import annotations

import re

from fastapi import HTTPException, Request

from r1mm.api.accounts import Accounts
from r1mm.store import FileRecord


def accounts(request: Request) -> Accounts:
    return request.app.state.accounts


def account_name(request: Request) -> str:
    """Set by the guard middleware once the key is known."""
    return request.state.account


def parse_id(file_id: str) -> int:
    m = re.fullmatch(r"file-(\d+)", file_id)
    if not m:
        raise HTTPException(404, f"no file {file_id}")
    return int(m.group(1))


def file_object(rec: FileRecord | None, file_id: int | None = None) -> dict:
    """The OpenAI file object of a workspace file; 404 when there is none (e.g. another key's)."""
    if rec is None:
        raise HTTPException(404, f"no file {file_id}")
    return {"id": f"file-{rec.id}", "object": "file", "bytes": rec.size_bytes, "created_at": int(rec.added_at),
            "filename": rec.name, "purpose": "assistants",
            "status": "processed" if rec.ok else "error" if rec.status == "failed" else rec.status,
            "status_details": rec.error}


def find_file(ws, file_id: int) -> dict:
    found = ws.repo.files(file_id)
    return file_object(found[0] if found else None, file_id)
