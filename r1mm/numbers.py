"""Numbers as written in text ("1,284.6", "3", "-0.5"): one pattern for the grounding check, the
benches and the projector tuning, so they agree on what counts as a number."""
from __future__ import annotations

import re

# Digits with thousands commas and decimals; the sign is read apart (a dash is often a range or a
# bullet, and "(3.2)" is negative in a report), so only `values_in` takes a leading minus.
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_SIGNED = re.compile(r"-?" + NUMBER.pattern)


def numbers_in(text: str) -> set[str]:
    """The numbers written in ``text``, commas dropped: {"1284.6", "3"}."""
    return {n.replace(",", "").rstrip(".") for n in NUMBER.findall(text)}


def values_in(text: str) -> list[float]:
    """The numbers in ``text`` as floats, in order, a leading minus kept."""
    return [float(n.replace(",", "")) for n in _SIGNED.findall(text) if n.replace(",", "").strip("-")]
