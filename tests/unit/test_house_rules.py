"""The house's size rules, so that they stay true: no module in appliance/ over 500 lines, no
class over 200, and no comment or docstring that names a ticket instead of saying why."""

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "appliance"
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 200
TICKET = re.compile(r"\bissues? #?\d+\b|\(#\d+\)", re.IGNORECASE)


def modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_over_500_lines():
    big = {str(p.relative_to(PACKAGE)): n for p in modules() if (n := p.read_text().count("\n")) > MAX_MODULE_LINES}
    assert big == {}


def test_no_class_over_200_lines():
    big = {}
    for p in modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ClassDef) and (n := node.end_lineno - node.lineno + 1) > MAX_CLASS_LINES:
                big[f"{p.relative_to(PACKAGE)}:{node.name}"] = n
    assert big == {}


def test_no_comment_names_a_ticket():
    hits = [
        f"{p.relative_to(PACKAGE)}:{i}: {line.strip()}"
        for p in modules()
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if TICKET.search(line)
    ]
    assert hits == []
