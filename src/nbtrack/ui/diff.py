"""Source code as syntax-highlighted HTML, and a unified diff between two versions.

Both sides are highlighted as whole Python files with pygments (so multi-line
strings colour correctly), split into lines, and the lines of each hunk are
laid on a green (added) or red (removed) background. Styles are inline.
"""

from __future__ import annotations

import difflib

from .html import esc

ADDED_BG = "#e6ffec"
REMOVED_BG = "#ffebe9"
HUNK_BG = "#ddf4ff"
PRE = ("margin:0;padding:4px 0;font-family:var(--jp-code-font-family, monospace);font-size:12px;"
       "line-height:1.4;overflow-x:auto;background:#fafbfc;border:1px solid #ddd")
LINE = "white-space:pre;padding:0 8px"


def highlight_lines(source: str) -> list[str]:
    """``source`` highlighted as Python, one HTML snippet per line."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    if not source:
        return []
    # nowrap: only the <span>s; the formatter closes and reopens spans at line ends.
    out = highlight(source, PythonLexer(stripnl=False, ensurenl=True), HtmlFormatter(noclasses=True, nowrap=True))
    lines = out.split("\n")
    n = len(source.splitlines())
    return (lines + [""] * n)[:n]


def source_html(source: str) -> str:
    """A whole source, highlighted, with line numbers."""
    rows = [f'<div style="{LINE}"><span style="color:#8c959f;user-select:none">{i:>4}  </span>{h}</div>'
            for i, h in enumerate(highlight_lines(source), 1)]
    return f'<div class="nbtrack-source" style="{PRE}">{"".join(rows)}</div>'


def unified_text(old: str, new: str, old_label: str = "a", new_label: str = "b", context: int = 3) -> str:
    """The plain unified diff (what ``diff -u`` prints)."""
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), old_label, new_label, n=context))


def diff_html(old: str, new: str, old_label: str = "a", new_label: str = "b", context: int = 3) -> str:
    """A unified diff of two sources, syntax highlighted, as HTML.

    Parameters
    ----------
    old, new : str
        The two versions of the source.
    old_label, new_label : str
        Shown in the ``---``/``+++`` header lines.
    context : int
        Unchanged lines shown around each change.

    Returns
    -------
    str
        HTML; a short note when the two versions are identical.
    """
    a, b = old.splitlines(), new.splitlines()
    if a == b:
        return '<div class="nbtrack-diff" style="color:#57606a;font-size:12px">the two versions are identical</div>'
    ha, hb = highlight_lines(old), highlight_lines(new)
    out = [_line("---", esc(old_label), REMOVED_BG, bold=True), _line("+++", esc(new_label), ADDED_BG, bold=True)]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        out.append(_line("@@", esc(f"-{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1}") + " @@", HUNK_BG))
        for tag, x1, x2, y1, y2 in group:
            if tag == "equal":
                out += [_line(" ", ha[i]) for i in range(x1, x2)]
                continue
            out += [_line("-", ha[i], REMOVED_BG) for i in range(x1, x2)]
            out += [_line("+", hb[j], ADDED_BG) for j in range(y1, y2)]
    return f'<div class="nbtrack-diff" style="{PRE}">{"".join(out)}</div>'


def _line(prefix: str, body_html: str, bg: str = "", bold: bool = False) -> str:
    kind = {"-": "del", "+": "add", " ": "ctx", "@@": "hunk"}.get(prefix, "file")
    weight = "font-weight:600;" if bold else ""
    return (f'<div class="nbtrack-{kind}" style="{LINE};{weight}background:{bg or "transparent"}">'
            f'<span style="color:#57606a;user-select:none">{esc(prefix)} </span>{body_html}</div>')
