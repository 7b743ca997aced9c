"""Analysts' questions on real SEC filings (``../shared/filings``, not in the repo), scored strictly.

Two sets, asked through `Workspace.add` / `ask` as a user's files are:

- the shared bench (``../shared/benches/filings``: 234 questions on ten inline-XBRL filings with
  truth from their tags), scored by its own strict scorer (``score.py`` there), on the HTML files
  and, with ``formats=("html", "pdf")``, on Chromium's PDF renderings of them (its ``to_pdf.sh``);
- our own questions on ``../shared/filings/pdf`` and a few HTML filings (below).

Our own questions and their truth (``data/filings_questions.json``) were written from the filings'
pages and inline-XBRL tags before the code that answers them; a held-out part (other companies'
filings) is reported apart and was not looked at while tuning. A second held-out round
(``heldout2``) asks the iXBRL filings about lines and periods the others do not, with truth
recomputed from the tags (`truth_from_tags`); questions on HTML filings are asked of their PDF
renderings too.

An answer is *right* when the value it states is the asked value (or, for a yes/no question, its
first word is the right verdict; for a metric the filing does not have, it says so); *refused*
when it states no value; *wrong-shown* otherwise. The value stated is the first number of the
answer that is not in the question, not a date and not a period name. The baseline answers with
the first number of the best retrieved passage (retrieval only, no line items).
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections import defaultdict
from pathlib import Path

QUESTIONS = Path(__file__).with_name("data") / "filings_questions.json"
_NUMBER = re.compile(r"(?<![\w.])[-−+]?\(?\$?\s?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\)?\s*(%|percent|thousand|million|"
                     r"billion)?", re.IGNORECASE)
_NOT_VALUES = re.compile(r"\b(?:19|20)\d{2}-\d{2}(?:-\d{2})?\b|\b(?:FY|Q[1-4]|H[12])\s?\d{2,4}\b|\[E\d+\]|\b(?:page|table|"
                         r"row|column|col|slice)\s+\d+|\b\d+ months\b|\b(?:19|20)\d{2}\b", re.IGNORECASE)
_REFUSAL = re.compile(r"^(?:[^:]*: )?(?:the filing has no|the filing has .* only for|no finding answers|nothing in "
                      r"the workspace)|^no figure is stated\b", re.IGNORECASE)
SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9}


def filings_dir() -> Path:
    """``$R1MM_FILINGS``, else the ``shared/filings`` folder beside the repository."""
    default = Path(__file__).resolve().parents[3] / "shared" / "filings"
    return Path(os.environ.get("R1MM_FILINGS", default))


def stated_value(text: str, question: str, unit_scale: float) -> float | None:
    """The first number an answer states beyond the question's numbers, dates and period names, in
    the truth's scale (a stated "2.5 billion" against USD millions is 2,500)."""
    asked = {m.group(1).replace(",", "") + (m.group(2) or "") for m in _NUMBER.finditer(question)}
    body = _NOT_VALUES.sub(" ", text)
    for m in _NUMBER.finditer(body):
        digits = m.group(1).replace(",", "") + (m.group(2) or "")
        if digits in asked:
            continue
        value = float(digits)
        whole = m.group(0)
        if whole.lstrip().startswith(("-", "−", "(")):
            value = -value
        word = (m.group(3) or "").lower()
        if word in SCALES and unit_scale > 1:
            value *= SCALES[word] / unit_scale
        return value
    return None


def score(q: dict, text: str) -> str:
    """'right', 'refused' or 'wrong' for one answer text."""
    body = re.sub(r"^From the measured findings \([^)]*\):\s*", "", text.strip())
    if q["kind"] == "yesno":
        first = body.split(".")[0].strip().lower()
        if first in ("yes", "no"):
            return "right" if first == q["truth"] else "wrong"
        return "refused" if _REFUSAL.search(body) or stated_value(body, q["question"], 1) is None else "wrong"
    if _REFUSAL.search(body):
        return "right" if q["truth"] is None else "refused"
    value = stated_value(body, q["question"], q["scale"])
    if value is None:
        return "right" if q["truth"] is None else "refused"
    if q["truth"] is None:
        return "wrong"
    truth = float(q["truth"])
    tolerance = q.get("tolerance", max(0.0005 * abs(truth), 0.005))
    return "right" if abs(value - truth) <= tolerance + 1e-9 else "wrong"


