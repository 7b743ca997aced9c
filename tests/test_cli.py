"""The CLI contract: one JSON object, clear one-line errors, exit code 2, no traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "r1mm", *args], capture_output=True, text=True, timeout=300,
                          env=env)


def test_ask_json_contract(samples, truth):
    proc = run_cli("ask", "--json", "--question", "How large is the largest nodule?",
                   str(samples / "ct_phantom.zip"), str(samples / "quarterly_report.pdf"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert {"answer", "evidence", "findings", "timings"} <= set(out)
    largest = max(n["diameter_mm"] for n in truth["ct"]["nodules"])
    assert abs(out["evidence"][0]["finding"]["value"] - largest) <= 1.5
    assert out["evidence"][0]["locator"]["slice"] >= 0 and len(out["evidence"][0]["locator"]["bbox_mm"]) == 4
    assert any(f["kind"] == "finance.figure" for f in out["findings"])
    timings = out["timings"]
    parts = timings["gather_s"] + timings["retrieve_s"] + timings["evidence_s"]
    assert timings["total_s"] > 0 and abs(timings["total_s"] - parts) <= 0.002, timings  # the stages add up


def test_stderr_stays_empty_unless_something_needs_the_user(samples):
    """No model-loading progress bars or library warnings: the decoder and the text tower load here."""
    from r1mm.decoder.build import is_built

    assert is_built(), "`make` builds the R1 decoder before the tests"
    files = [str(samples / n) for n in ("plate_scan.ply", "quarterly_report.pdf", "revenue_chart.png")]
    as_a_user = {k: v for k, v in os.environ.items() if k != "R1MM_DECODER"}  # the tests' default is none
    quiet = run_cli("ask", "--json", "--question", "How deep is the dent?", *files, env=as_a_user)
    assert quiet.returncode == 0 and json.loads(quiet.stdout)["evidence"]
    assert "r1-gemma3" in json.loads(quiet.stdout)["model"]  # the decoder ran: its draft shown or refused
    assert quiet.stderr == ""
    assert run_cli("analyze", "--json", *files).stderr == ""
    verbose = run_cli("--verbose", "ask", "--question", "How deep is the dent?", files[0])
    assert verbose.returncode == 0 and "INFO" in verbose.stderr  # --verbose shows the work


@pytest.mark.parametrize("content,reason", [(b"", "is empty"), (b"%PDF-1.7 broken", "not a readable PDF"),
                                            (b"hello", "is named .pdf but its content is not PDF")])
def test_unreadable_file_exit_2_one_line_no_traceback(tmp_path, content, reason):
    bad = tmp_path / "q3.pdf"
    bad.write_bytes(content)
    proc = run_cli("ask", "--json", "--question", "revenue?", str(bad))
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("r1mm: q3.pdf: ") and reason in lines[0]
    assert "Traceback" not in proc.stderr


def test_keep_going_processes_the_other_files(tmp_path, samples):
    bad = tmp_path / "bad.ply"
    bad.write_text("ply\nformat ascii 1.0\n")
    proc = run_cli("ask", "--json", "--keep-going", "--question", "What are the part's dimensions?",
                   str(bad), str(samples / "plate_scan.ply"))
    assert proc.returncode == 2
    assert "bad.ply" in proc.stderr and "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert out["evidence"] and out["evidence"][0]["locator"]["source"] == "plate_scan.ply"


def test_folder_of_dicom_is_one_series(small_series):
    proc = run_cli("analyze", "--json", str(small_series))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["files"]) == 1 and out["files"][0]["status"] == "ready"
    assert next(f for f in out["findings"] if f["kind"] == "ct.slices")["value"] == 32


def test_samples_command_writes_every_modality(tmp_path):
    proc = run_cli("samples", str(tmp_path / "s"))
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in (tmp_path / "s").iterdir()}
    assert {"quarterly_report.pdf", "ct_phantom.zip", "plate_scan.ply", "revenue_chart.png", "truth.json"} <= names


def test_analyze_folder_in_parallel_workers(tmp_path, samples, small_series):
    """A folder of mixed files: each file is one input, a DICOM sub-folder is one series, a bad
    file fails alone with its name, and the workspace on disk holds the results of both workers."""
    import shutil

    inbox = tmp_path / "inbox"
    (inbox / "scans").mkdir(parents=True)
    shutil.copy(samples / "quarterly_report.pdf", inbox)
    shutil.copy(samples / "plate_scan.ply", inbox / "scans")
    shutil.copytree(small_series, inbox / "scans" / "series")
    (inbox / "scans" / "notes.pdf").write_bytes(b"not a pdf")
    proc = run_cli("analyze", "--json", "--keep-going", "--jobs", "2", "--workspace", str(tmp_path / "ws"), str(inbox))
    assert proc.returncode == 2, proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("r1mm:")] == [
        line for line in proc.stderr.splitlines() if "notes.pdf: is named .pdf" in line]
    files = {f["name"]: f["status"] for f in json.loads(proc.stdout)["files"]}
    assert files == {"quarterly_report.pdf": "ready", "plate_scan.ply": "ready", "series": "ready",
                     "notes.pdf": "failed"}
    from r1mm import Workspace

    kinds = {f.kind for f in Workspace(tmp_path / "ws").findings()}
    assert {"finance.figure", "pointcloud.dimensions", "ct.slice_thickness"} <= kinds


def test_zip_bomb_is_one_clear_line_and_the_other_files_go_on(zip_bomb, samples):
    proc = run_cli("analyze", "--json", "--keep-going", str(zip_bomb), str(samples / "plate_scan.ply"))
    assert proc.returncode == 2
    assert [line for line in proc.stderr.splitlines() if line.startswith("r1mm:")] == [
        line for line in proc.stderr.splitlines() if line.startswith("r1mm: series.zip: ") and "zip bomb" in line]
    assert {f["name"]: f["status"] for f in json.loads(proc.stdout)["files"]} == {
        "series.zip": "failed", "plate_scan.ply": "ready"}


def test_only_results_reach_stdout_when_a_library_prints():
    """open3d prints its warnings ("[Open3D WARNING] …") through Python's stdout and C++ code writes
    to file descriptor 1: with the CLI's routing both go to stderr, and the results alone to stdout."""
    code = ("import r1mm.__main__ as cli\ncli.native_output_to_stderr()\nimport open3d as o3d\n"
            "o3d.io.read_point_cloud('/nonexistent/cloud.ply')\nimport os\nos.write(1, b'native\\n')\n"
            "cli.emit('RESULT')\ncli._results.flush()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout == "RESULT\n" and "Open3D WARNING" in proc.stderr and "native" in proc.stderr


def test_a_flat_part_is_measured_in_its_plane(tmp_path):
    """A sheet has no volume: open3d's minimal box comes back empty (0 × 0 × 0, and Qhull complains),
    so the part is measured in its own plane: a 20 × 10 mm plate turned 30° in it."""
    import struct

    import numpy as np

    turn = np.radians(30)
    corners = np.array([[0, 0, 0], [20, 0, 0], [20, 10, 0], [0, 10, 0]], float)
    corners = corners @ np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]]).T
    triangles = [(corners[0], corners[1], corners[2]), (corners[0], corners[2], corners[3])]
    with open(tmp_path / "sheet.stl", "wb") as f:
        f.write(b"\0" * 80 + struct.pack("<I", len(triangles)))
        for triangle in triangles:
            f.write(struct.pack("<3f", 0, 0, 1) + b"".join(struct.pack("<3f", *v) for v in triangle) + b"\0\0")
    proc = run_cli("ask", "--json", "--question", "How large is the part?", str(tmp_path / "sheet.stl"))
    assert proc.returncode == 0, proc.stderr
    (dims,) = [f["value"] for f in json.loads(proc.stdout)["findings"] if f["kind"] == "pointcloud.dimensions"]
    assert dims == pytest.approx([20, 10, 0], abs=0.05)
