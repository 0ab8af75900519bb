"""Two-column Kaldi tables: round trips, C-locale order, and every per-line defect."""

from __future__ import annotations

import pytest

from espnet_codec_lm.data.kaldi_io import DataDirError, parse_table, read_table, write_table


def test_round_trip_sorted_and_utf8(tmp_path):
    table = {"b-2": "二 two", "a-1": "Hello, world!", "B-0": "upper first in C order"}
    write_table(tmp_path / "text", table)
    lines = (tmp_path / "text").read_text(encoding="utf-8").splitlines()
    assert [ln.split()[0] for ln in lines] == ["B-0", "a-1", "b-2"]  # byte order, not locale
    assert read_table(tmp_path / "text") == table
    assert list(read_table(tmp_path / "text")) == ["B-0", "a-1", "b-2"]


def test_value_keeps_inner_spaces_and_punctuation(tmp_path):
    (tmp_path / "t").write_text("u1   Hi,  there.  \n\nu2 你好，世界。\n", encoding="utf-8")
    assert read_table(tmp_path / "t") == {"u1": "Hi,  there.", "u2": "你好，世界。"}


def test_write_rejects_bad_ids_and_newlines(tmp_path):
    with pytest.raises(DataDirError, match="invalid id"):
        write_table(tmp_path / "t", {"a b": "x"})
    with pytest.raises(DataDirError, match="newline"):
        write_table(tmp_path / "t", {"a": "x\ny"})
    assert not (tmp_path / "t").exists()  # atomic: nothing half-written


@pytest.mark.parametrize(
    "content, pattern",
    [
        (b"u1 a\nu1 b\n", r"t:2: utterance 'u1': duplicate id"),
        (b"u1 a\nu2\n", r"t:2: utterance 'u2': empty value"),
        (b"u1 a\nu2 caf\xe9\n", r"t:2: utterance 'u2': not valid UTF-8"),
    ],
)
def test_read_errors_name_file_line_and_id(tmp_path, content, pattern):
    (tmp_path / "t").write_bytes(content)
    with pytest.raises(DataDirError, match=pattern) as e:
        read_table(tmp_path / "t")
    assert "\n" not in str(e.value)


def test_parse_table_collects_every_problem(tmp_path):
    (tmp_path / "t").write_bytes(b"u3 c\nu1 a\nu1 again\nu2\nu4 \xff\xfe\n")
    table, problems = parse_table(tmp_path / "t", check_sorted=True)
    assert table == {"u3": "c", "u1": "a"}
    kinds = sorted((p.utt, p.message.split(" (")[0]) for p in problems)
    assert kinds == [
        ("u1", "duplicate id"),
        ("u1", "not sorted"),
        ("u2", "empty value"),
        ("u4", "not valid UTF-8"),
    ]


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(DataDirError, match="cannot read"):
        read_table(tmp_path / "nope")