def _tally(results: list[dict], key: str) -> dict:
    n = len(results)
    counts = {k: sum(r[key] == k for r in results) for k in ("right", "refused", "wrong")}
    return {"questions": n, **counts, "right_rate": round(counts["right"] / n, 3) if n else None,
            "wrong_shown_rate": round(counts["wrong"] / n, 3) if n else None}


def shared_bench_dir() -> Path:
    return filings_dir().parent / "benches" / "filings"


def shared_module(name: str):
    """A module of the shared bench (``score.py``, ``ixfacts.py``), loaded from where it lies."""
    import importlib.util
    import sys

    path = shared_bench_dir() / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"r1mm_shared_filings_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _shared_scorer():
    """The shared bench's own scorer (``score.py``)."""
    return shared_module("score")


def rendered_pdf(html: Path) -> Path:
    """Chromium's PDF rendering of an HTML filing (the shared bench's ``to_pdf.sh``), made once and
    kept in the cache under the HTML's hash."""
    import subprocess

    from r1mm.builds import file_sha256
    from r1mm.config import cache_dir

    out = cache_dir() / "filings-pdf" / f"{html.stem}-{file_sha256(html)[:12]}"
    pdf = out / f"{html.stem}.pdf"
    if not pdf.exists():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(["bash", str(shared_bench_dir() / "to_pdf.sh"), str(out), html.name], check=True,
                       capture_output=True, timeout=600)
    return pdf


def _ask_file(path: Path, questions: list[dict], workdir: Path,
              beside: tuple[Path, ...] = ()) -> tuple[dict, list[tuple[dict, str, float]]]:
    """Read one filing (and the filings ``beside`` it) into a fresh workspace (no decoder: the
    answers as composed from the findings) and ask it each question: (how the reading went,
    [(question, answer text, seconds, pages cited, the best retrieved passage)])."""
    from r1mm.workspace import Workspace

    ws = Workspace(workdir / re.sub(r"\W", "_", "+".join(p.name for p in (path, *beside))))
    ws.decoder = None
    for other in beside:
        ws.add(other)
    t0 = time.perf_counter()
    record = ws.add(path)
    seconds = time.perf_counter() - t0
    pages = next((i.meta.get("pages") for i in ws.items()), None) if record.status == "ready" else None
    reading = {"file": path.name, "status": record.status, "error": record.error, "seconds": round(seconds, 1),
               "pages": pages, "s_per_page": round(seconds / pages, 3) if pages else None}
    answers = []
    for q in questions:
        t1 = time.perf_counter()
        answer = ws.ask(q["question"])
        seconds = time.perf_counter() - t1
        # the baseline: the best retrieved passage, as retrieval alone would answer
        hits = ws.answerer.cache.retrieve(q["question"], [], None, k=1) if record.status == "ready" else []
        answers.append((q, answer.text, seconds, {e.locator.page for e in answer.evidence},
                        hits[0][0].text if hits else ""))
    ws.close()
    return reading, answers


def read_line_items(path: Path) -> tuple:
    """A filing read with no OCR, and its line items as the statements reader gives them:
    (document, facts). Raises `IngestError` for a file with no text to read without OCR."""
    from r1mm.analysis.finance import statement_facts
    from r1mm.ingest.document import load_document
    from r1mm.ingest.limits import Limits

    item = load_document(path, path.name, path.suffix[1:], Limits(max_ocr_pages=0))
    return item.data, statement_facts(path.name, item.data)


