"""Highlighted source and unified diffs."""

from __future__ import annotations

import re

from nbtrack.ui.diff import diff_html, highlight_lines, source_html, unified_text

OLD = "lr = 0.1\nepochs = 3\ns = '''a\nb'''\n"
NEW = "lr = 0.05\nepochs = 3\ns = '''a\nb'''\nprint(lr)\n"


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("&#x27;", "'").replace("&quot;", '"')


def test_highlight_keeps_one_snippet_per_line_even_inside_multiline_strings():
    lines = highlight_lines(OLD)
    assert len(lines) == 4
    assert [text_of(x) for x in lines] == OLD.splitlines()
    assert all(x.count("<span") == x.count("</span>") for x in lines)  # spans closed on each line
    assert "style=" in lines[0]  # inline colours, no stylesheet needed


def test_diff_marks_removed_and_added_lines_with_highlighting():
    html = diff_html(OLD, NEW, "v1", "v2")
    dels = re.findall(r'<div class="nbtrack-del"[^>]*>(.*?)</div>', html)
    adds = re.findall(r'<div class="nbtrack-add"[^>]*>(.*?)</div>', html)
    assert [text_of(d) for d in dels] == ["- lr = 0.1"]
    assert [text_of(a) for a in adds] == ["+ lr = 0.05", "+ print(lr)"]
    assert "#ffebe9" in html and "#e6ffec" in html  # red and green backgrounds
    assert 'style="color:' in adds[1]  # the code itself is coloured
    assert "--- " in text_of(html) and "v1" in html and "+++ " in text_of(html)
    assert text_of(re.search(r'<div class="nbtrack-hunk".*?</div>', html).group(0)) == "@@ -1,4 +1,5 @@"


def test_same_hunks_as_difflib():
    plain = unified_text(OLD, NEW, "v1", "v2")
    assert plain.splitlines()[2] == "@@ -1,4 +1,5 @@"
    minus = [x for x in plain.splitlines()[3:] if x.startswith("-")]
    plus = [x for x in plain.splitlines()[3:] if x.startswith("+")]
    html = diff_html(OLD, NEW, "v1", "v2")
    assert len(minus) == html.count('class="nbtrack-del"') and len(plus) == html.count('class="nbtrack-add"')


def test_identical_versions_say_so():
    assert "identical" in diff_html(OLD, OLD)


def test_html_is_escaped():
    html = diff_html("x = '<b>'\n", "x = '<i>'\n")
    assert "<b>" not in html and "&lt;b&gt;" in html


def test_source_html_numbers_lines():
    html = source_html(NEW)
    assert text_of(html).count("\n") == 0 and html.count("<div style=") == 5
    assert "   5  " in text_of(html)
