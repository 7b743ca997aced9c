"""Export a workspace's analysis as Markdown and PDF: every finding with where it came from."""
from __future__ import annotations

import time

from r1mm.workspace import Workspace

# fpdf2's built-in fonts are Latin-1: spell out the few symbols the findings use
_LATIN1 = str.maketrans({"×": "x", "–": "-", "—": "-", "³": "^3", "²": "^2", "“": '"', "”": '"', "’": "'",
                         "…": "...", "−": "-", "↳": "->"})


def analysis_markdown(ws: Workspace, title: str = "R1-MM analysis") -> str:
    lines = [f"# {title}", "", f"Generated {time.strftime('%Y-%m-%d %H:%M')} by R1-MM.", ""]
    for rec in ws.files():
        lines.append(f"## {rec.name}")
        if not rec.ok:
            lines += [f"Not analysed: {rec.error}", ""]
            continue
        for item in ws.items(file_id=rec.id):
            for f in ws.findings(item.id):
                lines.append(f"- {f.text} *({f.locator.describe()})*")
        lines.append("")
    history = ws.history()
    if history:
        lines += ["## Questions and answers", ""]
        for ex in history:
            lines += [f"**Q:** {ex.question}", "", f"**A:** {ex.answer.text}", ""]
            lines += [f"- [{e.id}] {e.locator.describe()}" for e in ex.answer.evidence]
            lines.append("")
    return "\n".join(lines)


def markdown_to_pdf(markdown: str) -> bytes:
    """A plain, readable PDF of the Markdown above (headings, bullets, bold)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    for raw in markdown.translate(_LATIN1).splitlines():
        line = raw.encode("latin-1", "replace").decode("latin-1")
        if line.startswith("# "):
            pdf.set_font("Helvetica", "B", 16)
            pdf.multi_cell(0, 9, line[2:], new_x="LMARGIN", new_y="NEXT")
        elif line.startswith("## "):
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 13)
            pdf.multi_cell(0, 8, line[3:], new_x="LMARGIN", new_y="NEXT")
        elif line.strip():
            pdf.set_font("Helvetica", size=10)
            text = ("  - " + line[2:]) if line.startswith("- ") else line
            pdf.multi_cell(0, 5.5, text, markdown=True, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.ln(2)
    return bytes(pdf.output())
