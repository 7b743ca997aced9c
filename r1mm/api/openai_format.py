"""The OpenAI wire format that both servers speak (`python -m r1mm serve` and `serve-model`):
completion ids, whole responses, stream chunks and the end of a stream."""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field

DONE = "data: [DONE]\n\n"


def approx_tokens(text: str) -> int:
    """Tokens as a BPE tokenizer would roughly count them: words and punctuation, long words split."""
    return sum(max(1, len(w) // 4) for w in re.findall(r"\w+|[^\w\s]", text))


def message_text(content) -> str:
    """A message's text, whether plain or a list of content parts."""
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


@dataclass
class Envelope:
    """One response's id, time and model, shared by its chunks; ``chat`` or plain completion."""
    model: str
    chat: bool = True
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self):
        self.id = self.id or f"{'chatcmpl' if self.chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"

    @property
    def object(self) -> str:
        return "chat.completion" if self.chat else "text_completion"

    def whole(self, text: str, prompt_tokens: int, completion_tokens: int, **extra) -> dict:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"} \
            if self.chat else {"index": 0, "text": text, "finish_reason": "stop"}
        return {"id": self.id, "object": self.object, "created": self.created, "model": self.model,
                "choices": [choice], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                               "total_tokens": prompt_tokens + completion_tokens}, **extra}

    def chunk(self, text: str | None, first: bool = False, finish: str | None = None, **extra) -> str:
        """A server-sent event with a piece of text (None: no content, e.g. the closing chunk)."""
        if self.chat:
            delta = {} if text is None else {"role": "assistant", "content": text} if first else {"content": text}
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            kind = "chat.completion.chunk"
        else:
            choice = {"index": 0, "text": text or "", "finish_reason": finish}
            kind = "text_completion"
        return "data: " + json.dumps({"id": self.id, "object": kind, "created": self.created, "model": self.model,
                                     **extra, "choices": [choice]}) + "\n\n"
