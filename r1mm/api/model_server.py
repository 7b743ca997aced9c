"""The R1 decoder behind an OpenAI-compatible HTTP API: the scale-out backend for other R1-MM
processes (``R1MM_DECODER_URL``), and a plain completion endpoint for anyone else.

    python -m r1mm serve-model --port 8001            # the built decoder
    python -m r1mm serve-model --model my-r1/         # a fine-tune saved with save_pretrained

The model is a base LM, not a chat model: a chat request's message contents are joined and
continued as one prompt. Greedy decoding; ``max_tokens``, ``stop`` and ``stream`` are honoured.
"""
from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from r1mm.api.openai_format import DONE, Envelope, message_text
from r1mm.decoder.grounded import Draft


class CompletionRequest(BaseModel):
    """A chat or plain completion request; the model continues the joined messages or the prompt."""
    model_config = ConfigDict(extra="allow")  # temperature, top_p… accepted; decoding is greedy
    model: str | None = None
    messages: list[dict] | None = None
    prompt: str | list[str] | None = None
    max_tokens: int | None = 64
    stop: str | list[str] | None = None
    stream: bool = False


def create_model_app(model) -> FastAPI:
    """``model``: an ``R1Model``."""
    decoder = model.decoder
    app = FastAPI(title="R1 decoder", version="0.1.0")

    def prompt_of(body: CompletionRequest) -> str:
        if body.messages:
            return "\n\n".join(message_text(m.get("content", "")) for m in body.messages)
        if body.prompt:
            return body.prompt if isinstance(body.prompt, str) else "".join(body.prompt)
        raise HTTPException(400, "the body needs `messages` or `prompt`")

    def pieces(body: CompletionRequest, draft: Draft) -> Iterator[str]:
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

    def respond(body: CompletionRequest, chat: bool):
        envelope = Envelope(decoder.name, chat=chat)
        prompt_tokens = len(model.tokenizer(prompt_of(body)).input_ids)
        if body.stream:
            def events():
                draft = Draft()
                for k, piece in enumerate(pieces(body, draft)):
                    yield envelope.chunk(piece, first=k == 0)
                yield envelope.chunk(None, finish="stop",
                                     usage={"prompt_tokens": prompt_tokens, "completion_tokens": draft.tokens})
                yield DONE
            return StreamingResponse(events(), media_type="text/event-stream")
        draft = Draft()
        text = "".join(pieces(body, draft))
        return envelope.whole(text, prompt_tokens, draft.tokens)

    @app.get("/health")
    def health():
        return {"status": "ok", "model": decoder.name}

    @app.get("/v1/models")
    def models():
        return {"object": "list", "data": [{"id": decoder.name, "object": "model", "created": 0, "owned_by": "r1mm"}]}

    @app.post("/v1/chat/completions")
    def chat(body: CompletionRequest):
        return respond(body, chat=True)

    @app.post("/v1/completions")
    def completions(body: CompletionRequest):
        return respond(body, chat=False)

    return app


def serve_model(path: str | None, host: str = "127.0.0.1", port: int = 8001) -> None:
    import uvicorn

    from r1mm.sdk import R1Model

    uvicorn.run(create_model_app(R1Model.from_pretrained(path)), host=host, port=port, log_level="info")
