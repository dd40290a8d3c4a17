"""A small document model rendered twice: Markdown (report.md) and one self-contained HTML file
(report.html, the PNGs embedded as data: URIs, a little CSS, no script, readable offline)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

VERDICT_COLOURS = {"pass": "#1a7f37", "warn": "#9a6700", "fail": "#cf222e"}
CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; max-width: 1250px; margin: 2em auto;
       padding: 0 1em; color: #1f2328; line-height: 1.45; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.v { font-weight: 600; text-transform: uppercase; white-space: nowrap; }
.badge { display: inline-block; color: #fff; padding: 2px 10px; border-radius: 4px; font-weight: 600; }
img { max-width: 100%; border: 1px solid #d0d7de; margin: .5em 0; }
p.note { color: #57606a; font-size: 14px; }
"""


@dataclass
class Doc:
    title: str
    blocks: list = field(default_factory=list)

    def h2(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def p(self, text: str, note: bool = False) -> None:
        self.blocks.append(("note" if note else "p", text))

    def items(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("ul", list(items)))

    def table(
        self, headers: list[str], rows: list[list], numeric: set[int] | None = None, verdict_col: int | None = None
    ) -> None:
        self.blocks.append(("table", headers, rows, numeric or set(), verdict_col))

    def image(self, filename: str | None, alt: str) -> None:
        if filename:
            self.blocks.append(("img", filename, alt))

    def verdict(self, word: str, text: str) -> None:
        self.blocks.append(("verdict", word, text))


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if v == 0 or 1e-3 <= abs(v) < 1e5:
            return f"{v:.6g}"
        if abs(v) >= 1e5 and abs(v) < 1e15:
            return f"{v:.0f}"
        return f"{v:.4g}"
    return str(v)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Doc) -> str:
    out = [f"# {doc.title}", ""]
    for b in doc.blocks:
        kind = b[0]
        if kind == "h2":
            out += [f"## {b[1]}", ""]
        elif kind in ("p", "note"):
            out += [b[1], ""]
        elif kind == "verdict":
            out += [f"**Verdict: {b[1].upper()}**: {b[2]}", ""]
        elif kind == "ul":
            out += [f"- {i}" for i in b[1]] + [""]
        elif kind == "table":
            _, headers, rows, _, vcol = b
            out.append("| " + " | ".join(headers) + " |")
            out.append("|" + "|".join("---" for _ in headers) + "|")
            for r in rows:
                cells = [_md_escape(_cell(c)) for c in r]
                if vcol is not None:
                    cells[vcol] = f"**{cells[vcol].upper()}**"
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
        elif kind == "img":
            out += [f"![{b[2]}]({b[1]})", ""]
    return "\n".join(out)


def _data_uri(path: Path) -> str | None:
    try:
        return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError:
        return None


def to_html(doc: Doc, image_dir: Path) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(doc.title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{e(doc.title)}</h1>",
    ]
    for b in doc.blocks:
        kind = b[0]
        if kind == "h2":
            out.append(f"<h2>{e(b[1])}</h2>")
        elif kind == "p":
            out.append(f"<p>{e(b[1])}</p>")
        elif kind == "note":
            out.append(f'<p class="note">{e(b[1])}</p>')
        elif kind == "verdict":
            colour = VERDICT_COLOURS.get(b[1], "#57606a")
            out.append(f'<p><span class="badge" style="background:{colour}">{e(b[1].upper())}</span> {e(b[2])}</p>')
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in b[1]) + "</ul>")
        elif kind == "table":
            _, headers, rows, numeric, vcol = b
            out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>")
            for r in rows:
                cells = []
                for i, c in enumerate(r):
                    text = e(_cell(c))
                    if i == vcol:
                        colour = VERDICT_COLOURS.get(str(c), "#57606a")
                        cells.append(f'<td class="v" style="color:{colour}">{text}</td>')
                    elif i in numeric:
                        cells.append(f'<td class="num">{text}</td>')
                    else:
                        cells.append(f"<td>{text}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</table>")
        elif kind == "img":
            uri = _data_uri(image_dir / b[1])
            if uri:
                out.append(f'<img src="{uri}" alt="{e(b[2])}">')
            else:
                out.append(f'<p class="note">({e(b[1])} could not be read)</p>')
    out.append("</body></html>")
    return "\n".join(out)
