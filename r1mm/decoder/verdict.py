"""Yes or no, decided by the findings: never by a language model's guess.

A yes/no question ("Do the figures stated on the call match the report?", "Are there any
nodules?", "Is the largest nodule in the right lung?", "Is it larger than 10 mm?", "Did revenue
grow?") gets "Yes" or "No" first when the findings that answer it settle the matter, and no
verdict at all when they do not. Each test below reads the findings' values, not their wording.
"""
from __future__ import annotations

import re
from typing import Literal

from r1mm.analysis.finance import SCALES
from r1mm.types import Finding

Verdict = Literal["Yes", "No"]

_YES_NO = re.compile(r"^\s*(is|are|was|were|does|do|did|has|have|had|can|could|will|would|should|any)\b"
                     r"|\byes or no\b", re.IGNORECASE)
_AGREEMENT = re.compile(r"\b(match|agree|consistent|line up|lines up|true|accurate|correct|same|support|"
                        r"confirm|back up|reflect)", re.IGNORECASE)
_DISAGREEMENT = re.compile(r"\b(contradict|disagree|differ|inconsistent|conflict|mismatch|wrong)", re.IGNORECASE)
_EXISTENCE = re.compile(r"\b(any|there|find|found|see|detect|contain|have|has)\b", re.IGNORECASE)
_SIDE = re.compile(r"\b(left|right)\b", re.IGNORECASE)
# a threshold as written: "2,000", "1.3 billion", "$1.3bn", "2 cm", "10%"
_AMOUNT = (r"(?:(?P<currency>\$|usd\s?|us\$)\s?)?(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
           r"\s*(?P<scale>thousand|million|billion|trillion|k|m|mn|bn|b)?\b\s*(?P<unit>%|percent\b|mm³|mm3\b|cm³|cm3\b|"
           r"mm\b|cm\b|m\b|ml\b|l\b|cc\b|hu\b|dollars?\b|usd\b)?")
_ABOVE = re.compile(r"\b(larger|bigger|greater|more|longer|deeper|higher|over|above|exceed\w*|at least)\b"
                    r"(?: than)?\s*" + _AMOUNT, re.IGNORECASE)
_BELOW = re.compile(r"\b(smaller|less|shorter|shallower|lower|under|below|at most)\b(?: than)?\s*" + _AMOUNT,
                    re.IGNORECASE)
# the scale words reports print (`finance.SCALES`), and the short forms questions use
_SCALES = {**SCALES, "k": 1e3, "m": 1e6, "mn": 1e6, "bn": 1e9, "b": 1e9, "trillion": 1e12}
# units a threshold may be written in, each as (dimension, size in the dimension's base unit)
_UNITS = {"mm": ("length", 1.0), "cm": ("length", 10.0), "m": ("length", 1000.0),
          "ml": ("volume", 1.0), "cc": ("volume", 1.0), "cm³": ("volume", 1.0), "cm3": ("volume", 1.0),
          "l": ("volume", 1000.0), "mm³": ("volume", 0.001), "mm3": ("volume", 0.001),
          "%": ("percent", 1.0), "percent": ("percent", 1.0), "hu": ("hu", 1.0)}
_GROWTH = re.compile(r"\b(grow|grew|increase\w*|rise|rose|go up|went up|improve\w*)\b", re.IGNORECASE)
_DECLINE = re.compile(r"\b(decline\w*|decrease\w*|fall|fell|drop\w*|shrink|shrank|go down|went down)\b",
                      re.IGNORECASE)
# Findings whose value is a count: the thing exists when it is above zero.
_COUNTS = ("ct.nodule_count", "pointcloud.defect_count", "pointcloud.parts")
# Findings whose presence means the thing asked about exists.
_PRESENT = ("ct.nodule", "ct.mass", "pointcloud.dent", "pointcloud.bump")


def is_yes_no(question: str) -> bool:
    return bool(_YES_NO.search(question))


