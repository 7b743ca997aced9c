"""Open questions get a short extractive summary: the most relevant, non-redundant sentences of
the files, each cited, in the order they occur."""
from __future__ import annotations

import numpy as np

from r1mm.latent.summary import asks_for_summary, mmr, split_sentences

MINUTES = """Minutes of the Riverside Garden Club, spring meeting.

The club agreed to plant a new herb bed beside the greenhouse in April. Volunteers will prepare the soil.

The treasurer reported that the greenhouse roof leaks after heavy rain and must be repaired before winter.
The roof of the greenhouse leaks when it rains hard and needs repair before the winter.

Members voted to hold the summer plant sale on the second Saturday of June. Posters will go up in May.

The next meeting is on the first Monday of September at the community hall.
"""


def test_mmr_prefers_a_new_point_to_a_restatement():
    vectors = np.array([[1.0, 0.0], [0.995, 0.0998], [0.6, 0.8]])
    relevance = np.array([0.9, 0.89, 0.6])
    assert mmr(relevance, vectors, k=2) == [0, 2]


def test_sentences_and_summary_intent():
    assert split_sentences("Revenue grew. Costs fell sharply this year. Ok.") == ["Costs fell sharply this year."]
    for question in ("Summarise the risks", "What are they talking about?", "What is this report about?",
                     "Give me an overview", "What were the key takeaways?"):
        assert asks_for_summary(question), question
    assert not asks_for_summary("What was revenue this quarter?")


def test_an_open_question_is_answered_with_cited_sentences_in_order(tmp_path):
    from r1mm import Workspace

    (tmp_path / "minutes.txt").write_text(MINUTES)
    ws = Workspace()
    assert ws.add(tmp_path / "minutes.txt").ok
    answer = ws.ask("Summarise the meeting")
    quoted = [e.text for e in answer.evidence]
    assert 3 <= len(quoted) <= 4 and all(t.startswith("“") for t in quoted)
    assert all(f"[{e.id}]" in answer.text for e in answer.evidence)
    # one of the two sentences about the leaking roof, not both
    assert sum("roof" in t for t in quoted) == 1
    positions = [MINUTES.index(t.strip("“”")) for t in quoted]
    assert positions == sorted(positions)
    sale = ws.ask("When is the plant sale?")
    assert any("second Saturday of June" in e.text for e in sale.evidence)


def test_a_question_nothing_in_the_files_is_about_says_so(tmp_path):
    from r1mm import Workspace

    (tmp_path / "minutes.txt").write_text(MINUTES)
    ws = Workspace()
    assert ws.add(tmp_path / "minutes.txt").ok
    answer = ws.ask("Who is the CEO of the bank?")
    assert not answer.evidence and answer.text.startswith("Nothing in the workspace matches")
