"""Fuzzing every loader with mutated files (Hypothesis): each input loads or fails with the
project's own error naming the file; no other exception, no hang, no unbounded memory.

R1MM_FUZZ_EXAMPLES sets the inputs per format (default 10,000, as CI runs it).
"""
from __future__ import annotations

import io
import os
import resource
import signal
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pye57
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont
from pydicom.data import get_testdata_file

from r1mm.errors import IngestError
from r1mm.ingest import Limits, load
from r1mm.cases.finance import write_report_pdf
from r1mm.cases.parts import write_ply

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")]

EXAMPLES = int(os.environ.get("R1MM_FUZZ_EXAMPLES", "10000"))
# Formats whose one input costs far more: LAS is parsed by laspy (~80 ms an input), LAZ is
# decompressed in a child process (~0.4 s), E57 read in one too, a scanned PDF page read by OCR
# (~1 s): a tenth, a thirtieth, a fiftieth and a hundredth as many inputs keep CI in time.
SHARE = {"las": 10, "laz": 30, "e57": 50, "scan": 100}
SECONDS_PER_INPUT = 20
# bytes of address space a loader may add: one that tries to allocate more fails cleanly
MEMORY_HEADROOM = 6 << 30
LIMITS = Limits(max_file_mb=64, max_unzipped_mb=256, max_points=2_000_000, max_audio_s=600,
                max_image_pixels=50_000_000, max_ct_slices=500, max_pdf_pages=50, max_ocr_pages=0)
# the scanned-PDF seed is fuzzed with OCR on (other PDFs with it off: a mutation that hides a text
# layer would otherwise OCR every page of 10,000 inputs)
LIMITS_FOR = {"scan": replace(LIMITS, max_ocr_pages=2)}


def _seeds(folder: Path) -> dict[str, bytes]:
    """One small valid file per format."""
    out: dict[str, bytes] = {}
    write_report_pdf(folder / "r.pdf")
    out["pdf"] = (folder / "r.pdf").read_bytes()
    out["dcm"] = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    tone = (0.3 * np.sin(np.arange(8000) / 5)).astype(np.float32)
    for fmt in ("wav", "mp3"):
        buf = io.BytesIO()
        sf.write(buf, tone, 8000, format=fmt.upper())
        out[fmt] = buf.getvalue()
    pts = np.random.default_rng(0).uniform(0, 10, (300, 3))
    write_ply(folder / "p.ply", pts)
    out["ply"] = (folder / "p.ply").read_bytes()
    out["pcd"] = ("# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\nWIDTH 300\n"
                  "HEIGHT 1\nPOINTS 300\nDATA binary\n").encode() + pts.astype("<f4").tobytes()
    laspy_files = Path(__file__).parent / "fixtures" / "laspy"  # written by libLAS, not by R1-MM
    out["las"] = (laspy_files / "simple.las").read_bytes()
    out["laz"] = (laspy_files / "simple.laz").read_bytes()
    e57 = pye57.E57(str(folder / "p.e57"), mode="w")  # written by libE57Format
    e57.write_scan_raw({"cartesianX": pts[:, 0], "cartesianY": pts[:, 1], "cartesianZ": pts[:, 2],
                        "intensity": pts[:, 0] / 10})
    e57.close()
    out["e57"] = (folder / "p.e57").read_bytes()
    for fmt, pil in (("png", "PNG"), ("jpg", "JPEG")):
        buf = io.BytesIO()
        Image.new("RGB", (48, 32), (10, 120, 200)).save(buf, format=pil)
        out[fmt] = buf.getvalue()
    page = Image.new("L", (300, 120), 255)  # a scanned page: an image-only PDF
    ImageDraw.Draw(page).text((10, 40), "Revenue 118.4", fill=0, font=ImageFont.load_default(size=24))
    buf = io.BytesIO()
    page.save(buf, format="PDF", resolution=72)
    out["scan"] = buf.getvalue()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in range(3):
            zf.writestr(f"series/{k}.dcm", out["dcm"])
    out["zip"] = buf.getvalue()
    return out


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    return _seeds(tmp_path_factory.mktemp("fuzz-seeds"))


@st.composite
def mutations(draw, data: bytes) -> bytes:
    """1–3 of: flipped bytes, truncation, inserted bytes, a duplicated chunk, a huge 32-bit field."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "duplicate", "huge"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip":
            for _ in range(draw(st.integers(1, 8))):
                pos = draw(st.integers(0, max(len(out) - 1, 0)))
                if out:
                    out[pos] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "duplicate":
            size = draw(st.integers(1, 512))
            out[at:at] = out[at:at + size]
        elif kind == "huge" and len(out) >= 4:
            at = min(at, len(out) - 4)
            out[at:at + 4] = draw(st.sampled_from([b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80"]))
    return bytes(out)


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    # Raised inside a gc callback the exception is only reported, and the input runs on: fire
    # again each second until it lands (the test's `finally` clears the alarm).
    signal.alarm(1)
    raise _Timeout


def _address_space() -> int:
    """Bytes of address space this process maps now (models loaded by earlier tests included)."""
    pages = int(Path("/proc/self/statm").read_text().split()[0])
    return pages * resource.getpagesize()


@pytest.fixture(autouse=True)
def memory_cap():
    # Above what is mapped already: a cap below it leaves no room even to grow the stack (SIGSEGV).
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + MEMORY_HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    previous = signal.signal(signal.SIGALRM, _alarm)
    yield
    signal.signal(signal.SIGALRM, previous)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.mark.parametrize("fmt", ["pdf", "scan", "dcm", "wav", "mp3", "ply", "las", "laz", "e57", "pcd", "png", "jpg",
                                 "zip"])
def test_mutated_inputs_fail_cleanly(fmt, seeds, tmp_path):
    path = tmp_path / f"fuzzed.{'pdf' if fmt == 'scan' else fmt}"
    outcomes = {"loaded": 0, "refused": 0}

    examples = max(100, EXAMPLES // SHARE.get(fmt, 1))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(mutations(seeds[fmt]))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        signal.alarm(SECONDS_PER_INPUT)
        try:
            load(path, limits=LIMITS_FOR.get(fmt, LIMITS))
            outcomes["loaded"] += 1
        except IngestError as err:
            assert err.source == path.name, err
            assert err.reason and "Traceback" not in err.reason
            outcomes["refused"] += 1
        except _Timeout:
            pytest.fail(f"{fmt}: an input took over {SECONDS_PER_INPUT} s")
        finally:
            signal.alarm(0)

    check()
    assert outcomes["loaded"] + outcomes["refused"] >= min(examples, 100)
    assert outcomes["refused"] > 0  # the mutations do break files
