"""A report as a list of blocks (headings, text, lists, tables, figures), rendered as HTML or Markdown."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass

__all__ = ["Heading", "Paragraph", "BulletList", "Table", "FigureBlock", "Block", "to_html", "to_markdown"]


@dataclass(frozen=True)
class Heading:
    """A section title; ``level`` 1 is the page title."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Plain text (no markup; it is escaped in HTML)."""

    text: str


@dataclass(frozen=True)
class BulletList:
    """Items of plain text."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table of plain-text cells; rows shorter than the header are padded with empty cells."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class FigureBlock:
    """A PNG figure: linked by ``relative_path`` in Markdown, embedded as a data URI in HTML."""

    number: int
    title: str
    caption: str
    relative_path: str
    png: bytes


Block = Heading | Paragraph | BulletList | Table | FigureBlock

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1.2em; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #1f77b4; padding-bottom: .2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
figure { margin: 1.2em 0 2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .92em; color: #333; max-width: 60em; margin-top: .4em; }
table { border-collapse: collapse; margin: .8em 0 1.4em 0; font-size: .88em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f6fa; }
tr:nth-child(even) td { background: #fafafa; }
code { background: #f3f3f3; padding: 0 .25em; }
"""


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def to_html(blocks: list[Block], title: str) -> str:
    """One self-contained HTML page: inline CSS, figures as ``data:image/png;base64,`` URIs, no links out."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
    ]
    for block in blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 1), 6)
            parts.append(f"<h{level}>{_escape(block.text)}</h{level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{_escape(block.text)}</p>")
        elif isinstance(block, BulletList):
            parts.append("<ul>" + "".join(f"<li>{_escape(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            width = len(block.header)
            head = "".join(f"<th>{_escape(cell)}</th>" for cell in block.header)
            body = "".join(
                "<tr>" + "".join(f"<td>{_escape(cell)}</td>" for cell in _pad(row, width)) + "</tr>"
                for row in block.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, FigureBlock):
            data = base64.b64encode(block.png).decode("ascii")
            parts.append(
                f'<figure id="{_escape(block.relative_path)}">'
                f'<img alt="{_escape(block.title)}" src="data:image/png;base64,{data}">'
                f"<figcaption><strong>Figure {block.number}. {_escape(block.title)}.</strong> "
                f"{_escape(block.caption)}</figcaption></figure>"
            )
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _pad(row: tuple[str, ...], width: int) -> tuple[str, ...]:
    return tuple(row) + ("",) * (width - len(row))


def to_markdown(blocks: list[Block]) -> str:
    """Markdown with figures linked by their relative paths (``figures/<name>.png``)."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * min(max(block.level, 1), 6) + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, BulletList):
            lines += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, Table):
            width = len(block.header)
            lines.append("| " + " | ".join(_md_cell(c) for c in block.header) + " |")
            lines.append("|" + "---|" * width)
            lines += ["| " + " | ".join(_md_cell(c) for c in _pad(row, width)) + " |" for row in block.rows]
            lines.append("")
        elif isinstance(block, FigureBlock):
            lines += [
                f"![Figure {block.number}: {block.title}]({block.relative_path})",
                "",
                f"*Figure {block.number}. {block.title}.* {block.caption}",
                "",
            ]
    return "\n".join(lines)
