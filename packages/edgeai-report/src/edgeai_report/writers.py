"""Writers of a :class:`~edgeai_report.document.Document`: self-contained HTML, Markdown and reStructuredText.

HTML embeds every PNG as a ``data:`` URI and carries its own CSS (no script, no external resource), so the
page opens from disk, by e-mail or from a CI artifact with nothing beside it. Markdown and RST reference the
image files; RST paths are written relative to the report or, with ``root_dir`` (a Sphinx source folder),
as ``/``-rooted paths that Sphinx resolves against that folder, as Kenning's reports do.
"""

from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path

from edgeai_report import document

CSS = """
:root { --fg: #1d2329; --muted: #5b6570; --line: #d8dee4; --bg: #ffffff; --head: #f3f5f7; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); background: var(--bg); }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 24px 0 8px; }
h4 { font-size: 14px; margin: 18px 0 6px; }
.subtitle { color: var(--muted); margin: 0 0 18px; }
nav.toc { background: var(--head); border: 1px solid var(--line); border-radius: 6px; padding: 8px 16px;
          margin: 12px 0 20px; }
nav.toc ul { margin: 4px 0; padding-left: 18px; }
nav.toc a { color: #0b5cad; text-decoration: none; }
table { border-collapse: collapse; margin: 8px 0 6px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: var(--head); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { caption-side: top; text-align: left; color: var(--muted); font-size: 12px; padding: 2px 0; }
.scroll { overflow-x: auto; }
figure { margin: 10px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 12px; }
figure.drawing > svg { max-width: 100%; height: auto; display: block; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12px;
       background: var(--head); padding: 1px 4px; border-radius: 3px; }
pre { background: var(--head); border: 1px solid var(--line); border-radius: 6px; padding: 10px;
      overflow-x: auto; font-size: 12px; }
.callout { border-left: 5px solid; border-radius: 4px; padding: 8px 12px; margin: 10px 0; }
.callout.error { border-color: #c62828; background: #fdecea; }
.callout.warning { border-color: #ef8f00; background: #fff4e0; }
.callout.info { border-color: #1f77b4; background: #eaf2fb; }
.callout strong.title { display: block; }
details.section > summary { cursor: pointer; list-style-position: outside; margin-left: 18px; }
details.section > summary > h2, details.section > summary > h3, details.section > summary > h4 {
  display: inline-block; width: calc(100% - 4px); }
details.section > summary::marker { color: var(--muted); }
@media print { details.section > summary { list-style: none; margin-left: 0; } }
"""


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


# -- HTML -------------------------------------------------------------------------------------------------


def _html_inline(inline: document.Inline) -> str:
    out = []
    for style, value in inline:
        escaped = html.escape(value)
        out.append(
            f"<code>{escaped}</code>"
            if style == "code"
            else f"<strong>{escaped}</strong>"
            if style == "strong"
            else escaped
        )
    return "".join(out)


