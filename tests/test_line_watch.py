"""Watching a production line (`python -m r1mm watch`): a video's planted defects become alerts with
their frame, time, box and heat map in the workspace; folders, resume, bad sources; and the line
inspector's findings answered through `ask`."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from r1mm.cases.surfaces import moulded_part, plant, write_line_video
from r1mm.inspection import Inspector
from r1mm.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    """An inspector fitted on the frames of a video of good parts (the same camera and codec as the
    line's), saved; a 16-frame MJPEG line video with two planted defects."""
    import av

    folder = tmp_path_factory.mktemp("line")
    rng = np.random.default_rng(11)
    write_line_video(folder / "good.avi", moulded_part, rng, frames=20, defect_frames=())
    with av.open(str(folder / "good.avi")) as video:
        good = [frame.to_ndarray(format="rgb24") for frame in video.decode(video=0)]
    Inspector.fit(good).save(folder / "line3.inspector")
    planted = write_line_video(folder / "line.avi", moulded_part, rng, frames=16, defect_frames=(4, 11), fps=5)
    return folder, planted


def _watch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "r1mm", "watch", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_a_video_s_planted_defects_become_alerts_in_the_workspace(line, tmp_path):
    folder, planted = line
    done = _watch(str(folder / "line.avi"), "--inspector", str(folder / "line3.inspector"),
                  "--workspace", str(tmp_path / "ws"), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    alerts = [json.loads(line) for line in done.stdout.splitlines()]
    by_frame = {a["frame"]: a for a in alerts}
    for frame, box in planted:
        alert = by_frame[f"frame {frame}"]
        assert alert["time_s"] == pytest.approx(frame / 5, abs=1e-6)  # 5 frames/s
        assert alert["score"] > alert["threshold"] and _overlap(alert["regions"][0]["box"], box)
    assert len(alerts) <= len(planted) + 1  # at most one false alarm in 14 good frames
    assert "ended: the source ended after 16 frames" in done.stderr
    ws = Workspace(tmp_path / "ws")
    run = ws.repo.runs()[0]
    assert (run.frames_inspected, run.frames_skipped, run.alerts) == (16, 0, len(alerts))
    saved = ws.repo.alerts(run.id)
    assert {a.frame for a in saved} == set(by_frame)
    assert all(Path(a.frame_path).exists() and Path(a.heatmap_path).exists() for a in saved)
    with Image.open(saved[0].frame_path) as frame:
        assert frame.size == (256, 256)

    again = _watch(str(folder / "line.avi"), "--inspector", str(folder / "line3.inspector"),
                   "--workspace", str(tmp_path / "ws"), "--json", cwd=tmp_path)
    assert "resuming" in again.stderr and again.stdout == ""  # everything was inspected already


def test_a_folder_filled_by_a_camera_is_watched_and_an_unreadable_file_named(line, tmp_path):
    folder, _ = line
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    rng = np.random.default_rng(12)
    Image.fromarray(moulded_part(rng)).save(incoming / "0001.png")
    broken, box = plant(moulded_part(rng), "hole", rng, size=28)
    Image.fromarray(broken).save(incoming / "0002.png")
    (incoming / "0003.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a camera write cut short
    done = _watch(str(incoming), "--inspector", str(folder / "line3.inspector"), "--workspace", str(tmp_path / "ws"),
                  "--idle-exit", "1", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    alerts = [json.loads(line) for line in done.stdout.splitlines()]
    assert [a["frame"] for a in alerts] == ["0002.png"] and _overlap(alerts[0]["regions"][0]["box"], box)
    assert Workspace(tmp_path / "ws").repo.runs()[0].frames_unreadable == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("source, says", [
    ("missing.mp4", "missing.mp4: no such file, folder or device"),
    ("notes.txt", "notes.txt: not a video"),
    ("corrupt.avi", "corrupt.avi: "),
    ("stream", "cannot be opened"),
])
def test_bad_sources_say_why_and_exit_cleanly(line, tmp_path, source, says):
    folder, _ = line
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "corrupt.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(range(256)) * 8)
    target = f"http://127.0.0.1:{_closed_port()}/video.mjpg" if source == "stream" else str(tmp_path / source)
    done = _watch(target, "--inspector", str(folder / "line3.inspector"), "--workspace", str(tmp_path / "ws"),
                  cwd=tmp_path)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_alignment_puts_the_heat_map_back_where_the_part_lies():
    from scipy import ndimage

    rng = np.random.default_rng(13)
    inspector = Inspector.fit([moulded_part(rng) for _ in range(12)], align_parts=True)
    broken, box = plant(moulded_part(rng), "hole", rng, size=28)
    turned = ndimage.rotate(broken, 3, reshape=False, order=1, mode="nearest")
    result = inspector.check(turned)
    centre = np.array([(box[0] + box[2]) / 2 - 128, (box[1] + box[3]) / 2 - 128])
    angle = np.radians(3)  # where the hole's centre moved when the image turned 3° (counter-clockwise)
    moved = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]) @ centre + 128
    x0, y0, x1, y1 = result.regions[0].box
    assert result.defect and x0 - 4 <= moved[0] <= x1 + 4 and y0 - 4 <= moved[1] <= y1 + 4


def test_the_workspace_s_line_inspector_answers_is_it_defective_and_where(tmp_path):
    rng = np.random.default_rng(14)
    broken, box = plant(moulded_part(rng), "hole", rng, size=28)
    Image.fromarray(broken).save(tmp_path / "part_017.png")
    Image.fromarray(moulded_part(rng)).save(tmp_path / "part_018.png")
    ws = Workspace(tmp_path / "ws")
    bad = ws.add(tmp_path / "part_017.png").id
    inspector = Inspector.fit([moulded_part(rng) for _ in range(12)])
    inspector.pixel_mm = 0.1
    assert ws.set_line_inspector(inspector) == 1  # the image already there is checked again
    good = Workspace(tmp_path / "ws").add(tmp_path / "part_018.png").id  # a reopened workspace keeps the inspector

    answer = ws.ask("Is this part defective?", file_ids=[bad])
    assert answer.text.count("Defect") >= 1 and "mm²" in answer.text
    assert _overlap(answer.evidence[0].locator.bbox_px, box)
    where = ws.ask("Where is the defect and how large is it?", file_ids=[bad])
    assert "Defect region 1: pixels x" in where.text and "px" in where.text
    assert "No defect found" in ws.ask("Does this part pass inspection?", file_ids=[good]).text


def test_a_live_mjpeg_stream_is_watched_and_its_end_reported(line, tmp_path, monkeypatch):
    """An HTTP MJPEG camera (multipart/x-mixed-replace) serves 12 frames, one with a hole, then goes
    away: the alert is written, every frame is inspected or counted as skipped, and the run ends
    with the reason once reconnecting fails."""
    import io
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from r1mm.inspection import watch

    folder, _ = line
    rng = np.random.default_rng(15)
    jpegs, planted = [], None
    for k in range(12):
        image = moulded_part(rng)
        if k == 6:
            image, planted = plant(image, "hole", rng, size=28)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=92)
        jpegs.append(buffer.getvalue())
    served = []

    class Camera(BaseHTTPRequestHandler):
        def do_GET(self):
            if served:  # the camera is gone after its first connection
                self.send_error(503)
                return
            served.append(True)
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            for k, jpeg in enumerate(jpegs):
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg)
                                 + jpeg + b"\r\n")
                self.wfile.flush()
                # the defective part stays in front of the camera long enough to be the newest frame
                # when the inspector is next free: it is inspected, whatever was skipped before it
                time.sleep(3.0 if k == 6 else 0.1)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(watch, "RECONNECT_TRIES", 1)
    url = f"http://127.0.0.1:{server.server_address[1]}/video.mjpg"
    ws = Workspace(tmp_path / "ws")
    try:
        source = watch.open_source(url)
        assert source.live
        status = watch.Watcher(ws, Inspector.load(folder / "line3.inspector"), source, source_name=url,
                               inspector_name="line3").run()
    finally:
        server.shutdown()
    assert status.read == 12 and status.inspected + status.skipped == 12
    assert "reconnections failed" in status.ended and url in status.ended
    alerts = {a.frame: a for a in ws.repo.alerts()}
    assert "frame 6" in alerts and _overlap(alerts["frame 6"].regions[0]["box"], planted)
    assert len(alerts) <= 2