def decide(question: str, findings: list[Finding]) -> Verdict | None:
    """"Yes" or "No" when ``question`` asks yes or no and ``findings`` (those chosen to answer it,
    best first) settle it; None otherwise. Every test the question raises must hold for "Yes"."""
    if not is_yes_no(question) or not findings:
        return None
    if findings[0].kind == "finance.answer":  # a filing's answer was decided where it was computed
        return findings[0].value["verdict"]
    tests = [t for t in (_agreement(question, findings), _side(question, findings), _threshold(question, findings),
                         _direction(question, findings), _existence(question, findings)) if t is not None]
    if not tests:
        return None
    return "Yes" if all(tests) else "No"


def _agreement(question: str, findings: list[Finding]) -> bool | None:
    """Spoken claims or chart values against the report: any disagreement is a contradiction."""
    if not (_AGREEMENT.search(question) or _DISAGREEMENT.search(question)):
        return None
    verdicts = [f.value["verdict"] for f in findings if f.kind in ("finance.claim_check", "chart.check")]
    if "disagrees" in verdicts:
        consistent = False
    elif verdicts and all(v == "agrees" for v in verdicts):
        consistent = True
    else:  # a claim to check against the recording, or not in the report: "yes" would claim too much
        return None
    return not consistent if _DISAGREEMENT.search(question) else consistent


def _side(question: str, findings: list[Finding]) -> bool | None:
    asked = {s.lower() for s in _SIDE.findall(question)}
    first = findings[0]
    if len(asked) != 1 or first.kind not in _PRESENT:
        return None
    stated = {s.lower() for s in _SIDE.findall(first.text)}
    return asked == stated if len(stated) == 1 else None


def _threshold(question: str, findings: list[Finding]) -> bool | None:
    """The first finding's value against the question's threshold, both in the finding's unit; no
    test when the threshold's unit is not one the finding's converts to ("2 cm" against a count)."""
    value = _scalar(findings[0])
    if value is None:
        return None
    above, below = _ABOVE.search(question), _BELOW.search(question)
    match = above or below
    if match is None:
        return None
    limit = limit_in_unit(match, findings[0].unit or "")
    if limit is None:
        return None
    word = match.group(1).lower()
    if above:
        return value >= limit if word == "at least" else value > limit
    return value <= limit if word == "at most" else value < limit


def limit_in_unit(match: re.Match, finding_unit: str) -> float | None:
    """A threshold written in a question ("2 cm", "1.3 billion", "10%") in a finding's unit ("mm",
    "USD millions", "%"), or None when the two cannot be reconciled. A bare number is taken in the
    unit the finding is shown in ("above 2,000" of revenue shown in USD millions)."""
    number = float(match.group("number").replace(",", ""))
    scale = _SCALES.get((match.group("scale") or "").lower(), 1.0)
    unit = (match.group("unit") or "").lower()
    money = bool(match.group("currency")) or unit in ("dollar", "dollars", "usd")
    shown = finding_unit.lower().split()
    if unit in _UNITS:
        dimension, size = _UNITS[unit]
        if scale != 1.0 or not shown or shown[0] not in _UNITS or _UNITS[shown[0]][0] != dimension:
            return None
        return number * size / _UNITS[shown[0]][1]
    finding_scale = SCALES.get(shown[-1], 1.0) if len(shown) > 1 else 1.0
    is_currency = bool(shown) and re.fullmatch(r"[a-z]{3}", shown[0]) is not None and shown[0] not in _UNITS
    if money and not is_currency:
        return None
    if scale != 1.0 or money:  # an amount written out ("1.3 billion", "$900,000"): into the finding's scale
        if not is_currency and shown:
            return None
        return number * scale / finding_scale
    return number


def _direction(question: str, findings: list[Finding]) -> bool | None:
    change = next((f for f in findings if f.kind == "finance.change"), None)
    if change is None or not isinstance(change.value, (int, float)):
        return None
    if _GROWTH.search(question):
        return change.value > 0
    if _DECLINE.search(question):
        return change.value < 0
    return None


def _existence(question: str, findings: list[Finding]) -> bool | None:
    if not _EXISTENCE.search(question):
        return None
    count = next((f for f in findings if f.kind in _COUNTS and isinstance(f.value, (int, float))), None)
    if count is not None:
        return count.value > 0
    if any(f.kind in _PRESENT for f in findings):
        return True
    return None


def _scalar(f: Finding) -> float | None:
    return float(f.value) if isinstance(f.value, (int, float)) and not isinstance(f.value, bool) else None