def write_html(doc: document.Document, path: Path, *, embed: bool = True) -> Path:
    """Write one HTML page; PNGs are embedded (``embed``) or linked relative to the page."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(doc.title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<h1>{html.escape(doc.title)}</h1>",
        f'<p class="subtitle">{html.escape(doc.subtitle)}</p>',
    ]
    toc = [b for b in doc.blocks if isinstance(b, document.Heading) and b.level == 2]
    if len(toc) > 2:
        items = "".join(f'<li><a href="#{b.anchor}">{html.escape(b.text)}</a></li>' for b in toc)
        parts.append(f'<nav class="toc"><strong>Contents</strong><ul>{items}</ul></nav>')
    parts += _html_sections(doc.blocks, path.parent, embed)
    parts += ["</main>", "</body>", "</html>", ""]
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _html_sections(blocks: list[document.Block], where: Path, embed: bool) -> list[str]:
    """The blocks, each level-2 section and each heading marked collapsible folded into a <details> element
    (open, or closed for ``collapsible="closed"``) that ends before the next heading of its level or above."""
    parts: list[str] = []
    stack: list[int] = []  # levels of the open <details> elements
    for block in blocks:
        if isinstance(block, document.Heading):
            while stack and stack[-1] >= block.level:
                stack.pop()
                parts.append("</details>")
            mode = block.collapsible or ("open" if block.level == 2 else "")
            if mode:
                level = min(max(block.level, 2), 4)
                state = " open" if mode == "open" else ""
                parts.append(
                    f'<details class="section" id="{html.escape(block.anchor)}"{state}><summary>'
                    f"<h{level}>{html.escape(block.text)}</h{level}></summary>"
                )
                stack.append(block.level)
                continue
        parts.append(_html_block(block, where, embed))
    parts += ["</details>"] * len(stack)
    return parts


def _html_block(block: object, where: Path, embed: bool) -> str:
    if isinstance(block, document.Heading):
        level = min(max(block.level, 2), 4)
        return f'<h{level} id="{html.escape(block.anchor)}">{html.escape(block.text)}</h{level}>'
    if isinstance(block, document.Paragraph):
        return f"<p>{_html_inline(block.inline)}</p>"
    if isinstance(block, document.Callout):
        return (
            f'<div class="callout {block.level}" role="note"><strong class="title">{html.escape(block.title)}'
            f"</strong>{_html_inline(block.inline)}</div>"
        )
    if isinstance(block, document.Bullets):
        return "<ul>" + "".join(f"<li>{_html_inline(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, document.Code):
        return f'<pre><code class="language-{html.escape(block.language)}">{html.escape(block.text)}</code></pre>'
    if isinstance(block, document.Table):
        return _html_table(block)
    if isinstance(block, document.Image):
        plot = block.plot
        if embed:
            data = base64.b64encode(plot.png.read_bytes()).decode("ascii")
            src = f"data:image/png;base64,{data}"
        else:
            src = html.escape(_rel(plot.png, where))
        svg = html.escape(_rel(plot.svg, where))
        return (
            f'<figure id="fig-{html.escape(plot.key)}"><img src="{src}" width="{plot.width}" '
            f'height="{plot.height}" alt="{html.escape(plot.alt)}"><figcaption>{html.escape(plot.caption)} '
            f'<a href="{svg}">SVG</a></figcaption></figure>'
        )
    if isinstance(block, document.Drawing):
        link = f' <a href="{html.escape(_rel(block.path, where))}">SVG</a>' if block.path else ""
        return (
            f'<figure id="fig-{html.escape(block.key)}" class="drawing">{block.svg}'
            f"<figcaption>{html.escape(block.caption)}{link}</figcaption></figure>"
        )
    raise TypeError(f"unknown block {type(block).__name__}")


def _html_table(table: document.Table) -> str:
    numeric = table.numeric or [False] * len(table.header)

    def cls(i: int) -> str:
        return ' class="num"' if i < len(numeric) and numeric[i] else ""

    head = "".join(f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(table.header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{html.escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in table.rows
    )
    caption = f"<caption>{html.escape(table.caption)}</caption>" if table.caption else ""
    return (
        f'<div class="scroll"><table id="{html.escape(table.key)}">{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


# -- Markdown ---------------------------------------------------------------------------------------------


_LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def _md_escape(value: str) -> str:
    """Backslash-escape Markdown's punctuation; line breaks become spaces (a table row is one line)."""
    return re.sub(r"([\\`*_\[\]<>|])", r"\\\1", _LINE_BREAKS.sub(" ", value))


def _md_inline(inline: document.Inline) -> str:
    out = []
    for style, value in inline:
        if style == "code":
            fence = "``" if "`" in value else "`"
            out.append(f"{fence}{value}{fence}" if fence == "`" else f"{fence} {value} {fence}")
        elif style == "strong":
            out.append(f"**{_md_escape(value)}**")
        else:
            out.append(_md_escape(value))
    return "".join(out)


def write_markdown(doc: document.Document, path: Path) -> Path:
    lines = [f"# {_md_escape(doc.title)}", "", f"*{_md_escape(doc.subtitle)}*", ""]
    for block in doc.blocks:
        lines += _md_block(block, path.parent)
        lines.append("")
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path


def _md_block(block: object, where: Path) -> list[str]:
    if isinstance(block, document.Heading):
        return [f"{'#' * min(max(block.level, 2), 4)} {_md_escape(block.text)}"]
    if isinstance(block, document.Paragraph):
        return [_md_inline(block.inline)]
    if isinstance(block, document.Callout):
        return [f"> **{_md_escape(block.title)}** {_md_inline(block.inline)}"]
    if isinstance(block, document.Bullets):
        return [f"- {_md_inline(item)}" for item in block.items]
    if isinstance(block, document.Code):
        fence = "````" if "```" in block.text else "```"
        return [f"{fence}{block.language}", block.text, fence]
    if isinstance(block, document.Table):
        numeric = block.numeric or [False] * len(block.header)
        rule = ["---:" if i < len(numeric) and numeric[i] else "---" for i in range(len(block.header))]
        out = [f"<!-- table: {block.key} -->"]
        if block.caption:
            out += [f"*{_md_escape(block.caption)}*", ""]
        out.append("| " + " | ".join(_md_escape(h) for h in block.header) + " |")
        out.append("| " + " | ".join(rule) + " |")
        out += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in block.rows]
        return out
    if isinstance(block, document.Image):
        plot = block.plot
        return [
            f"![{_md_escape(plot.alt)}]({_rel(plot.png, where)})",
            "",
            f"*{_md_escape(plot.caption)}* ([SVG]({_rel(plot.svg, where)}))",
        ]
    if isinstance(block, document.Drawing):
        shown = [f"![{_md_escape(block.alt)}]({_rel(block.path, where)})", ""] if block.path else []
        return [*shown, f"*{_md_escape(block.caption)}*"]
    raise TypeError(f"unknown block {type(block).__name__}")


