"""/v1/chat/completions over the account's workspace, /v1/models, /v1/usage and /health."""
from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from r1mm.api.accounts import Accounts
from r1mm.api.common import account_name, accounts, find_file, parse_id
from r1mm.api.openai_format import DONE, Envelope, approx_tokens, message_text
from r1mm.types import Answer

MODEL_ID = "r1mm"
router = APIRouter()


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens… are accepted and ignored
    messages: list[dict]
    model: str | None = None
    stream: bool = False
    file_ids: list[str] = []  # limits the answer to these uploads (an extra body field)


@router.post("/v1/chat/completions")
def chat(body: ChatRequest, name: str = Depends(account_name), every: Accounts = Depends(accounts)):
    question = next((message_text(m.get("content")) for m in reversed(body.messages) if m.get("role") == "user"), "")
    if not question.strip():
        raise HTTPException(400, "the body needs `messages` with a user message")
    ws = every.workspace(name)
    file_ids = [parse_id(f) for f in body.file_ids] or None
    for number in file_ids or []:
        find_file(ws, number)  # 404 for files of another key
    tokens_in = approx_tokens(" ".join(message_text(m.get("content")) for m in body.messages))
    envelope = Envelope(MODEL_ID)
    stream = ws.ask_stream(question, file_ids=file_ids)
    if body.stream:
        def metered(answer: Answer) -> None:
            every.meter.add(name, tokens_in=tokens_in, tokens_out=approx_tokens(answer.text))

        return StreamingResponse(answer_events(envelope, stream, metered), media_type="text/event-stream")
    for _ in stream:
        pass
    answer = stream.answer
    tokens_out = approx_tokens(answer.text)
    every.meter.add(name, tokens_in=tokens_in, tokens_out=tokens_out)
    return envelope.whole(answer.text, tokens_in, tokens_out, evidence=[e.to_dict() for e in answer.evidence],
                          timings=answer.timings, answered_by=answer.model)


def answer_events(envelope: Envelope, stream, done: Callable[[Answer], None]) -> Iterator[str]:
    """The server-sent events of one answer. The decoder's draft streams as it is written in `draft`,
    a field beside the message: `content` carries only the answer the grounding check let through
    (or the findings answer that replaced a refused draft), so a client that joins the content never
    shows a refused draft or its numbers. The last chunk carries the evidence, who wrote the answer
    and, when a draft was refused, why."""
    for piece in stream:
        yield envelope.chunk(None, draft=piece)
    answer = stream.answer
    done(answer)
    yield envelope.chunk(answer.text, first=True)
    yield envelope.chunk(None, finish="stop", evidence=[e.to_dict() for e in answer.evidence], answer=answer.text,
                         answered_by=answer.model, draft_refused=stream.replaced or None)
    yield DONE


@router.get("/v1/models")
def models(name: str = Depends(account_name)):
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "r1mm"}]}


@router.get("/v1/usage")
def usage(name: str = Depends(account_name), every: Accounts = Depends(accounts)):
    used = every.meter.get(name)
    tokens = used["tokens_in"] + used["tokens_out"]
    price = every.config.price_per_1k_tokens
    return {"account": name, **used, "estimated_cost": round(tokens / 1000 * price, 6), "price_per_1k_tokens": price}


@router.get("/health")
def health():
    return {"status": "ok"}
