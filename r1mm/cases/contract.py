"""A long supply contract whose clauses refer to each other, and questions that need two clauses.

Each question asks about an obligation ("For how many months must the Supplier repair defective
pumps free of charge?"). The clause that states the obligation names a defined term and the
clause that defines it ("... during the Warranty Period of clause 31.7"); only the defining
clause, pages away, holds the number. So neither clause answers alone, and the defining clause
shares few words with the question. The rest is ordinary contract prose drawn from templates,
with its own numbers and cross-references, so numbers and "clause X.Y" are everywhere.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

CHARS_PER_PAGE = 3000  # a typed contract page: about 500 words

# (defined term, its definition with {v}, the obligation citing it with {ref},
#  question, answer stem (the start of the answer), the value's range)
LINKED = (
    ("Warranty Period", "The Warranty Period is {v} months from the date of delivery.",
     "Subject to clause {ref}, the Supplier shall repair or replace any defective pump free of charge "
     "during the Warranty Period.",
     "For how many months must the Supplier repair defective pumps free of charge?",
     "The Supplier must repair defective pumps free of charge for", (13, 59)),
    ("Cure Period", "The Cure Period is {v} days from the date of a written notice of breach.",
     "The Buyer may terminate this Agreement for a breach by the Supplier only if the breach is not "
     "remedied within the Cure Period defined in clause {ref}.",
     "How many days does the Supplier have to remedy a breach before the Buyer may terminate?",
     "Before the Buyer may terminate, the Supplier has", (21, 89)),
    ("Liability Cap", "The Liability Cap is {v} thousand euros in aggregate.",
     "Except as stated in clause {ref}, the total liability of either party for losses arising from "
     "late delivery shall not exceed the Liability Cap.",
     "What is the most, in thousand euros, either party must pay for losses from late delivery?",
     "For losses from late delivery, the most either party must pay is", (150, 950)),
    ("Payment Term", "The Payment Term is {v} days from receipt of a valid invoice.",
     "The Buyer shall pay each invoice for spare parts within the Payment Term set out in clause {ref}.",
     "Within how many days must the Buyer pay an invoice for spare parts?",
     "The Buyer must pay an invoice for spare parts within", (31, 97)),
    ("Late Payment Rate", "The Late Payment Rate is {v} percent per year above the base rate.",
     "Any amount not paid when due shall carry interest at the Late Payment Rate given in clause {ref}.",
     "What interest rate, in percent per year above the base rate, applies to amounts paid late?",
     "Amounts paid late carry interest, in percent per year above the base rate, of", (3, 9)),
    ("Notice Period", "The Notice Period is {v} days.",
     "Either party may end the lease of the Riverside warehouse by written notice no shorter than the "
     "Notice Period in clause {ref}.",
     "How many days' notice is needed to end the lease of the Riverside warehouse?",
     "Ending the lease of the Riverside warehouse needs a notice, in days, of", (35, 180)),
    ("Inspection Window", "The Inspection Window is {v} hours after unloading.",
     "The Buyer shall report any visible damage to delivered crates within the Inspection Window "
     "(clause {ref}).",
     "Within how many hours must the Buyer report visible damage to delivered crates?",
     "Visible damage to delivered crates must be reported within", (12, 96)),
    ("Service Credit", "The Service Credit is {v} percent of the monthly fee for each hour of downtime.",
     "Whenever the hosted portal is unavailable, the Supplier shall grant the Service Credit described "
     "in clause {ref}.",
     "What percent of the monthly fee is credited for each hour the hosted portal is unavailable?",
     "For each hour the hosted portal is unavailable, the percent of the monthly fee credited is", (2, 15)),
    ("Renewal Term", "The Renewal Term is {v} months.",
     "Unless either party objects in writing, this Agreement renews automatically for the Renewal Term "
     "of clause {ref}.",
     "For how many months does the Agreement renew automatically?",
     "The Agreement renews automatically for", (7, 47)),
    ("Training Allowance", "The Training Allowance is {v} hours of on-site instruction per year.",
     "The Supplier shall train the Buyer's operators of the bottling line up to the Training Allowance "
     "of clause {ref}.",
     "How many hours of on-site training per year must the Supplier give the operators of the bottling line?",
     "Each year the operators of the bottling line receive on-site training, in hours, of", (16, 120)),
    ("Retention Sum", "The Retention Sum is {v} percent of the contract price.",
     "The Buyer may withhold the Retention Sum under clause {ref} until the conveyor passes its acceptance test.",
     "What percent of the contract price may the Buyer withhold until the conveyor passes its acceptance test?",
     "Until the conveyor passes its acceptance test, the Buyer may withhold, in percent of the contract price,",
     (4, 19)),
    ("Confidentiality Term", "The Confidentiality Term is {v} years after termination.",
     "Each party shall keep the other's recipes and formulations secret for the Confidentiality Term "
     "(see clause {ref}).",
     "For how many years after termination must the recipes and formulations be kept secret?",
     "The recipes and formulations must be kept secret, in years after termination, for", (2, 12)),
)

_HEADINGS = ("Definitions and Interpretation", "Scope of Supply", "Orders", "Delivery", "Packaging and Labelling",
             "Acceptance", "Prices", "Invoicing", "Taxes", "Title and Risk", "Quality Assurance", "Audits",
             "Health and Safety", "Environmental Obligations", "Subcontracting", "Personnel", "Insurance",
             "Intellectual Property", "Data Protection", "Records", "Change Control", "Forecasts", "Capacity",
             "Tooling", "Spare Parts Supply", "Documentation", "Compliance with Laws", "Export Control",
             "Anti-Bribery", "Force Majeure", "Suspension", "Dispute Resolution", "Governing Law", "Assignment",
             "Notices", "Severability", "Waiver", "Entire Agreement", "Counterparts", "Continuity Planning",
             "Security", "Reporting", "Governance", "Benchmarking", "Exit Management")
_ITEMS = ("filters", "gaskets", "sensor housings", "control cabinets", "cable looms", "drive belts", "labels",
          "pallets", "test rigs", "calibration weights", "hydraulic hoses", "fasteners", "shrink film", "bearings")
_PARTIES = ("the Supplier", "the Buyer", "each party", "the Carrier", "the Auditor", "the Steering Committee")
_FILLER = (
    "{P} shall keep complete and accurate records of all {i} supplied under this Agreement for {n} years.",
    "Orders for {i} shall state the quantity, the delivery address and the requested delivery date.",
    "{P} may not assign or transfer any right under this clause without the prior written consent of the other party.",
    "Subject to clause {r}, {p} shall give at least {n} working days' notice of any change to the {i}.",
    "Prices for {i} are fixed for the first {n} months and may then be reviewed once in each contract year.",
    "All {i} shall be packed so that they reach the delivery address undamaged under normal handling.",
    "{P} shall comply with the site rules notified in writing, including the rules on protective equipment.",
    "A failure to exercise any right under clause {r} shall not be a waiver of that right.",
    "{P} shall maintain insurance covering product liability of at least {n} million euros per event.",
    "The parties shall meet at least every {n} weeks to review forecasts, quality results and open actions.",
    "If any provision of clause {r} is found invalid, the remaining provisions shall continue in full force.",
    "{P} shall notify the other party within {n} days of becoming aware of any defect in the {i}.",
    "Risk in the {i} passes on delivery; title passes when the relevant invoice has been paid in full.",
    "Except as set out in clause {r}, neither party shall be liable for indirect or consequential loss.",
    "{P} shall provide certificates of conformity with each consignment of {i}.",
    "Any dispute shall first be referred to the Steering Committee, which shall meet within {n} days.",
    "Tooling paid for by the Buyer remains its property and shall be marked as such by {p}.",
    "{P} shall keep a safety stock of {i} sufficient for {n} weeks of forecast demand.",
    "Nothing in clause {r} limits the right of either party to seek urgent relief from a competent court.",
    "Notices shall be in writing and are deemed received {n} hours after being sent by registered mail.",
    "{P} shall not subcontract the manufacture of {i} without written approval, which shall not be unreasonably withheld.",
    "Each invoice shall quote the order number and list the {i} delivered, their quantity and unit price.",
    "Forecasts are for planning only and do not oblige the Buyer to order {i} beyond firm orders.",
    "During a force majeure event lasting more than {n} days, either party may suspend the affected orders.",
    "{P} shall cooperate in any audit under clause {r} and give access to the relevant premises and records.",
)


@dataclass
class Clause:
    number: str          # "14.2"
    text: str            # with its number: "14.2 The Payment Term is ..."
    page: int            # 1-based


@dataclass
class ContractQuestion:
    question: str
    stem: str            # the answer's start, which the value follows
    answer: str          # the value, as the defining clause writes it
    defining: str        # the clause that holds the value
    citing: str          # the clause the question is about, which cites ``defining``


@dataclass
class Contract:
    clauses: list[Clause]
    questions: list[ContractQuestion]

    @property
    def pages(self) -> int:
        return self.clauses[-1].page

    def text(self) -> str:
        """The whole contract as typed: headings, clauses, a footer at the end of each page."""
        out, page = [], 1
        for clause in self.clauses:
            if clause.page != page:
                out.append(f"Page {page} of {self.pages}\n")
                page = clause.page
            out.append(clause.text)
        out.append(f"Page {page} of {self.pages}\n")
        return "\n".join(out)

    def clause(self, number: str) -> Clause:
        return next(c for c in self.clauses if c.number == number)


def cited(text: str) -> list[str]:
    """Clause numbers a text refers to ("clause 14.2", "clauses 3.1 and 3.4"), in order."""
    found = []
    for match in re.finditer(r"\bclauses?\s+(\d+\.\d+(?:(?:\s*,\s*|\s+and\s+|\s+or\s+)\d+\.\d+)*)", text, re.I):
        found += [n for n in re.findall(r"\d+\.\d+", match.group(1)) if n not in found]
    return found


def contract(seed: int = 0, pages: int = 100, linked: int = 10) -> Contract:
    """A contract of at least ``pages`` pages with ``linked`` (at most 12) two-clause questions; the
    clause citing a definition lies at least a fifth of the contract away from it, either side."""
    articles = min(len(_HEADINGS), max(12, pages // 3))
    per_article = max(4, round(pages * CHARS_PER_PAGE / 170 / articles))  # clauses of ~170 characters
    while (doc := _contract(seed, articles, per_article, linked)).pages < pages:
        per_article += 1
    return doc


def _contract(seed: int, articles: int, per_article: int, linked: int) -> Contract:
    rng = random.Random(seed)
    articles = rng.sample(_HEADINGS, articles)
    numbers = [f"{a}.{c}" for a in range(1, len(articles) + 1) for c in range(1, per_article + 1)]
    spots = _linked_spots(rng, len(numbers), linked)
    texts: dict[int, str] = {}
    questions = []
    for (term, definition, obligation, question, stem, (low, high)), (at_def, at_cite) in zip(
            rng.sample(LINKED, linked), spots):
        value = str(rng.randint(low, high))
        texts[at_def] = definition.format(v=value)
        texts[at_cite] = obligation.format(ref=numbers[at_def])
        questions.append(ContractQuestion(question, stem, value, numbers[at_def], numbers[at_cite]))
    clauses, chars, page = [], 0, 1
    for k, number in enumerate(numbers):
        article, index = (int(x) for x in number.split("."))
        if index == 1:
            heading = f"Article {article}. {articles[article - 1]}"
            chars += len(heading)
            clauses.append(Clause(f"{article}", heading, page))
        body = texts.get(k) or _filler(rng, numbers)
        text = f"{number} {body}"
        if chars + len(text) > CHARS_PER_PAGE:
            page, chars = page + 1, 0
        chars += len(text) + 1
        clauses.append(Clause(number, text, page))
    return Contract(clauses, questions)


def _linked_spots(rng: random.Random, count: int, linked: int) -> list[tuple[int, int]]:
    """(defining, citing) clause indices, all distinct, each pair at least count/5 apart."""
    used: set[int] = set()
    pairs = []
    while len(pairs) < linked:
        a, b = rng.randrange(count), rng.randrange(count)
        if abs(a - b) >= count // 5 and not {a, b} & used:
            used |= {a, b}
            pairs.append((a, b))
    return pairs


def _filler(rng: random.Random, numbers: list[str]) -> str:
    """One or two ordinary clauses' sentences, with their own numbers and cross-references."""
    sentences = []
    for template in rng.sample(_FILLER, rng.choice((1, 2))):
        party = rng.choice(_PARTIES)
        sentences.append(template.format(P=party[0].upper() + party[1:], p=party, i=rng.choice(_ITEMS),
                                         n=rng.randint(2, 60), r=rng.choice(numbers)))
    return " ".join(sentences)
