"""The toolkit's own modules are imported at the top of a file (doc/design.md, "Imports"); an
import of one inside a function says why on the line above its block (``# lazy: ...``)."""

from __future__ import annotations

import ast
from pathlib import Path

import espnet_codec_lm

PACKAGE = Path(espnet_codec_lm.__file__).resolve().parent


def _function_imports(tree: ast.AST):
    """Own-module imports inside functions (methods and nested functions included)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for stmt in ast.walk(node):
                if (
                    isinstance(stmt, ast.ImportFrom)
                    and not stmt.level
                    and (stmt.module or "").split(".")[0] == "espnet_codec_lm"
                ):
                    yield stmt


def _explained(lines: list[str], stmt: ast.ImportFrom, import_lines: set[int]) -> bool:
    """``# lazy:`` on the import's line, or on the line above the run of imports it is in."""
    if "# lazy:" in lines[stmt.lineno - 1]:
        return True
    above = stmt.lineno - 1
    while above in import_lines:
        above -= 1
    return above >= 1 and lines[above - 1].strip().startswith("# lazy:")


def test_own_modules_are_imported_at_the_top_or_say_why():
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        import_lines = {
            n
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for n in range(node.lineno, node.end_lineno + 1)
        }
        seen = set()
        for stmt in _function_imports(tree):
            if stmt.lineno in seen:
                continue  # a nested function's import is visited once per enclosing function
            seen.add(stmt.lineno)
            if not _explained(lines, stmt, import_lines):
                unexplained.append(f"{rel}:{stmt.lineno}: {lines[stmt.lineno - 1].strip()}")
    assert not unexplained, "import at the top, or say why (# lazy: ...):\n" + "\n".join(
        unexplained
    )
