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
