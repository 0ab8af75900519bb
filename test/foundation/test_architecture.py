"""The package graph read from the imports (tools/draw_architecture.py) has one direction, and
the checker finds a cycle when there is one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "draw_architecture.py"


def _tool():
    spec = importlib.util.spec_from_file_location("draw_architecture", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_package_graph_is_acyclic_and_layered_as_documented():
    arch = _tool()
    edges = arch.import_edges()
    assert arch.find_cycle(edges) is None, arch.find_cycle(edges)
    depth = arch.layers(edges)
    # doc/design.md, "Architecture": the entry points on top, utilities at the bottom, and the
    # decoding / training code above the model and data code it drives
    assert depth["bin"] == 0 and depth["utils"] == max(depth.values())
    assert depth["inference"] < depth["decode"] < depth["tasks"] < depth["lm"] < depth["data"]
    assert depth["train"] < depth["tasks"] and depth["codec"] < depth["data"]
    assert ("decode", "inference") not in edges and ("data", "tasks") not in edges
    # ustokenizer/ reads the text LLM's tokenizer through lm/ (one loader for every kind) and
    # reuses codec/'s quantiser and tokenize writer: it sits above both, below bin/ only
    assert depth["bin"] < depth["ustokenizer"] < depth["lm"] < depth["codec"]
    assert not any(b == "ustokenizer" and a != "bin" for a, b in edges)


def test_a_cycle_is_found_and_the_reduction_drops_implied_edges(tmp_path):
    arch = _tool()
    edges = {("a", "b"): ["x.py"], ("b", "c"): ["y.py"], ("a", "c"): ["z.py"]}
    assert arch.find_cycle(edges) is None
    assert set(arch.reduction(edges)) == {("a", "b"), ("b", "c")}  # a -> c is implied
    assert arch.layers(edges) == {"a": 0, "b": 1, "c": 2}
    assert arch.find_cycle({**edges, ("c", "a"): ["w.py"]}) in (
        ["a", "b", "c", "a"],
        ["a", "c", "a"],
    )
    png = arch.draw(edges, tmp_path / "g.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
