"""Export a workspace's analysis as Markdown and PDF: every finding with where it came from."""
from __future__ import annotations

import time
from pathlib import Path

from r1mm.workspace import Workspace

# Unicode fonts for the PDF: DejaVu Sans (shipped with matplotlib), with Debian's WenQuanYi Micro Hei
# (fonts-wqy-microhei, installed by `make`) for Chinese, Japanese and Korean text
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


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
    """A plain, readable PDF of the Markdown above (headings, bullets, bold), in Unicode fonts: a
    finding's "×" and "mm³", a name in Chinese, print as written."""
    import matplotlib
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf.add_font("DejaVu", "", fonts / "DejaVuSans.ttf")
    pdf.add_font("DejaVu", "B", fonts / "DejaVuSans-Bold.ttf")
    pdf.add_font("DejaVu", "I", fonts / "DejaVuSans-Oblique.ttf")
    if CJK_FONT.exists():
        pdf.add_font("WenQuanYi", "", CJK_FONT)
        pdf.set_fallback_fonts(["WenQuanYi"], exact_match=False)
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    for line in markdown.splitlines():
        if line.startswith("# "):
            pdf.set_font("DejaVu", "B", 16)
            pdf.multi_cell(0, 9, line[2:], new_x="LMARGIN", new_y="NEXT")
        elif line.startswith("## "):
            pdf.ln(2)
            pdf.set_font("DejaVu", "B", 13)
            pdf.multi_cell(0, 8, line[3:], new_x="LMARGIN", new_y="NEXT")
        elif line.strip():
            pdf.set_font("DejaVu", size=10)
            text = ("  - " + line[2:]) if line.startswith("- ") else line
            pdf.multi_cell(0, 5.5, text, markdown=True, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.ln(2)
    return bytes(pdf.output())