def _ask_line_items(path: Path, questions: list[dict], beside: tuple[Path, ...] = ()) -> tuple[dict, list[tuple]]:
    """The same questions answered from the filing's line items alone (reading, statements and the
    analyst's resolver; no passages embedded, no workspace): what the statements reader and the
    resolver get right by themselves, in minutes rather than the workspace's half hour. ``beside``:
    other filings whose line items are asked with it (a 10-Q with the last 10-K)."""
    from r1mm.analysis.analyst import answer
    from r1mm.errors import IngestError

    t0 = time.perf_counter()
    try:
        document, facts = read_line_items(path)
    except IngestError as exc:  # no text to read without OCR: every question refused
        reading = {"file": path.name, "status": "failed", "error": str(exc), "seconds": None, "pages": None,
                   "s_per_page": None}
        return reading, [(q, "No finding answers this directly: the file has no text to read without OCR.", 0.0, set(),
                          "") for q in questions]
    seconds = time.perf_counter() - t0
    facts += [f for other in beside for f in read_line_items(other)[1]]
    pages = len(document.pages) if document.format == "pdf" else None
    reading = {"file": path.name, "status": "ready", "error": None, "seconds": round(seconds, 1), "pages": pages,
               "s_per_page": round(seconds / pages, 3) if pages else None}
    answers = []
    for q in questions:
        t1 = time.perf_counter()
        found = answer(q["question"], facts)
        answers.append((q, found[0].text if found else "No finding answers this directly.", time.perf_counter() - t1,
                        {f.locator.page for f in found}, ""))
    return reading, answers


def run_shared(formats: tuple[str, ...] = ("html",), files: list[str] | None = None, line_items: bool = False) -> dict:
    """The shared bench's questions, per format: right / refused / wrong-shown / unanswered per kind.
    ``line_items``: answered from the line items alone (`_ask_line_items`), not through a workspace."""
    from tqdm import tqdm

    scorer = _shared_scorer()
    questions = scorer.load_jsonl(shared_bench_dir() / "questions.jsonl")
    by_file: dict[str, list[dict]] = defaultdict(list)
    for q in questions:
        if files is None or Path(q["file"]).name in files:
            by_file[q["file"]].append(q)
    report: dict = {"questions": str(shared_bench_dir() / "questions.jsonl"),
                    "answered": "from line items alone" if line_items else "through Workspace.add / ask, no decoder"}
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-filings-") as tmp:
        for fmt in formats:
            rows, reading = [], []
            for name, asked in tqdm(sorted(by_file.items()), desc=f"shared bench ({fmt})", unit="file"):
                html = filings_dir().parent / name
                path = html if fmt == "html" else rendered_pdf(html)
                read, answers = _ask_line_items(path, asked) if line_items else _ask_file(path, asked, Path(tmp) / fmt)
                reading.append(read)
                for q, text, seconds, _, _ in answers:
                    rows.append({"q": q, "answer": text, "bucket": scorer.judge(q, {"answer": text}), "s": seconds})
            report[fmt] = _shared_tally(rows, reading)
    return report


