"""/v1/files: upload (processed at once), list, status, retry, findings."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, UploadFile

from r1mm.api.accounts import Accounts
from r1mm.api.common import account_name, accounts, file_object, find_file, parse_id
from r1mm.errors import IngestError

router = APIRouter(prefix="/v1/files")


@router.post("")
def upload(file: UploadFile, name: str = Depends(account_name), every: Accounts = Depends(accounts)):
    ws = every.workspace(name)
    incoming = Path(tempfile.mkdtemp(prefix="r1mm-upload-"))
    try:
        path = incoming / "upload"
        with open(path, "wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
        with every.file_lock(name):
            record = ws.add(path, name=Path(file.filename or "upload").name)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    items = ws.items(file_id=record.id)  # audio seconds and CT slices are metered; items say their own
    every.meter.add(name, audio_s=sum(i.meta.get("duration_s", 0) for i in items),
                    ct_slices=sum(i.meta.get("slices", 0) for i in items))
    return find_file(ws, record.id)


@router.get("")
def list_files(name: str = Depends(account_name), every: Accounts = Depends(accounts)):
    data = [file_object(rec) for rec in every.workspace(name).files()]  # one read of the list
    # every file in one page: without has_more=false the openai client keeps asking for the next
    return {"object": "list", "data": data, "has_more": False,
            "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}


@router.get("/{file_id}")
def get_file(file_id: str, name: str = Depends(account_name), every: Accounts = Depends(accounts)):
    return find_file(every.workspace(name), parse_id(file_id))


@router.post("/{file_id}/retry")
def retry(file_id: str, name: str = Depends(account_name), every: Accounts = Depends(accounts)):
    ws = every.workspace(name)
    number = parse_id(file_id)
    with every.file_lock(name):
        rec = find_file(ws, number)  # 404 for files of another key
        if rec["status"] not in ("error", "interrupted"):
            raise HTTPException(409, f"{rec['filename']} is {rec['status']}; only failed or interrupted "
                                     "uploads can be retried")
        try:
            ws.retry(number)
        except IngestError as exc:
            raise HTTPException(409, str(exc)) from None
    return find_file(ws, number)


@router.get("/{file_id}/findings")
def get_findings(file_id: str, name: str = Depends(account_name), every: Accounts = Depends(accounts)):
    ws = every.workspace(name)
    number = parse_id(file_id)
    find_file(ws, number)  # 404 for a file of another key
    return {"object": "list", "data": [f.to_dict() for f in ws.findings(file_ids=[number])]}
