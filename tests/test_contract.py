"""The long-contract case: clauses that cite each other, questions that need two of them."""
from __future__ import annotations

import re

import pytest

from r1mm.cases.contract import CHARS_PER_PAGE, LINKED, cited, contract


def test_cited_reads_every_way_a_contract_refers_to_clauses():
    assert cited("Subject to clause 14.2, the Buyer ...") == ["14.2"]
    assert cited("as set out in clauses 3.1, 3.4 and 12.10 (see Clause 3.1)") == ["3.1", "3.4", "12.10"]
    assert cited("under clauses 7.2 or 7.3.") == ["7.2", "7.3"]
    assert cited("Article 14. Notices; the price is 14.2 euros") == []


@pytest.mark.parametrize("seed,pages", [(0, 100), (3, 120), (5, 12)])
def test_contract_questions_need_two_clauses_far_apart(seed, pages):
    doc = contract(seed, pages=pages)
    text = doc.text()
    assert doc.pages >= pages
    assert len(text) >= (pages - 1) * CHARS_PER_PAGE * 0.9       # pages of typed text, not a few lines
    assert f"Page {doc.pages} of {doc.pages}" in text
    numbers = [c.number for c in doc.clauses if "." in c.number]
    assert len(numbers) == len(set(numbers))
    order = {n: k for k, n in enumerate(numbers)}
    assert len(doc.questions) == 10 and len({q.defining for q in doc.questions}) == 10
    for q in doc.questions:
        defining, citing = doc.clause(q.defining), doc.clause(q.citing)
        assert re.search(rf"(?<!\d){q.answer}(?!\d)", defining.text)      # the number is in the definition ...
        assert not re.search(rf"(?<!\d){q.answer}(?!\d)", re.sub(r"\d+\.\d+", "", citing.text))  # ... only
        assert q.defining in cited(citing.text)
        assert abs(order[q.defining] - order[q.citing]) >= len(numbers) // 5
        assert q.answer not in q.question and q.answer not in q.stem


def test_contracts_differ_by_seed_and_every_linked_template_is_used():
    a, b = contract(1), contract(2)
    assert a.text() != b.text()
    assert {q.defining for q in a.questions} != {q.defining for q in b.questions}
    terms = {term for doc in (contract(s) for s in range(6)) for q in doc.questions
             for term, *_ in LINKED if q.question == _question_of(term)}
    assert terms == {term for term, *_ in LINKED}


def _question_of(term: str) -> str:
    return next(question for t, _, _, question, _, _ in LINKED if t == term)


def test_defined_term_reads_the_term_and_its_clause_from_an_answer():
    from r1mm.bench.contract import defined_term

    assert defined_term("the Payment Term set out in clause 33.45 of") == ("Payment Term", "33.45")
    assert defined_term("the renewal term of clause 16.7.") == ("Renewal Term", "16.7")
    assert defined_term("for the Confidentiality Term (see clause 19.39)") == ("Confidentiality Term", "19.39")
    assert defined_term("within the Inspection Window (clause 1.3).") == ("Inspection Window", "1.3")
    assert defined_term("the Buyer may withhold the Retention Sum.") == ("Retention Sum", None)
    assert defined_term("to notify the Buyer within 60 days") is None      # a party is not a defined term
    assert defined_term("how many days?") is None


def test_quote_then_term_asks_for_the_term_the_quote_names():
    from r1mm.bench.contract import quote_then_term

    asked = []

    def ask(text, tokens):
        asked.append(text)
        return " The Buyer shall pay within the Payment Term set out in clause 33.45.\n12.1 Orders"

    def ask_term(term, clause):
        asked.append((term, clause))
        return " 71 days from receipt\nmore"

    assert quote_then_term(ask, ask_term, "When must the Buyer pay?", "no idea") == "71 days from receipt"
    assert asked[0].startswith("When must the Buyer pay?\n") and asked[1] == ("Payment Term", "33.45")
    # A quote that names no term leaves the one-pass answer.
    assert quote_then_term(lambda text, tokens: "Orders shall state the quantity.", ask_term, "q?", "42 days") == "42 days"
