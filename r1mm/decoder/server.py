"""The R1 decoder behind an OpenAI-compatible HTTP API: the scale-out backend for other R1-MM
processes (``R1MM_DECODER_URL``), and a plain completion endpoint for anyone else.

    python -m r1mm serve-model --port 8001            # the built decoder
    python -m r1mm serve-model --model my-r1/         # a fine-tune saved with save_pretrained

The model is a base LM, not a chat model: a chat request's message contents are joined and
continued as one prompt. Greedy decoding; ``max_tokens``, ``stop`` and ``stream`` are honoured.
"""
# no `from __future__ import annotations`: FastAPI must see the request model defined inside create_model_app
import json
import time
import uuid
from collections.abc import Iterator

from r1mm.decoder.grounded import Draft


def create_model_app(model):
    """``model``: an ``R1Model``."""
    from fastapi import FastAPI, HTTPException
    from fastapi.responses import StreamingResponse
    from pydantic import BaseModel, ConfigDict

    class Request(BaseModel):
        model_config = ConfigDict(extra="allow")  # temperature, top_p… accepted; decoding is greedy
        model: str | None = None
        messages: list[dict] | None = None
        prompt: str | list[str] | None = None
        max_tokens: int | None = 64
        stop: str | list[str] | None = None
        stream: bool = False

    decoder = model.decoder
    app = FastAPI(title="R1 decoder", version="0.1.0")

    def prompt_of(body: Request) -> str:
        if body.messages:
            parts = []
            for m in body.messages:
                content = m.get("content", "")
                if isinstance(content, list):
                    content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
                parts.append(str(content))
            return "\n\n".join(parts)
        if body.prompt:
            return body.prompt if isinstance(body.prompt, str) else "".join(body.prompt)
        raise HTTPException(400, "the body needs `messages` or `prompt`")

    def pieces(body: Request, draft: Draft) -> Iterator[str]:
        """Greedy continuation, cut at the first stop string."""
        stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        gen = decoder.complete(prompt_of(body), draft, max_new_tokens=max(1, min(body.max_tokens or 64, 1024)),
                               stop_at_newline="\n" in stops)
        shown = ""
        try:
            for piece in gen:
                text = shown + piece
                cut = min((text.find(s) for s in stops if s and s in text), default=-1)
                if cut >= 0:
                    if text[:cut] != shown:
                        yield text[len(shown):cut]
                    return
                shown = text
                yield piece
        finally:
            gen.close()  # releases the decoder's lock when the client stops early

    def respond(body: Request, chat: bool):
        created, ident = int(time.time()), f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        prompt_tokens = len(model.tokenizer(prompt_of(body)).input_ids)
        if body.stream:
            def events():
                draft = Draft()
                for k, piece in enumerate(pieces(body, draft)):
                    if chat:
                        delta = {"role": "assistant", "content": piece} if k == 0 else {"content": piece}
                        choice = {"index": 0, "delta": delta, "finish_reason": None}
                    else:
                        choice = {"index": 0, "text": piece, "finish_reason": None}
                    yield "data: " + json.dumps({"id": ident, "object": "chat.completion.chunk" if chat else
                                                 "text_completion", "created": created, "model": decoder.name,
                                                 "choices": [choice]}) + "\n\n"
                end = {"index": 0, "delta": {}, "finish_reason": "stop"} if chat else \
                    {"index": 0, "text": "", "finish_reason": "stop"}
                yield "data: " + json.dumps({"id": ident, "object": "chat.completion.chunk" if chat else
                                             "text_completion", "created": created, "model": decoder.name,
                                             "choices": [end], "usage": {"prompt_tokens": prompt_tokens,
                                                                         "completion_tokens": draft.tokens}}) + "\n\n"
                yield "data: [DONE]\n\n"
            return StreamingResponse(events(), media_type="text/event-stream")
        draft = Draft()
        text = "".join(pieces(body, draft))
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"} if chat \
            else {"index": 0, "text": text, "finish_reason": "stop"}
        return {"id": ident, "object": "chat.completion" if chat else "text_completion", "created": created,
                "model": decoder.name, "choices": [choice],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": draft.tokens,
                          "total_tokens": prompt_tokens + draft.tokens}}

    @app.get("/health")
    def health():
        return {"status": "ok", "model": decoder.name}

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": decoder.name, "object": "model", "created": 0, "owned_by": "r1mm"}]}

    @app.post("/v1/chat/completions")
    def chat(body: Request):
        return respond(body, chat=True)

    @app.post("/v1/completions")
    def completions(body: Request):
        return respond(body, chat=False)

    return app


def serve_model(path: str | None, host: str = "127.0.0.1", port: int = 8001) -> None:
    import uvicorn

    from r1mm.sdk import R1Model

    uvicorn.run(create_model_app(R1Model.from_pretrained(path)), host=host, port=port, log_level="info")
