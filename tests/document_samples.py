"""Real document files written at test time by the libraries that make them: a text PDF (fpdf2),
a scanned (image-only) PDF, an encrypted PDF (pypdf), an HTML page with navigation and footer,
a DOCX with a table (python-docx), a broken DOCX and a Markdown file."""

from __future__ import annotations

import io
from pathlib import Path

PDF_PAGES = [
    "Glacier retreat in the Alps accelerated after 1980 as summer temperatures rose.",
    "Meltwater from retreating glaciers feeds rivers that irrigate valley farms in late summer.",
]
ARTICLE = [
    "Honeybee colonies collapse when varroa mites spread viruses through the brood.",
    "Beekeepers who treat hives with oxalic acid in winter lose fewer colonies by spring.",
    "A survey of four hundred apiaries found that treated hives produced more honey the next year.",
]
NAVIGATION = ["Home", "Shop", "Newsletter signup", "Member login"]
FOOTER = "Copyright 2026 Example Garden Press. Privacy policy. Cookie settings."
DOCX_PARAGRAPHS = ["Solar panels lose efficiency as their cells heat up on bright days.",
                   "Cleaning dust from the panels restores a few percent of their output."]
DOCX_TABLE = [["panel", "output"], ["monocrystalline", "high"]]
MARKDOWN = "# Sourdough\n\nA sourdough starter ferments flour with wild yeast and lactic bacteria.\n"
GOOD_FILES = {"notes.md": 1, "page.html": 1, "report.docx": 1, "report.pdf": 2}
BAD_FILES = {"broken.docx": "unreadable", "locked.pdf": "encrypted", "scan.pdf": "no-text-layer"}


def text_pdf(pages: list[str]) -> bytes:
    """A PDF with one page of real text (a text layer) per entry of `pages`."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def image_pdf() -> bytes:
    """A 'scanned' PDF: one page holding only a picture (of text-like stripes), no text layer."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (400, 200), "white")
    draw = ImageDraw.Draw(picture)
    for row in range(10, 190, 20):
        draw.rectangle((20, row, 380, row + 8), fill="black")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(io.BytesIO(buffer.getvalue()), x=10, y=10, w=180)
    return bytes(pdf.output())


def encrypted_pdf(pages: list[str], password: str = "secret") -> bytes:
    """A text PDF encrypted with a user password (AES-256)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(pages))))
    writer.encrypt(user_password=password, algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def html_page() -> str:
    """A web page: navigation bar, an article of three paragraphs, a sidebar and a footer."""
    links = "".join(f'<li><a href="/{i}">{name}</a></li>' for i, name in enumerate(NAVIGATION))
    paragraphs = "".join(f"<p>{text}</p>" for text in ARTICLE)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Saving honeybees</title></head>
<body>
<header><nav><ul>{links}</ul></nav></header>
<main><article><h1>Saving honeybees from mites</h1>{paragraphs}</article></main>
<aside><h3>Popular</h3><ul><li><a href="/p">Ten houseplants for dark rooms</a></li></ul></aside>
<footer><p>{FOOTER}</p></footer>
</body></html>
"""


def docx_file() -> bytes:
    """A DOCX with two paragraphs and a 2 x 2 table."""
    import docx

    document = docx.Document()
    for text in DOCX_PARAGRAPHS:
        document.add_paragraph(text)
    table = document.add_table(rows=len(DOCX_TABLE), cols=len(DOCX_TABLE[0]))
    for row, values in zip(table.rows, DOCX_TABLE):
        for cell, value in zip(row.cells, values):
            cell.text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def write_sample_folder(folder: Path) -> Path:
    """The seven files of the acceptance test in `folder` (made if needed); returns `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.pdf").write_bytes(text_pdf(PDF_PAGES))
    (folder / "scan.pdf").write_bytes(image_pdf())
    (folder / "locked.pdf").write_bytes(encrypted_pdf(PDF_PAGES))
    (folder / "page.html").write_text(html_page(), encoding="utf-8")
    good = docx_file()
    (folder / "report.docx").write_bytes(good)
    (folder / "broken.docx").write_bytes(good[: len(good) // 2])  # a truncated download
    (folder / "notes.md").write_text(MARKDOWN, encoding="utf-8")
    return folder
