"""Images: PNG, JPEG, TIFF, WebP, GIF and BMP. Read upright (EXIF orientation applied);
described by size and look, their text read (OCR, with each line's pixel box), and checked for
defects when the workspace has a line inspector;
shown with the matching pixel box outlined."""
from __future__ import annotations

from pathlib import Path

from r1mm.modalities import Analysis, ModalitySpec, kinds, loader, rule
from r1mm.modalities.storage import PNG
from r1mm.types import Finding, Modality


def sniff(head: bytes, path: Path) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM" and len(head) > 26:
        return "bmp"
    return None


def _chart_values(q: str, fs: list[Finding]) -> list[Finding]:
    """The chart values whose metric and period the question names (either alone when only one is
    named), else each chart's summary."""
    from r1mm.analysis.charts import period_key
    from r1mm.analysis.finance import canonical_metric

    values = [f for f in fs if f.kind == "chart.value"]
    if not values:
        return kinds("chart.summary", "chart.unreadable")(q, fs)
    asked_metric = canonical_metric(q)
    words = q.replace("?", " ").split()
    asked_periods = {period_key(" ".join(words[k:k + n])) for n in (1, 2) for k in range(len(words))}
    by_metric = [f for f in values if asked_metric and canonical_metric(f.value["metric"]) == asked_metric]
    pool = by_metric or values
    in_period = [f for f in pool if f.value["period"] and period_key(f.value["period"]) in asked_periods]
    if in_period:
        return in_period
    return by_metric or kinds("chart.summary")(q, fs)


SPEC = ModalitySpec(
    modality=Modality.IMAGE,
    name="image",
    formats={"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "webp": "WebP", "gif": "GIF", "bmp": "BMP"},
    sniff=sniff,
    load=loader("r1mm.ingest.image:load_image"),
    analyses=(Analysis("image", "r1mm.analysis.vision"),
              Analysis("text in images", "r1mm.analysis.image_text"),
              Analysis("production line", "r1mm.analysis.part_inspection", needs="inspector")),
    storage=PNG,
    view="r1mm.ui.evidence:show_image",
    tower="image",
    rules=(rule(9, r"\b(chart|graph|plot)s?\b.*\b(match|agree|consistent|contradict|differ|same|line up)"
                   r"|\b(match|agree|consistent|contradict|differ)\w*\b.*\b(chart|graph|plot)", kinds("chart.check")),
           rule(27, r"\b(chart|graph|plot)s?\b.*\b(say|show|read|value|was|is|were|are|for|in)\b"
                    r"|\b(according to|in|on|from|by) the (bar |line )?(chart|graph|plot)", _chart_values),
           rule(28, r"what (is|was) (written|printed)|what does (it|the|this) ?(label|sign|image|photo|picture|screen|"
                    r"plate|tag|sticker|note|page|card)? say|\btext (is )?(on|in) (the|this)|\bread (the|this) (label|sign|"
                    r"image|photo|picture|tag|plate|screen)", kinds("image.text_all")),
           rule(152, r"where is the (defect|flaw|damage|scratch)|(defect|flaw|damage)s?\b.*\b(where|how (large|big)|size|area)"
                     r"|(how (large|big)|size of) (is )?the (defect|flaw|damage|scratch)", kinds("inspection.region")),
           rule(153, r"defect|flaw|damage|scratch|crack|anomal|\bok\b|good part|pass(es|ed)? inspection|reject",
                kinds("inspection.verdict", "inspection.region")),
           rule(200, r"image size|resolution of the image|how many pixels", kinds("image.size"))),
    binary_suffixes={".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff",
                     ".webp": "webp", ".gif": "gif", ".bmp": "bmp"},
)
