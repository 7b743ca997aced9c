"""Text for calibrating routers and measuring perplexity, made on this machine without downloads.

Two disjoint sources, each split by name into calibration and held-out halves, so the held-out
text was never seen while the experts were clustered or the routers trained:
- English prose from the documentation strings of the Python standard library;
- analyst-style prose about quarterly results, scans and parts, generated from seeded templates
  with varied numbers (the register the decoder answers in).
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import random
import re

STDLIB_MODULES = (
    "argparse", "asyncio", "base64", "bisect", "calendar", "collections", "contextlib", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "email", "enum", "fractions", "functools", "glob", "gzip", "heapq",
    "hashlib", "html", "http.client", "imaplib", "inspect", "ipaddress", "itertools", "json", "logging",
    "mailbox", "mimetypes", "numbers", "operator", "optparse", "os", "pathlib", "pickle", "pprint",
    "queue", "random", "re", "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "smtplib",
    "socket", "sqlite3", "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap",
    "threading", "timeit", "tokenize", "typing", "unittest", "urllib.parse", "uuid", "warnings", "wave",
    "weakref", "xml.dom.minidom", "zipfile", "zoneinfo",
)

_TEMPLATES = (
    "Revenue for {q} was {a:,.1f} million dollars, up {p:.1f} percent from the same quarter last year.",
    "Operating expenses rose to {b:,.1f} million dollars as the company kept hiring engineers.",
    "Gross margin came in at {p2:.1f} percent, compared with {p3:.1f} percent a year earlier.",
    "Management said demand in {region} stayed strong and guided next quarter's revenue to about {a2:,.0f} million.",
    "The CT series has {n} slices of {t:.2f} millimetres; a nodule of {d:.1f} millimetres lies in the {lobe} lobe.",
    "On slice {n2}, the lesion measures {d:.1f} by {d2:.1f} millimetres and has a mean density of {hu} HU.",
    "The scanned plate is {l:.1f} by {w:.1f} millimetres; a dent {dd:.2f} millimetres deep sits near one corner.",
    "Flatness of the top face is {f:.3f} millimetres over the full length, within the drawing tolerance.",
    "Earnings per share were {e:.2f} dollars, while free cash flow reached {b2:,.1f} million dollars.",
    "The chief financial officer noted that {risk} remains the main risk to the outlook.",
)
_REGIONS = ("Europe", "North America", "Asia Pacific", "Latin America")
_LOBES = ("right upper", "right lower", "left upper", "left lower", "middle")
_RISKS = ("currency exposure", "supply of components", "customer concentration", "interest rates")


def _is_heldout(name: str) -> bool:
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 4 == 0


def _docstrings(module_name: str) -> list[str]:
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return []
    texts = [inspect.getdoc(module) or ""]
    for _, obj in sorted(vars(module).items()):
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", "") == module_name:
            texts.append(inspect.getdoc(obj) or "")
    return [re.sub(r"\s+", " ", t).strip() for t in texts if len(t) > 80]


def _analyst_prose(seed: int, sentences: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(sentences):
        template = rng.choice(_TEMPLATES)
        out.append(template.format(
            q=f"Q{rng.randint(1, 4)} {rng.randint(2019, 2026)}", a=rng.uniform(50, 5000), a2=rng.uniform(50, 5000),
            b=rng.uniform(10, 900), b2=rng.uniform(10, 900), p=rng.uniform(-20, 40), p2=rng.uniform(20, 70),
            p3=rng.uniform(20, 70), region=rng.choice(_REGIONS), n=rng.randint(40, 400), n2=rng.randint(1, 400),
            t=rng.choice((0.625, 1.0, 1.25, 2.5, 5.0)), d=rng.uniform(3, 30), d2=rng.uniform(3, 30),
            lobe=rng.choice(_LOBES), hu=rng.randint(-100, 200), l=rng.uniform(50, 300), w=rng.uniform(20, 200),
            dd=rng.uniform(0.05, 3), f=rng.uniform(0.005, 0.3), e=rng.uniform(0.1, 9), risk=rng.choice(_RISKS)))
    return out


def texts(split: str) -> list[str]:
    """Paragraphs for ``split`` = "calibration" or "heldout" (deterministic)."""
    if split not in ("calibration", "heldout"):
        raise ValueError("split must be 'calibration' or 'heldout'")
    want_heldout = split == "heldout"
    paragraphs = [t for name in STDLIB_MODULES if _is_heldout(name) == want_heldout for t in _docstrings(name)]
    prose = _analyst_prose(seed=1 if want_heldout else 0, sentences=200)
    paragraphs += [" ".join(prose[i:i + 5]) for i in range(0, len(prose), 5)]
    return paragraphs
