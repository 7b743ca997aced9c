"""Every page through Streamlit's AppTest: empty states, uploads, answers with evidence, bad uploads."""
from __future__ import annotations

import time

import pytest
from pathlib import Path

from streamlit.testing.v1 import AppTest

from r1mm import Workspace

PAGES = ["pages/workspace.py", "pages/medical_ct.py", "pages/financial.py", "pages/point_cloud.py",
         "pages/line_inspection.py", "pages/model_lab.py"]


@pytest.fixture
def ws_root(tmp_path, monkeypatch):
    root = tmp_path / "workspace"
    monkeypatch.setenv("R1MM_WORKSPACE", str(root))
    return root


REPO = Path(__file__).resolve().parents[1]


def wait_until_processed(root: Path, timeout_s: float = 180) -> None:
    """Files are processed by a background worker; wait until none is left processing."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        ws = Workspace(root)
        busy = [f.name for f in ws.files() if f.status == "processing"]
        ws.close()
        if not busy:
            return
        time.sleep(0.2)
    raise AssertionError(f"still processing after {timeout_s} s: {busy}")


def run_page(path: str) -> AppTest:
    at = AppTest.from_file(str(REPO / path), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_on_an_empty_workspace(ws_root, page):
    at = run_page(page)
    assert at.title[0].value
    if page != "pages/workspace.py" and "model_lab" not in page:
        assert at.info, "an empty page says what to do"


def test_navigation_opens_the_workspace_and_names_every_page(ws_root):
    at = run_page("app.py")
    assert at.title[0].value == "Workspace"
    for page, title in [("pages/medical_ct.py", "Medical CT"), ("pages/line_inspection.py", "Line inspection"),
                        ("pages/model_lab.py", "Model lab")]:
        at.switch_page(page).run()
        assert not at.exception, at.exception
        assert at.title[0].value == title


def test_upload_ask_and_see_evidence(ws_root, samples, truth):
    at = run_page("pages/workspace.py")
    at.file_uploader[0].set_value([
        ("quarterly_report.pdf", (samples / "quarterly_report.pdf").read_bytes(), "application/pdf"),
        ("earnings_call.wav", (samples / "earnings_call.wav").read_bytes(), "audio/wav"),
        ("broken.pdf", b"%PDF-1.4 truncated", "application/pdf"),
    ])
    at.run()
    assert not at.exception
    # listed at once, in upload order, before processing is done
    assert [f.name for f in Workspace(ws_root).files()] == ["quarterly_report.pdf", "earnings_call.wav", "broken.pdf"]
    wait_until_processed(ws_root)
    at.run()
    assert any("broken.pdf" in e.value and "not a readable PDF" in e.value for e in at.error)
    statuses = {f.name: f.status for f in Workspace(ws_root).files()}
    assert statuses == {"quarterly_report.pdf": "ready", "earnings_call.wav": "ready", "broken.pdf": "failed"}
    at.chat_input[0].set_value("What was revenue this quarter?").run()
    assert not at.exception
    revenue = f"{truth['report']['figures']['Revenue']['current']:,.1f}"
    assert any(revenue in m.value for m in at.markdown)
    assert at.radio(key="evidence-h0").options[0].startswith("[E1] quarterly_report.pdf, page 2")
    assert at.image, "the report page is shown as evidence"


def test_a_zip_bomb_upload_is_refused_and_the_app_goes_on(ws_root, samples, zip_bomb):
    at = run_page("pages/workspace.py")
    at.file_uploader[0].set_value([("series.zip", zip_bomb.read_bytes(), "application/zip"),
                                   ("quarterly_report.pdf", (samples / "quarterly_report.pdf").read_bytes(),
                                    "application/pdf")])
    at.run()
    wait_until_processed(ws_root)
    at.run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "series.zip" in errors and "zip bomb" in errors
    statuses = {f.name: f.status for f in Workspace(ws_root).files()}
    assert statuses["series.zip"] == "failed" and statuses["quarterly_report.pdf"] == "ready"
    at.chat_input[0].set_value("What was revenue this quarter?").run()
    assert not at.exception and at.radio(key="evidence-h0").options[0].startswith("[E1] quarterly_report.pdf")


def test_ct_page_windows_slices_and_findings(ws_root, samples, truth):
    Workspace(ws_root).add(samples / "ct_phantom.zip")
    at = run_page("pages/medical_ct.py")
    assert at.image
    assert any("lung nodules found" in m.value for m in at.markdown)
    at.radio(key="ct-window").set_value("bone").run()
    assert at.slider(key="level-bone").value == 400
    at.selectbox[1].set_value("Nodule 1 in the right lung").run()
    slider = next(s for s in at.slider if s.key.startswith("slice-axial-Nodule 1"))
    largest = max(truth["ct"]["nodules"], key=lambda n: n["diameter_mm"])
    assert abs((slider.value - 1) * truth["ct"]["spacing_mm"][0] - largest["centre_mm"][2]) <= 2 * 2.5
    at.text_input(key="ct-question").set_value("How many nodules are in the lungs?").run()
    assert any(f"{len(truth['ct']['nodules'])} lung nodules" in m.value for m in at.markdown)


def test_financial_page_figures_tone_and_export(ws_root, samples):
    ws = Workspace(ws_root)
    ws.add(samples / "quarterly_report.pdf")
    ws.add(samples / "earnings_call.wav")
    at = run_page("pages/financial.py")
    table = at.dataframe[0].value
    assert table.loc["revenue (USD millions)"].iloc[0] == 1284.6  # the standard metrics, current period first
    assert len(at.dataframe[1].value) >= 3  # speech segments with start and end seconds
    statement = at.dataframe[2].value  # the statements view: the income statement as printed
    assert statement.loc["Revenue"].iloc[0] == "1,284.6" and "Q3 2026" in statement.columns[0]
    assert [b.label for b in at.get("download_button")] == ["Markdown", "PDF"]


def test_point_cloud_page(ws_root, samples):
    Workspace(ws_root).add(samples / "plate_scan.ply")
    at = run_page("pages/point_cloud.py")
    assert at.get("plotly_chart")
    assert any(m.value.startswith("- Dent 1:") for m in at.markdown)
    at.radio[0].set_value("Dent 1").run()
    assert not at.exception


def test_model_lab_lists_answers_and_says_when_there_is_no_routing(ws_root, samples):
    ws = Workspace(ws_root)
    ws.add(samples / "plate_scan.ply")
    ws.ask("What are the part's dimensions?")
    at = run_page("pages/model_lab.py")
    assert at.dataframe[0].value["question"].tolist() == ["What are the part's dimensions?"]
    assert any("no routing to show" in i.value for i in at.info)


def test_model_lab_shows_experts_entropy_and_kv_memory_of_a_decoder_answer(ws_root, samples, tiny_decoder):
    ws = Workspace(ws_root, decoder=tiny_decoder)
    ws.add(samples / "quarterly_report.pdf")
    answer = ws.ask("What was revenue in Q3 2026?")
    at = run_page("pages/model_lab.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tokens (prompt + answer)"] == str(answer.routing["tokens"])
    assert metrics["Routed experts per token"].endswith("of 8")
    assert metrics["KV memory"].endswith("MiB")
    assert any(c.value.startswith("Memory: block memory") for c in at.caption)
    assert any("answer tokens decoded with int8 layer weights" in c.value for c in at.caption)
    assert at.selectbox[0].options == ["1. What was revenue in Q3 2026?"]
    assert len(at.get("plotly_chart")) >= 2   # expert heatmap and per-token views


def test_sample_button_adds_the_ct_series(ws_root):
    at = run_page("pages/workspace.py")
    at.button(key="sample-CT series (zip)").click().run()
    assert not at.exception
    wait_until_processed(ws_root)
    assert [f.status for f in Workspace(ws_root).files()] == ["ready"]


def test_media_search_shows_the_matching_region(ws_root, samples):
    ws = Workspace(ws_root)
    ws.add(samples / "plate_scan.ply")
    at = run_page("pages/workspace.py")
    at.text_input(key="media-query").set_value("a dent in a flat surface").run()
    assert not at.exception
    radio = at.radio(key="evidence-media-search")
    assert radio.options and "region [" in radio.options[0]
    assert at.get("plotly_chart"), "the point cloud is drawn with the region highlighted"


def test_line_inspection_page_shows_the_fitted_inspector_and_its_alert_log(ws_root):
    """With a line inspector and a finished watch in the workspace, the page names the inspector and
    lists the alerts; an alert opens with its frame (the browser test drives the uploads and the watcher)."""
    import numpy as np

    from r1mm.cases.surfaces import moulded_part, plant
    from r1mm.inspection import Inspector
    from r1mm.inspection.watch import Frame, Source, Watcher

    class Frames(Source):
        def __init__(self, images):
            self.images, self.description = images, "test frames"

        def frames(self, after):
            yield from (Frame(k, f"frame {k}", k / 10, im) for k, im in enumerate(self.images))

    rng = np.random.default_rng(5)
    inspector = Inspector.fit([moulded_part(rng) for _ in range(10)])
    ws = Workspace(ws_root)
    ws.set_line_inspector(inspector)
    broken = np.repeat(plant(moulded_part(rng), "hole", rng, size=28)[0][:, :, None], 3, axis=2)
    Watcher(ws, inspector, Frames([broken]), source_name="camera 3", inspector_name="line3").run()
    ws.close()
    at = run_page("pages/line_inspection.py")
    assert any("Line inspector: PatchCore fitted on" in s.value for s in at.success)
    assert any("camera 3" in m.value and "1 alerts" in m.value for m in at.markdown)
    assert at.selectbox(key="alert").options[0].startswith("frame 0: score")