def _shared_tally(rows: list[dict], reading: list[dict]) -> dict:
    buckets = ("right", "refused", "wrong-shown", "unanswered")

    def tally(part: list[dict]) -> dict:
        n = len(part)
        counts = {b: sum(r["bucket"] == b for r in part) for b in buckets}
        return {"questions": n, **counts, "right_rate": round(counts["right"] / n, 3) if n else None,
                "wrong_shown_rate": round(counts["wrong-shown"] / n, 3) if n else None}

    kinds = sorted({r["q"]["kind"] for r in rows})
    pages = sum(r["pages"] or 0 for r in reading)
    seconds = sorted(r["s"] for r in rows)
    return {
        "total": tally(rows), "by_kind": {k: tally([r for r in rows if r["q"]["kind"] == k]) for k in kinds},
        "extract_and_absent": tally([r for r in rows if r["q"]["kind"] in ("extract", "absent")]),
        "answer_s_median": round(seconds[len(seconds) // 2], 3) if seconds else None,
        "reading": {"files": reading, "pages": pages,
                    "s_per_page": round(sum(r["seconds"] for r in reading if r["pages"]) / pages, 3) if pages else None},
        "wrong_shown": [{"id": r["q"]["id"], "question": r["q"]["question"], "truth": r["q"]["answer"],
                         "answer": r["answer"][:300]} for r in rows if r["bucket"] == "wrong-shown"],
        "not_right": [{"id": r["q"]["id"], "bucket": r["bucket"], "answer": r["answer"][:200]}
                      for r in rows if r["bucket"] in ("refused", "unanswered")],
    }


def run(split: str | None = None, formats: tuple[str, ...] = ("html", "pdf"), line_items: bool = False,
        speed: bool = False, parse: bool = False, tables: bool = False) -> dict:
    """Both sets: the shared bench on the formats asked, then our own questions (through the
    workspace; ``line_items``: from line items alone, both sets); the question parse on its own
    (`r1mm.bench.question_parse`); the printed-label map; and figures said on a call held against
    the filings (`run_calls`). ``split``: only our own questions of that split. ``speed``: only how
    long the filings take to read through the CLI and the app, and to answer
    (`r1mm.bench.reading`). ``parse``: only the question parse (seconds). ``tables``: only the
    statement tables read by R1-MM's reader and by a maintained library (`r1mm.bench.table_readers`)."""
    from r1mm.bench.question_parse import run_parse

    if tables:
        from r1mm.bench.table_readers import run_tables

        return run_tables()
    if speed:
        from r1mm.bench.reading import run_speed

        return run_speed()
    if parse:
        return run_parse()
    command = "python -m r1mm bench filings" + (" --line-items" if line_items else "")
    if split:  # one split of our own questions alone (minutes through the workspace, not an hour)
        return {"command": f"{command} --split {split}", "own_questions": run_own(split, line_items, formats)}
    report = {"command": command, "question_parse": run_parse(), "printed_labels": run_labels()}
    report["shared_bench"] = run_shared(formats, line_items=line_items)
    report["own_questions"] = run_own(split, line_items=line_items, formats=formats)
    report["call_claims"] = run_calls()
    return report


# companies whose rows fitted the learned labels' NEAR; the others are reported as held out
LABEL_DEV_COMPANIES = ("aapl", "crm", "googl", "hd")
NEAR_TRIED = (0.5, 0.6, 0.67, 0.75, 0.85, 1.0)


def run_labels() -> dict:
    """Which metric each line of the iXBRL filings' statements is, read from its printed label as a
    PDF's would be, against the metric its tagged concept is; each company's rows are read with
    labels learned from the other companies' filings only. 'forms' is the metrics' label forms
    alone; 'forms+learned' adds the learned labels (`r1mm.analysis.label_map`). wrong: a metric
    the concept is not (or none at all); missed: no metric where the concept is one."""
    from r1mm.analysis.label_map import LabelMap, concept_names, learn, rows_by_company
    from r1mm.analysis.metrics import BY_CONCEPT, metric_of, reads_in

    rows = rows_by_company(sorted((filings_dir() / "html").glob("*.htm*")))
    if not rows:
        return {"skipped": "no iXBRL filings"}
    none = LabelMap([])

    def tally(near: float, companies) -> dict:
        counts = {"forms": defaultdict(int), "forms+learned": defaultdict(int)}
        for filer in companies:
            learned = LabelMap(learn({c: r for c, r in rows.items() if c != filer}) + concept_names(), near=near)
            for row in rows[filer]:
                truth = BY_CONCEPT.get(row["concept"].split(":")[-1])
                truth = truth if truth is not None and reads_in(truth, row["statement"]) else None
                for name, labels in (("forms", none), ("forms+learned", learned)):
                    got = metric_of(row["label"], row["statement"], row["section"], learned=labels)
                    outcome = ("right" if got else "right_none") if got is truth else ("missed" if got is None else
                                                                                       "wrong")
                    counts[name][outcome] += 1
        return {name: dict(sorted(c.items())) for name, c in counts.items()}

    dev = [c for c in rows if c in LABEL_DEV_COMPANIES]
    held = [c for c in rows if c not in LABEL_DEV_COMPANIES]
    from r1mm.analysis.label_map import NEAR
    return {"companies": {"dev": dev, "heldout": held},
            "dev_by_near": {str(near): tally(near, dev)["forms+learned"] for near in NEAR_TRIED},
            "near": NEAR, "dev": tally(NEAR, dev), "heldout": tally(NEAR, held)}


def truth_from_tags(q: dict, facts, beside: dict | None = None) -> float | str | None:
    """A question's truth recomputed from its filing's tags: each of ``inputs`` (name -> [concept,
    period] or [concept, period, the filing beside it that holds the tag]) is the consolidated fact
    as a statement prints it, ``formula`` combines them in raw units (USD, USD a share) and the
    result is in the question's ``scale``; a yes/no question's formula is a comparison. ``facts``:
    the filing as the shared bench's ``ixfacts.load`` reads it; ``beside``: the others, by name."""
    if q["kind"] == "absent":
        return None
    values = {}
    for name, (concept, period, *where) in q["inputs"].items():
        held = beside[where[0]] if where else facts
        found = [f for f in held.facts if f.concept == concept and f.context.period == period and not f.context.dims]
        # as a statement prints it, else as a note's table does: not a rounded mention in the prose ("$2.1 billion")
        printed = {f.value for f in found if f.statement} or {f.value for f in found if f.label} or {f.value for f in found}
        if len(printed) != 1:
            raise ValueError(f"{q['question']!r}: {concept} for {period} has {len(printed)} values in {q['file']}")
        values[name] = float(printed.pop())
    result = eval(q["formula"], {"__builtins__": {}}, values)  # our own data file's arithmetic, no names but its inputs
    if q["kind"] == "yesno":
        return "yes" if result else "no"
    return round(result / q["scale"], 2 if q["scale"] == 1 else 3)


def _check_truths(questions: list[dict], root: Path) -> None:
    """Stop when a question's stored truth differs from its tags' (a typing slip in the data file)."""
    tagged = [q for q in questions if "inputs" in q and (root / q["file"]).exists()]
    if not tagged:
        return
    ixfacts = shared_module("ixfacts")
    loaded: dict[str, object] = {}
    for q in tagged:
        for name in [q["file"], *q.get("with", [])]:
            if name not in loaded:
                loaded[name] = ixfacts.load(root / name)
        recomputed = truth_from_tags(q, loaded[q["file"]], loaded)
        if recomputed != q["truth"]:
            raise ValueError(f"{q['question']!r}: truth {q['truth']} in the data file, {recomputed} from the tags")


def run_own(split: str | None = None, line_items: bool = False, formats: tuple[str, ...] = ("html", "pdf")) -> dict:
    """Our own questions (or one split's) on the filings that are present; every split reported.
    A question on an HTML filing is also asked of its PDF rendering when ``formats`` has "pdf"."""
    from tqdm import tqdm

    root = filings_dir()
    questions = json.loads(QUESTIONS.read_text(encoding="utf-8"))["questions"]
    if split:
        questions = [q for q in questions if q["split"] == split]
    _check_truths(questions, root)
    # a question's filing, with the filings read beside it (a 10-Q with the last 10-K), per form
    by_file: dict[tuple[str, tuple[str, ...], str], list[dict]] = defaultdict(list)
    for q in questions:
        beside = tuple(q.get("with", ()))
        by_file[(q["file"], beside, "as filed")].append(q)
        if q["file"].endswith((".htm", ".html")) and "pdf" in formats:
            by_file[(q["file"], beside, "pdf rendering")].append(q)
    results, reading, skipped = [], [], []
    with tempfile.TemporaryDirectory(prefix="r1mm-bench-filings-") as tmp:
        for (name, beside, form), asked in tqdm(sorted(by_file.items()), desc="own questions", unit="file"):
            paths = [root / n for n in (name, *beside)]
            if not all(p.exists() for p in paths):
                skipped.extend(str(p.relative_to(root)) for p in paths if not p.exists())
                continue
            if form == "pdf rendering":
                paths = [rendered_pdf(p) for p in paths]
            path, others = paths[0], tuple(paths[1:])
            workdir = Path(tmp) / form.replace(" ", "_")
            read, answers = _ask_line_items(path, asked, others) if line_items else \
                _ask_file(path, asked, workdir, others)
            reading.append(read)
            for q, text, seconds, evidence_pages, baseline_text in answers:
                results.append({**q, "form": form, "answer": text[:400], "result": score(q, text),
                                "baseline": score(q, baseline_text) if baseline_text else "refused",
                                "page_hit": q["page"] in evidence_pages if q.get("page") else None,
                                "answer_s": round(seconds, 3)})
    report: dict = {"filings": str(root), "skipped_missing": skipped}
    for part in sorted({r["split"] for r in results}):
        rows = [r for r in results if r["split"] == part]
        paged = [r for r in rows if r["page_hit"] is not None]
        report[part] = {
            "r1mm": _tally(rows, "result"), "baseline_retrieval_only": _tally(rows, "baseline"),
            "by_form": {form: _tally([r for r in rows if r["form"] == form], "result")
                        for form in sorted({r["form"] for r in rows})},
            "page_hit": round(sum(r["page_hit"] for r in paged) / len(paged), 3) if paged else None,
            "by_kind": {kind: _tally([r for r in rows if r["kind"] == kind], "result")
                        for kind in sorted({r["kind"] for r in rows})},
            "answer_s_median": sorted(r["answer_s"] for r in rows)[len(rows) // 2],
        }
    pages = sum(r["pages"] or 0 for r in reading)
    report["reading"] = {"files": reading, "pages": pages,
                         "s_per_page": round(sum(r["seconds"] for r in reading if r["pages"]) / pages, 3) if pages
                         else None}
    report["wrong"] = [{"file": r["file"], "form": r["form"], "question": r["question"], "truth": r["truth"],
                        "answer": r["answer"]} for r in results if r["result"] == "wrong"]
    report["refused"] = [{"file": r["file"], "form": r["form"], "question": r["question"], "truth": r["truth"],
                          "answer": r["answer"][:160]} for r in results if r["result"] == "refused"]
    return report


CALL_CLAIMS = Path(__file__).with_name("data") / "call_claims.json"


def run_calls(check=None, claims_of=None) -> dict:
    """Figures said on a call (``data/call_claims.json``: sentences about four real filings, with
    the verdict the check must give) held against the filing: right (the verdict, and for agrees /
    disagrees the filing's figure it was held against), refused (no verdict where one was due, or
    no claim read), wrong-shown (agrees / disagrees where that is not the truth, or held against
    another figure). ``check`` and ``claims_of`` default to `calls.cross_check` / `calls.claims_in`."""
    from r1mm.analysis import calls, finance
    from r1mm.ingest.document import load_document
    from r1mm.ingest.limits import Limits
    from r1mm.types import Finding, Locator

    check = check or calls.cross_check
    claims_of = claims_of or calls.claims_in
    truth = json.loads(CALL_CLAIMS.read_text(encoding="utf-8"))["claims"]
    rows, skipped = [], []
    for name in sorted({t["file"] for t in truth}):
        path = filings_dir() / name
        if not path.exists():
            skipped.append(name)
            continue
        item = load_document(path, path.name, path.suffix[1:], Limits(max_ocr_pages=0))
        findings = finance.analyze(item)
        for t in (t for t in truth if t["file"] == name):
            claims = claims_of(t["said"])
            checks = check(findings + [Finding("finance.claim", claims[0], claims[0]["unit"], t["said"],
                                               Locator("call.wav", start_s=0.0, end_s=5.0))]) if claims else []
            got = checks[0].value if checks else None
            rows.append({**t, "result": _score_call(t, got, claims[0] if claims else None),
                         "verdict_got": got["verdict"] if got else "no claim read",
                         "shown": checks[0].text[:300] if checks else ""})
    report: dict = {"claims": str(CALL_CLAIMS), "skipped_missing": skipped}
    for part in ("dev", "heldout"):
        part_rows = [r for r in rows if r["split"] == part]
        report[part] = {**_tally(part_rows, "result"),
                        "by_verdict": {v: _tally([r for r in part_rows if r["verdict"] == v], "result")
                                       for v in sorted({r["verdict"] for r in part_rows})}}
    report["not_right"] = [{"said": r["said"], "truth": r["verdict"], "value": r["value"], "result": r["result"],
                            "got": r["verdict_got"], "shown": r["shown"]} for r in rows if r["result"] != "right"]
    return report


def _score_call(truth: dict, got: dict | None, claim: dict | None) -> str:
    verdict = got["verdict"] if got else None
    if truth["verdict"] in ("agrees", "disagrees"):
        if verdict not in ("agrees", "disagrees"):
            return "refused"
        value = got.get("report_value")
        if value is None and got.get("difference") is not None and claim:  # a check that states no value
            value = claim["value"] * (SCALES.get(claim["unit"].split()[-1].rstrip("s"), 1e6) / 1e6
                                      if claim["unit"] not in ("%",) and not claim["unit"].endswith("share") else 1) \
                - got["difference"]
        close = value is not None and abs(value - truth["value"]) <= max(0.01 * abs(truth["value"]), 0.06)
        return "right" if verdict == truth["verdict"] and close else "wrong"
    wanted = {"not in filing": "not in report", "forward-looking": "forward-looking"}[truth["verdict"]]
    if verdict == wanted:
        return "right"
    return "wrong" if verdict in ("agrees", "disagrees") else "refused"