# -- reStructuredText -------------------------------------------------------------------------------------

_RST_UNDERLINE = {1: "=", 2: "=", 3: "-", 4: "~"}
_RST_LIST_START = re.compile(r"^([-*+]|\d+[.)]|#\.)(\s|$)")


def _rst_escape(value: str) -> str:
    escaped = re.sub(r"([\\`*_|])", r"\\\1", value)
    return escaped.replace("\n", " ")


def _rst_inline(inline: document.Inline) -> str:
    out = []
    for style, value in inline:
        if not value:
            continue
        if style == "code":
            out.append(f"``{value.replace('``', '` `')}``")
        elif style == "strong":
            out.append(f"**{_rst_escape(value).strip()}**")
        else:
            out.append(_rst_escape(value))
    # inline markup must be separated from surrounding words: add "\ " (an empty separator) where needed
    joined = ""
    for piece in out:
        if (joined and (piece.startswith(("``", "**")) and not joined[-1].isspace())) or (
            joined and joined.endswith(("``", "**")) and piece[:1].isalnum()
        ):
            joined += "\\ "
        joined += piece
    return joined


def write_rst(doc: document.Document, path: Path, *, root_dir: Path | None = None) -> Path:
    title = _rst_escape(doc.title)
    bar = "=" * max(len(title), 3)
    lines = [bar, title, bar, "", f"*{_rst_escape(doc.subtitle)}*", ""]
    for block in doc.blocks:
        lines += _rst_block(block, path.parent, root_dir)
        lines.append("")
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return path


def _rst_path(target: Path, where: Path, root_dir: Path | None) -> str:
    if root_dir is not None:
        return "/" + _rel(target.resolve(), root_dir.resolve())
    return _rel(target, where)


def _indent(text: str, prefix: str = "   ") -> list[str]:
    return [prefix + line if line else "" for line in text.splitlines()]


def _rst_block(block: object, where: Path, root_dir: Path | None) -> list[str]:
    if isinstance(block, document.Heading):
        title = _rst_escape(block.text)
        return [title, _RST_UNDERLINE[min(max(block.level, 2), 4)] * max(len(title), 3)]
    if isinstance(block, document.Paragraph):
        return [_rst_inline(block.inline)]
    if isinstance(block, document.Callout):
        directive = {"error": "error", "warning": "warning", "info": "note"}[block.level]
        return [
            f".. {directive}::",
            "",
            f"   **{_rst_escape(block.title).strip()}** {_rst_inline(block.inline)}",
        ]
    if isinstance(block, document.Bullets):
        return [f"* {_rst_inline(item)}" for item in block.items]
    if isinstance(block, document.Code):
        return ["::", "", *_indent(block.text)]
    if isinstance(block, document.Table):
        out = [f".. list-table:: {_rst_escape(block.caption)}".rstrip(), "   :header-rows: 1", ""]
        for row in [block.header, *block.rows]:
            for i, cell in enumerate(row):
                value = _rst_escape(cell) if cell.strip() else "\\"
                if _RST_LIST_START.match(value):  # "-" or "1." alone would start a nested list
                    value = "\\" + value
                out.append(f"   {'* -' if i == 0 else '  -'} {value}")
        return out
    if isinstance(block, document.Image):
        plot = block.plot
        return [
            f".. figure:: {_rst_path(plot.png, where, root_dir)}",
            f"   :alt: {_rst_escape(plot.alt)}",
            f"   :width: {plot.width}px",
            "",
            f"   {_rst_escape(plot.caption)}",
        ]
    if isinstance(block, document.Drawing):
        if block.path is None:
            return [f"*{_rst_escape(block.caption)}*"]
        return [
            f".. figure:: {_rst_path(block.path, where, root_dir)}",
            f"   :alt: {_rst_escape(block.alt)}",
            "",
            f"   {_rst_escape(block.caption)}",
        ]
    raise TypeError(f"unknown block {type(block).__name__}")
