"""Workspace: ask with evidence, failures isolated, restart loses nothing, no PHI on disk."""
from __future__ import annotations

import sqlite3

import numpy as np

from r1mm import Workspace
from r1mm.store import STATUS_INTERRUPTED

PHI_VALUES = (b"DOE^JANE", b"PID-0042", b"19600101", b"General Hospital", b"SMITH^JOHN", b"ACC123456")


def test_ask_answers_with_evidence_from_each_modality(samples, truth):
    ws = Workspace()
    for name in ("quarterly_report.pdf", "ct_phantom.zip", "plate_scan.ply"):
        assert ws.add(samples / name).ok
    revenue = ws.ask("What was revenue this quarter?")
    assert f"{truth['report']['figures']['Revenue']['current']:,.1f}" in revenue.text
    assert revenue.evidence[0].locator.page == 2 and revenue.evidence[0].locator.cell == (1, 1)
    count = ws.ask("How many nodules are in the lungs?")
    assert count.evidence[0].finding.value == len(truth["ct"]["nodules"])
    largest = ws.ask("How large is the largest nodule and in which lung?")
    assert largest.evidence[0].locator.slice is not None and "right lung" in largest.text
    dent = ws.ask("How deep is the deepest dent?")
    assert abs(dent.evidence[0].finding.value - truth["pointcloud"]["dent_depth"]) < 0.1
    assert "no language model is loaded" in dent.text  # it says what answered


def test_a_question_about_an_earlier_period_gets_that_periods_figure(samples, truth):
    ws = Workspace()
    ws.add(samples / "quarterly_report.pdf")
    figures = truth["report"]["figures"]
    current, previous = truth["report"]["periods"]
    for question, metric, column in [(f"What was revenue in {previous}?", "Revenue", "previous"),
                                     ("What was net income last year?", "Net income", "previous"),
                                     (f"What was net income in {current}?", "Net income", "current")]:
        answer = ws.ask(question)
        assert f"{figures[metric][column]:,.1f}" in answer.text, question
        assert answer.evidence[0].locator.cell[1] == (2 if column == "previous" else 1), question


def test_bad_file_is_recorded_and_others_stay(tmp_path, samples):
    ws = Workspace(tmp_path / "ws")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    assert ws.add(samples / "plate_scan.ply").ok
    bad = ws.add(tmp_path / "broken.pdf")
    assert bad.status == "failed" and bad.error.startswith("broken.pdf: ") and bad.retryable
    assert [f.status for f in ws.files()] == ["ready", "failed"]
    assert ws.findings()  # the good file's findings are still there
    assert ws.ask("What are the part's dimensions?").evidence


def test_retry_after_the_file_is_fixed(tmp_path, samples):
    ws = Workspace(tmp_path / "ws")
    fake = tmp_path / "report.pdf"
    fake.write_bytes(b"%PDF-1.4 garbage")
    rec = ws.add(fake)
    assert not rec.ok
    kept = tmp_path / "ws" / "uploads"
    (next(kept.iterdir())).write_bytes((samples / "quarterly_report.pdf").read_bytes())
    assert ws.retry(rec.id).ok
    assert not any(kept.iterdir())  # the upload is dropped once processed


def test_restart_keeps_files_findings_answers_and_data(tmp_path, samples):
    root = tmp_path / "ws"
    ws = Workspace(root)
    ws.add(samples / "ct_phantom.zip")
    ws.add(samples / "quarterly_report.pdf")
    first = ws.ask("What is the slice thickness?")
    volume = ws.item(ws.items()[0].id).data.copy()
    ws.close()

    again = Workspace(root)
    assert [f.status for f in again.files()] == ["ready", "ready"]
    assert len(again.findings()) > 10
    (exchange,) = again.history()
    assert exchange.answer.text == first.text and exchange.answer.evidence[0].locator == first.evidence[0].locator
    ct = again.item(again.items()[0].id)
    np.testing.assert_array_equal(ct.data, volume)
    assert ct.spacing_mm is not None
    assert "revenue" in again.ask("What was revenue this quarter?").text.lower()


def test_work_cut_off_by_a_crash_is_marked_interrupted(tmp_path):
    root = tmp_path / "ws"
    Workspace(root).close()
    db = sqlite3.connect(root / "workspace.sqlite")
    db.execute("INSERT INTO files (name, status, added_at, updated_at) VALUES ('scan.zip', 'processing', 0, 0)")
    db.commit()
    db.close()
    (rec,) = Workspace(root).files()
    assert rec.status == STATUS_INTERRUPTED and "retry" in rec.error


def test_database_is_in_wal_mode(tmp_path):
    Workspace(tmp_path / "ws")
    mode = sqlite3.connect(tmp_path / "ws" / "workspace.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_no_patient_identifiers_reach_the_disk(tmp_path, samples):
    root = tmp_path / "ws"
    ws = Workspace(root)
    assert ws.add(samples / "ct_phantom.zip").ok
    ws.ask("How many nodules are in the lungs?")
    ws.close()
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaked = [v for v in PHI_VALUES if v in data]
            assert not leaked, f"{path.name} holds {leaked}"


def test_phi_kept_only_when_asked(tmp_path, samples):
    ws = Workspace(tmp_path / "ws", keep_phi=True)
    ws.add(samples / "ct_phantom.zip")
    assert ws.items()[0].meta["PatientName"] == "DOE^JANE"
