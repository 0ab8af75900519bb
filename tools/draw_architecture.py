#!/usr/bin/env python
"""The package graph of espnet_codec_lm, read from its imports: checked and drawn.

Every ``from espnet_codec_lm.<pkg>... import`` of every module (function-level imports
included) is an edge ``<its package> -> <pkg>``. The graph must be acyclic, and each package
sits on the layer below the lowest package that imports it (bin at the top). ``--check`` exits
1 naming the modules of any cycle; otherwise the PNG (doc/architecture.png) shows the layers,
one arrow per edge that no longer path implies (line width: its number of import statements);
every edge is printed.

    python tools/draw_architecture.py                 # check, then draw doc/architecture.png
    python tools/draw_architecture.py --check         # check only (the test suite does this)
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "espnet_codec_lm"


def package_of(path: Path) -> str:
    """``espnet_codec_lm/decode/x.py`` -> ``decode``; a top-level module is its own package."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def import_edges(root: Path = PACKAGE) -> dict[tuple[str, str], list[str]]:
    """``{(from package, to package): [importing files]}`` over every module under ``root``."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for f in sorted(root.rglob("*.py")):
        src = package_of(f)
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"), str(f))):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            parts = node.module.split(".")
            if parts[0] != "espnet_codec_lm" or len(parts) < 2:
                continue
            if parts[1] != src:
                edges[(src, parts[1])].append(str(f.relative_to(REPO)))
    return dict(edges)


def find_cycle(edges) -> list[str] | None:
    """A cycle of packages (``[a, b, ..., a]``), or None when the graph is acyclic."""
    succ = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(n: str, stack: list[str]) -> list[str] | None:
        state[n] = 1
        for m in sorted(succ[n]):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [n, m] if m in stack else [n, m]
            if m not in state:
                found = visit(m, stack + [n])
                if found:
                    return found
        state[n] = 2
        return None

    for n in sorted(succ):
        if n not in state:
            found = visit(n, [])
            if found:
                return found
    return None


def layers(edges) -> dict[str, int]:
    """Layer of each package: 0 for a package nothing imports, else one below the lowest
    importer (the longest import path from the top)."""
    nodes = {n for e in edges for n in e}
    depth = dict.fromkeys(nodes, 0)
    for _ in nodes:  # relax |V| times: enough on an acyclic graph
        for a, b in edges:
            depth[b] = max(depth[b], depth[a] + 1)
    return depth


def reduction(edges) -> dict[tuple[str, str], list[str]]:
    """The edges no longer path implies (the transitive reduction of the acyclic graph): what
    the picture shows, so that the layers stay readable."""
    succ = defaultdict(set)
    for a, b in edges:
        succ[a].add(b)

    def reaches(a: str, b: str, skip: tuple[str, str]) -> bool:
        todo, seen = [a], set()
        while todo:
            n = todo.pop()
            for m in succ[n]:
                if (n, m) == skip or m in seen:
                    continue
                if m == b:
                    return True
                seen.add(m)
                todo.append(m)
        return False

    return {e: f for e, f in edges.items() if not reaches(e[0], e[1], skip=e)}


def draw(edges, out: Path) -> Path:
    """The layered graph as a PNG: one row per layer, arrows from importer to imported."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depth = layers(edges)
    rows: dict[int, list[str]] = defaultdict(list)
    for n, d in sorted(depth.items()):
        rows[d].append(n)
    pos = {}
    for d, names in rows.items():
        for i, n in enumerate(names):
            # a layer of one package alternates sides a little: straight chains stay visible
            x = (i + 1) / (len(names) + 1) + (0.06 * (-1) ** d if len(names) == 1 else 0)
            pos[n] = (x, -d)
    fig, ax = plt.subplots(figsize=(10, 1.1 * (len(rows) + 1)))
    for (a, b), files in reduction(edges).items():
        (xa, ya), (xb, yb) = pos[a], pos[b]
        skip = ya - yb - 1  # layers an arrow passes: bent, so it goes around their boxes
        ax.annotate(
            "",
            xy=(xb, yb + 0.18),
            xytext=(xa, ya - 0.18),
            zorder=1,
            arrowprops={
                "arrowstyle": "->",
                "color": "0.55",
                "lw": 0.6 + 0.15 * len(files),
                "connectionstyle": f"arc3,rad={0.25 if skip else 0}",
            },
        )
    for n, (x, y) in pos.items():
        ax.text(x, y, n, ha="center", va="center", fontsize=10, zorder=2,
                bbox={"boxstyle": "round", "fc": "#e8f0fe", "ec": "#3b6fb6"})  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(-max(rows) - 0.6, 0.6)
    ax.axis("off")
    n_all, n_shown = len(edges), len(reduction(edges))
    ax.set_title(
        f"espnet_codec_lm: packages by layer; arrow = imports ({n_shown} of the {n_all} package "
        "edges: those no longer path implies)",
        fontsize=10,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--check", action="store_true", help="check only, draw nothing")
    p.add_argument("--out", type=Path, default=REPO / "doc" / "architecture.png")
    args = p.parse_args(argv)
    edges = import_edges()
    cycle = find_cycle(edges)
    if cycle:
        pairs = zip(cycle, cycle[1:])
        where = "; ".join(f"{a} -> {b} ({', '.join(edges[(a, b)][:3])})" for a, b in pairs)
        print(f"import cycle between packages: {where}", file=sys.stderr)
        return 1
    depth = layers(edges)
    for d in sorted(set(depth.values())):
        print(f"layer {d}: {', '.join(sorted(n for n in depth if depth[n] == d))}")
    for (a, b), files in sorted(edges.items()):
        print(f"  {a} -> {b} ({len(files)} imports)")
    if not args.check:
        print(f"wrote {draw(edges, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
