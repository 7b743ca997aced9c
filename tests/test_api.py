"""The HTTP API, driven by the official `openai` client against `python -m r1mm serve` on 127.0.0.1."""
from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import openai
import pytest

from r1mm.api import free_port, wait_until_up

KEYS = {"alice": "sk-alice-test", "bob": "sk-bob-test", "carol": "sk-carol-test"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    port = free_port()
    env = {**os.environ, "R1MM_API_KEYS": ",".join(f"{n}:{k}" for n, k in KEYS.items()),
           "R1MM_API_RPM": "40", "R1MM_API_MAX_REQUEST_MB": "20", "R1MM_API_PRICE_PER_1K": "0.5"}
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "r1mm", "serve", "--root", str(root / "data"),
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not wait_until_up(f"{url}/health"):
        proc.kill()
        pytest.fail("server did not start: " + (root / "server.log").read_text()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def client(url: str, who: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=KEYS[who], max_retries=0)


def test_upload_then_chat_with_evidence(server, samples, truth):
    alice = client(server, "alice")
    with open(samples / "quarterly_report.pdf", "rb") as fh:
        uploaded = alice.files.create(file=fh, purpose="assistants")
    assert uploaded.id.startswith("file-") and uploaded.status == "processed"
    reply = alice.chat.completions.create(model="r1mm", extra_body={"file_ids": [uploaded.id]},
                                          messages=[{"role": "user", "content": "What was revenue this quarter?"}])
    text = reply.choices[0].message.content
    assert f"{truth['report']['figures']['Revenue']['current']:,.1f}" in text
    evidence = reply.model_extra["evidence"]
    assert evidence[0]["locator"]["page"] == 2 and evidence[0]["locator"]["cell"] == [1, 1]
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0


def test_streaming_matches_the_whole_answer(server):
    alice = client(server, "alice")
    question = [{"role": "user", "content": "How much did net income change year over year?"}]
    whole = alice.chat.completions.create(model="r1mm", messages=question).choices[0].message.content
    chunks = alice.chat.completions.create(model="r1mm", messages=question, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed.strip() == whole.strip() and "Net income" in streamed


def test_one_key_never_sees_another_keys_files(server):
    alice, bob = client(server, "alice"), client(server, "bob")
    alice_files = alice.files.list().data
    assert alice_files
    assert bob.files.list().data == []
    with pytest.raises(openai.NotFoundError):
        bob.files.retrieve(alice_files[0].id)
    with pytest.raises(openai.NotFoundError):
        bob.chat.completions.create(model="r1mm", extra_body={"file_ids": [alice_files[0].id]},
                                    messages=[{"role": "user", "content": "revenue?"}])
    answer = bob.chat.completions.create(model="r1mm",
                                         messages=[{"role": "user", "content": "What was revenue?"}])
    assert "1,284.6" not in answer.choices[0].message.content


def test_unknown_key_is_refused(server):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server}/v1", api_key="sk-wrong", max_retries=0).files.list()


def test_bad_upload_is_reported_and_the_server_keeps_serving(server, tmp_path):
    alice = client(server, "alice")
    bad = tmp_path / "scan.dcm"
    bad.write_bytes(b"DICM but not really")
    with open(bad, "rb") as fh:
        uploaded = alice.files.create(file=fh, purpose="assistants")
    assert uploaded.status == "error" and uploaded.status_details.startswith("scan.dcm: ")
    assert alice.files.list().data


def test_zip_bomb_upload_is_refused_and_the_server_keeps_serving(server, zip_bomb, samples):
    alice = client(server, "alice")
    with open(zip_bomb, "rb") as fh:
        uploaded = alice.files.create(file=fh, purpose="assistants")
    assert uploaded.status == "error" and "zip bomb" in uploaded.status_details
    assert uploaded.status_details.startswith("series.zip: ")
    with open(samples / "plate_scan.ply", "rb") as fh:
        assert alice.files.create(file=fh, purpose="assistants").status == "processed"


def test_a_client_gone_before_its_stream_starts_does_not_lock_the_key_out(server, samples):
    """A streamed answer holds nothing of the account while it waits for its client: a client that
    disconnects after the request is accepted (before or just after the stream begins) leaves the
    key free for its next upload and question."""
    import http.client
    import json
    import socket
    import time
    from urllib.parse import urlparse

    u = urlparse(server)
    body = json.dumps({"model": "r1mm", "stream": True,
                       "messages": [{"role": "user", "content": "What was revenue this quarter?"}]})
    headers = {"Authorization": f"Bearer {KEYS['carol']}", "Content-Type": "application/json"}
    for read_headers in (False, True, False):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        conn.request("POST", "/v1/chat/completions", body, headers)
        if read_headers:
            assert conn.getresponse().status == 200  # the stream began; its body is never read
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
    carol = openai.OpenAI(base_url=f"{server}/v1", api_key=KEYS["carol"], max_retries=0, timeout=120)
    with open(samples / "quarterly_report.pdf", "rb") as fh:
        uploaded = carol.files.create(file=fh, purpose="assistants")
    assert uploaded.status == "processed"
    reply = carol.chat.completions.create(model="r1mm", messages=[{"role": "user", "content": "What was revenue?"}])
    assert "1,284.6" in reply.choices[0].message.content
    time.sleep(1.1)
    again = carol.files.retrieve(uploaded.id)
    assert again.created_at == uploaded.created_at <= time.time()  # the upload's time, not the request's


def test_request_size_limit(server):
    """Refused from the Content-Length header, before the body is read."""
    import http.client
    from urllib.parse import urlparse

    u = urlparse(server)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.putrequest("POST", "/v1/files")
    conn.putheader("Authorization", f"Bearer {KEYS['bob']}")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(21 << 20))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and b"over the limit of 20 MB" in response.read()
    conn.close()


def test_usage_is_metered_per_key(server, samples):
    import json

    alice = client(server, "alice")
    with open(samples / "ct_phantom.zip", "rb") as fh:
        alice.files.create(file=fh, purpose="assistants")
    req = urllib.request.Request(f"{server}/v1/usage", headers={"Authorization": f"Bearer {KEYS['alice']}"})
    usage = json.loads(urllib.request.urlopen(req).read())
    assert usage["account"] == "alice" and usage["ct_slices"] >= 64
    assert usage["tokens_out"] > 0 and usage["estimated_cost"] > 0


def test_rate_limit_answers_429_with_retry_after(server):
    bob = client(server, "bob")
    codes = []
    for _ in range(60):
        try:
            bob.models.list()
            codes.append(200)
        except openai.RateLimitError as err:
            codes.append(429)
            assert int(err.response.headers["retry-after"]) >= 1
            break
    assert codes[-1] == 429 and codes.count(200) >= 30
