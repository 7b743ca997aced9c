"""Scale-out: the decoder behind an OpenAI-compatible server in a second local process
(`python -m r1mm serve-model`), used by a workspace through R1MM_DECODER_URL / RemoteDecoder."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from r1mm import R1Error, Workspace
from r1mm.decoder.grounded import Draft
from r1mm.decoder.remote import RemoteDecoder
from r1mm.api import free_port, wait_until_up


@pytest.fixture
def model_server(tmp_path, tiny_decoder):
    folder = tmp_path / "tiny-r1"
    tiny_decoder.model.save_pretrained(folder)
    tiny_decoder.tokenizer.save_pretrained(folder)
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "r1mm", "serve-model", "--model", str(folder), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    if not wait_until_up(f"{url}/health"):
        proc.kill()
        pytest.fail("serve-model did not start: " + (tmp_path / "server.log").read_text()[-2000:])
    yield f"{url}/v1"
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_a_remote_decoder_writes_what_the_local_one_writes(model_server, tiny_decoder, samples):
    ws = Workspace()
    ws.add(samples / "quarterly_report.pdf")
    question = "What was revenue this quarter?"
    evidence = ws.ask(question).evidence
    local = Draft()
    local_text = "".join(tiny_decoder.stream(question, evidence, local))

    remote = RemoteDecoder(model_server)  # the model id comes from the server's /v1/models
    ws.decoder = remote
    stream = ws.ask_stream(question)
    remote_text = "".join(stream)
    # greedy decoding of the same weights on the same prompt, one process or two
    assert remote_text.strip() == local_text.strip() and remote_text.strip()
    assert stream.answer.timings["decode_s"] > 0
    assert stream.answer.routing == {"backend": model_server, "model": remote.model_name}
    assert remote.model_name in stream.answer.model  # the caption names who wrote it


def test_the_model_server_speaks_openai(model_server):
    from openai import OpenAI

    client = OpenAI(base_url=model_server, api_key="none")
    whole = client.completions.create(model="any", prompt="Revenue was", max_tokens=8)
    pieces = client.completions.create(model="any", prompt="Revenue was", max_tokens=8, stream=True)
    assert "".join(c.choices[0].text for c in pieces) == whole.choices[0].text
    assert whole.usage.completion_tokens <= 8
    chat = client.chat.completions.create(model="any", messages=[{"role": "user", "content": "Revenue was"}],
                                          max_tokens=8)
    assert chat.choices[0].message.content == whole.choices[0].text


def test_a_decoder_server_that_is_down_leaves_the_findings_answer(samples):
    port = free_port()
    with pytest.raises(R1Error, match=f"127.0.0.1:{port}.*did not answer"):
        RemoteDecoder(f"http://127.0.0.1:{port}/v1")
    ws = Workspace(decoder=RemoteDecoder(f"http://127.0.0.1:{port}/v1", model="r1", timeout_s=5))
    ws.add(samples / "quarterly_report.pdf")
    stream = ws.ask_stream("What was revenue this quarter?")
    "".join(stream)
    assert stream.replaced and "decoder server" in stream.replaced
    assert stream.answer.evidence and "Revenue" in stream.answer.text


def test_the_api_streams_the_remote_decoders_tokens_as_they_come(model_server, tmp_path, samples):
    """`r1mm serve` with R1MM_DECODER_URL: the chat stream carries the decoder's pieces one by one in
    `draft`, beside the message; the tiny model being untrained, its draft is refused, and the content
    is the findings answer alone, the reason in `draft_refused`."""
    from openai import OpenAI

    port = free_port()
    env = {**os.environ, "R1MM_API_KEYS": "alice:sk-a", "R1MM_DECODER": "r1", "R1MM_DECODER_URL": model_server}
    log = open(tmp_path / "api.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "r1mm", "serve", "--root", str(tmp_path / "api"), "--port",
                             str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert wait_until_up(f"http://127.0.0.1:{port}/health"), (tmp_path / "api.log").read_text()[-2000:]
        client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-a", max_retries=0)
        with open(samples / "quarterly_report.pdf", "rb") as fh:
            client.files.create(file=fh, purpose="assistants")
        chunks = list(client.chat.completions.create(
            model="r1mm", stream=True, messages=[{"role": "user", "content": "What was revenue this quarter?"}]))
        drafted = [c.model_extra["draft"] for c in chunks if c.model_extra.get("draft")]
        content = "".join(c.choices[0].delta.content or "" for c in chunks)
        final = chunks[-1].model_extra
        assert len(drafted) > 5  # token by token, not one finished answer
        assert "draft rejected" in final["answered_by"] and final["draft_refused"]
        assert content == final["answer"] and "".join(drafted).strip() not in content
        assert final["evidence"][0]["locator"]["page"] == 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
