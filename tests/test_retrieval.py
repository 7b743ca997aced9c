"""Text tower (packaged all-MiniLM-L6-v2) and hybrid retrieval over a workspace's evidence."""
from __future__ import annotations

import numpy as np
import pytest

from r1mm import Workspace
from r1mm.encoders import text
from r1mm.latent.index import HybridIndex, KeywordIndex, Passage
from r1mm.types import Locator

pytestmark = pytest.mark.slow  # loads the 90 MB text model

PASSAGES = [Passage(t, Locator("r.pdf", page=k + 1)) for k, t in enumerate([
    "Revenue for the quarter was 1,284.6 million dollars.",
    "Our results depend on a limited number of suppliers; shipments could be delayed.",
    "The board approved a new office lease in Boston.",
    "Operating expenses rose to 341.2 million dollars.",
])]


def test_embeddings_are_unit_vectors_and_semantic():
    vectors = text.embed([p.text for p in PASSAGES])
    assert vectors.shape == (4, text.DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = text.embed(["What could disrupt the supply of parts?"])[0]
    assert int(np.argmax(vectors @ query)) == 1


def test_tokens_carry_one_locator_per_vector():
    tokens = text.encode([p.text for p in PASSAGES], [p.locator for p in PASSAGES])
    assert tuple(tokens.latent.shape) == (4, text.DIM) and tokens.locators[2].page == 3


def test_hybrid_finds_paraphrases_that_keywords_miss():
    question = "Which vendors might hold up deliveries?"
    assert not KeywordIndex(PASSAGES).search(question)  # no shared word
    (best, _), *_ = HybridIndex(PASSAGES).search(question)
    assert best.locator.page == 2


def test_hybrid_keeps_exact_matches_first():
    (best, _), *_ = HybridIndex(PASSAGES).search("operating expenses 341.2")
    assert best.locator.page == 4


def test_workspace_fallback_answer_uses_meaning(samples):
    ws = Workspace()
    ws.add(samples / "quarterly_report.pdf")
    answer = ws.ask("What could go wrong for the business?")
    assert any("suppliers" in e.text for e in answer.evidence)


def test_an_index_kept_through_additions_and_removals_ranks_like_one_built_fresh():
    more = [Passage(f"Segment {k} revenue was {100 + k}.5 million dollars; suppliers in region {k}.",
                    Locator("s.pdf", page=k)) for k in range(12)]
    kept = HybridIndex(PASSAGES[:2])
    slots = kept.add(more)
    kept.add(PASSAGES[2:])
    kept.remove(slots[::2])  # every other segment leaves
    fresh = HybridIndex(PASSAGES[:2] + more[1::2] + PASSAGES[2:])
    for question in ("revenue suppliers region 3", "Which vendors might hold up deliveries?", "segment 4 revenue"):
        got = [(p.text, round(s, 9)) for p, s in kept.search(question, k=8)]
        assert got == [(p.text, round(s, 9)) for p, s in fresh.search(question, k=8)], question
        assert all("Segment 4 " not in text for text, _ in got)


def test_the_workspace_index_catches_up_with_files_added_and_removed_elsewhere(tmp_path):
    from r1mm.cases.finance import write_report_pdf

    write_report_pdf(tmp_path / "a.pdf", company="Alder Optics")
    write_report_pdf(tmp_path / "b.pdf", company="Birch Robotics")
    ours = Workspace(tmp_path / "ws")
    first = ours.add(tmp_path / "a.pdf")
    question = "Who designs precision measurement instruments?"
    assert ours.ask(question).evidence[0].locator.source == "a.pdf"
    other = Workspace(tmp_path / "ws")  # another process on the same folder (the API, a batch job)
    second = other.add(tmp_path / "b.pdf")
    other.remove(first.id)
    sources = {e.locator.source for e in ours.ask(question).evidence}
    assert sources == {"b.pdf"}
    assert {e.locator.source for e in ours.ask(question, file_ids=[second.id]).evidence} == {"b.pdf"}


def test_a_workspace_saved_before_passages_were_kept_gets_them_on_first_question(tmp_path):
    import sqlite3

    from r1mm.cases.finance import write_report_pdf

    write_report_pdf(tmp_path / "a.pdf")
    Workspace(tmp_path / "ws").add(tmp_path / "a.pdf")
    db = sqlite3.connect(tmp_path / "ws" / "workspace.sqlite")  # as an older version left it
    db.execute("DELETE FROM passages")
    db.execute("UPDATE items SET indexed = 0")
    db.commit()
    db.close()
    answer = Workspace(tmp_path / "ws").ask("Who designs precision measurement instruments?")
    assert "designs and manufactures precision measurement instruments" in answer.evidence[0].text
