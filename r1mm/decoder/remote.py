"""A decoder behind any OpenAI-compatible server (vLLM, llama.cpp, another R1-MM), chosen by URL.

    R1MM_DECODER_URL=http://gpu-box:8000/v1 R1MM_DECODER_MODEL=deepseek-ai/DeepSeek-V3 make run

It receives the same evidence prompt as the local decoder and streams its answer back; the
workspace checks the answer against the evidence exactly as it checks the local one. Routing
traces stay empty: the experts run on the other machine.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator

from r1mm.decoder.grounded import MAX_NEW_TOKENS, Draft, first_sentence, lead_for, prompt_for
from r1mm.errors import R1Error
from r1mm.types import Evidence


class RemoteDecoder:
    def __init__(self, url: str, model: str | None = None, api_key: str | None = None, timeout_s: float = 120.0):
        from openai import OpenAI

        self.url = url.rstrip("/")
        self.client = OpenAI(base_url=self.url, api_key=api_key or "none", timeout=timeout_s, max_retries=1)
        self.model_name = model or self._first_model()
        self.name = f"{self.model_name} at {self.url}"

    @classmethod
    def from_env(cls) -> "RemoteDecoder | None":
        """``R1MM_DECODER_URL`` (with optional ``R1MM_DECODER_MODEL`` and ``R1MM_DECODER_KEY``), or None."""
        url = os.environ.get("R1MM_DECODER_URL", "").strip()
        if not url:
            return None
        return cls(url, os.environ.get("R1MM_DECODER_MODEL") or None, os.environ.get("R1MM_DECODER_KEY") or None)

    def _first_model(self) -> str:
        try:
            models = self.client.models.list().data
        except Exception as exc:
            raise R1Error(f"decoder server {self.url} did not answer ({type(exc).__name__}: {exc})") from None
        if not models:
            raise R1Error(f"decoder server {self.url} lists no models")
        return models[0].id

    def describe(self) -> str:
        return f"{self.model_name}, served at {self.url} (OpenAI-compatible)"

    def stream(self, question: str, evidence: list[Evidence], draft: Draft) -> Iterator[str]:
        """As the local decoder does: the findings' "Yes,"/"No," opens the answer, and the answer ends
        with its first sentence (the rest of the server's stream is not read)."""
        started = time.perf_counter()
        lead = lead_for(question, evidence)
        draft.text = lead
        if lead:
            yield lead
        prompt = prompt_for(question, evidence, lead=lead)
        try:
            chunks = self.client.chat.completions.create(
                model=self.model_name, messages=[{"role": "user", "content": prompt}],
                max_tokens=MAX_NEW_TOKENS, temperature=0, stop=["\n"], stream=True)
            written = ""
            for chunk in chunks:
                piece = chunk.choices[0].delta.content if chunk.choices else None
                if not piece:
                    continue
                draft.tokens += 1
                sentence = first_sentence(written + piece)
                if sentence is not None:
                    piece = sentence[len(written):]
                written += piece
                draft.text = lead + written
                if piece:
                    yield piece
                if sentence is not None:
                    chunks.close()
                    break
        except R1Error:
            raise
        except Exception as exc:  # connection refused, timeout, a 5xx: say which server and why
            raise R1Error(f"decoder server {self.url} failed ({type(exc).__name__}: {exc})") from None
        finally:
            draft.text = draft.text.strip()
            draft.seconds = time.perf_counter() - started
            draft.routing = {"backend": self.url, "model": self.model_name}