def test_a_killed_watcher_loses_no_alert_and_resumes_after_its_last_frame(line, tmp_path):
    import os
    import signal
    import time

    folder, planted = line
    workspace = tmp_path / "ws"
    proc = subprocess.Popen([sys.executable, "-m", "r1mm", "watch", str(folder / "line.avi"), "--inspector",
                             str(folder / "line3.inspector"), "--workspace", str(workspace), "--realtime", "--quiet"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:  # until the first planted defect's alert is in
            if (workspace / "workspace.sqlite").exists() and Workspace(workspace).repo.alerts():
                break
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no chance to tidy up
        proc.wait()
    ws = Workspace(workspace)
    run = ws.repo.runs()[0]
    kept = ws.repo.alerts()
    assert kept and all(Path(a.frame_path).exists() and Path(a.heatmap_path).exists() for a in kept)
    assert not run.running and run.ended_at is None  # killed: not marked ended, and not alive
    done = _watch(str(folder / "line.avi"), "--inspector", str(folder / "line3.inspector"), "--workspace",
                  str(workspace), "--json", cwd=tmp_path)
    assert f"resuming {folder / 'line.avi'} after {run.position}" in done.stderr
    again = [json.loads(line)["frame"] for line in done.stdout.splitlines()]
    last = int(run.position.split()[-1])
    assert all(int(frame.split()[-1]) > last for frame in again)  # nothing inspected twice
    assert {f"frame {frame}" for frame, _ in planted} <= {a.frame for a in ws.repo.alerts()}
