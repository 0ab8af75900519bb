"""The streaming CPT source (data.kind: shards): shards round-trip, batches like the in-memory
pipeline's, disjoint ranks, exact resume, one-line errors for missing / truncated shards."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from espnet_codec_lm.lm.vocab import IGNORE_ID
from espnet_codec_lm.tasks.dataset import TaskDataset
from espnet_codec_lm.tasks.shards import read_manifest, read_shard, write_shards
from espnet_codec_lm.tasks.streaming import StreamDataConfig, StreamingTaskSource


@pytest.fixture(scope="module")
def shard_dir(syn, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "train"
    root = syn.root
    write_shards(
        root / "train", root / "codes/train/codes.scp", out, root / "codes/train/codes_tgt.scp",
        num_shards=6,
    )  # fmt: skip
    return out


def stream_cfg(syn, shards, **kw) -> StreamDataConfig:
    base = syn.data_config(max_len=1024, batch_size=2)
    fields = {**base.__dict__, "speech_sets": [], "shards": [str(shards)], "shuffle_buffer": 20}
    return StreamDataConfig(**{**fields, "kind": "shards", **kw})


def source(syn, shards, bank, rank=0, world_size=1, **kw) -> StreamingTaskSource:
    cfg = stream_cfg(syn, shards, **kw)
    return StreamingTaskSource(cfg, syn.layout, syn.tokenizer, rank, world_size, bank=bank)


def test_shards_round_trip_every_utterance(syn, corpora, shard_dir):
    m = read_manifest(shard_dir)
    assert len(m.shards) == 6 and m.utterances == len(corpora["speech"])
    got = {s.uttid: s for info in m.shards for s in read_shard(info, syn.layout)}
    for want in corpora["speech"].samples:
        s = got[want.uttid]
        np.testing.assert_array_equal(s.codes, want.codes)
        if want.codes_tgt is None:
            assert s.codes_tgt is None
        else:
            np.testing.assert_array_equal(s.codes_tgt, want.codes_tgt)
        for f in ("lang", "text", "translation", "tgt_lang", "speaker"):
            assert getattr(s, f) == getattr(want, f), (want.uttid, f)
    assert sum(s.counts["codes_tgt"] for s in m.shards) == sum(
        s.codes_tgt is not None for s in corpora["speech"].samples
    )


def test_batches_are_valid_like_the_in_memory_ones(syn, corpora, bank, shard_dir):
    ref = TaskDataset(
        syn.data_config(max_len=1024, batch_size=2), syn.layout, syn.tokenizer,
        corpora=corpora, bank=bank,
    ).get_batch(0, 0)  # fmt: skip
    src = source(syn, shard_dir, bank)
    for _ in range(4):
        b = src.next_batch()
        assert b.keys() == ref.keys()
        for k in b:
            assert b[k].shape == ref[k].shape and b[k].dtype == ref[k].dtype, k
        ids, labels = b["input_ids"], b["labels"]
        trained = labels != IGNORE_ID
        assert trained.any()
        assert torch.equal(labels[:, :-1][trained[:, :-1]], ids[:, 1:][trained[:, :-1]])
        assert (b["position_ids"][:, 0] == 0).all()
    assert src.micro_batches_per_epoch() is None
    assert src.mixture_summary()["shares"] == pytest.approx(
        TaskDataset(syn.data_config(), syn.layout, syn.tokenizer, corpora=corpora, bank=bank)
        .mixture_summary()["shares"]
    )  # fmt: skip


def test_two_ranks_read_disjoint_shards(syn, bank, shard_dir):
    a, b = (source(syn, shard_dir, bank, r, 2) for r in (0, 1))
    for epoch in (0, 1):
        sa = {i for w in a.windows(epoch) for i in w}
        sb = {i for w in b.windows(epoch) for i in w}
        assert not sa & sb and sa | sb == set(range(6))
    assert a.windows(0) != a.windows(1)  # a new shard order every epoch
    uttids = []
    for src in (a, b):
        src.next_batch()
        uttids.append({s.uttid for s in src.window_dataset(0, 0).corpora["speech"].samples})
    assert uttids[0] and uttids[1] and not uttids[0] & uttids[1]


def _same(x: dict, y: dict) -> bool:
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def test_exact_resume_across_windows_and_epochs(syn, bank, shard_dir):
    full = source(syn, shard_dir, bank)
    batches, states = [], []
    for _ in range(14):  # several windows and epochs (6 shards of 8, windows of <= 20)
        states.append(json.loads(json.dumps(full.state_dict())))
        batches.append(full.next_batch())
    assert states[-1]["epoch"] >= 2
    for k in (1, 3, 8, 13):
        resumed = source(syn, shard_dir, bank)
        resumed.load_state_dict(states[k])
        for want in batches[k:]:
            assert _same(resumed.next_batch(), want)
    with pytest.raises(ValueError, match="data state: shuffle_buffer was 20, this run has 30"):
        source(syn, shard_dir, bank, shuffle_buffer=30).load_state_dict(states[3])
    with pytest.raises(ValueError, match="world_size"):
        source(syn, shard_dir, bank, 0, 2).load_state_dict({**states[3], "global_rows": 4})


def test_missing_and_truncated_shards_are_one_line_errors(syn, bank, shard_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(shard_dir, bad)
    (bad / "shard-000003.tar").unlink()
    with pytest.raises(ValueError, match=r"shard-000003.tar: shard not found \(listed in"):
        source(syn, bad, bank)
    with pytest.raises(ValueError, match=r"nowhere: shard manifest not found"):
        source(syn, tmp_path / "nowhere", bank)

    cut = tmp_path / "cut"
    shutil.copytree(shard_dir, cut)
    tar = cut / "shard-000002.tar"
    data = tar.read_bytes()
    tar.write_bytes(data[: len(data) // 2])
    info = next(s for s in read_manifest(cut).shards if s.path == tar)
    with pytest.raises(ValueError, match=r"shard-000002.tar: truncated or rewritten shard") as e:
        read_shard(info, syn.layout)
    assert "\n" not in str(e.value)
    # the manifest rewritten to the torn size: the tar itself is found torn
    with pytest.raises(ValueError, match=r"shard-000002.tar: truncated") as e:
        read_shard(replace(info, bytes=tar.stat().st_size), syn.layout)
    assert "\n" not in str(e.value)
    src = source(syn, cut, bank)
    with pytest.raises(ValueError, match=r"shard-000002.tar: truncated"):
        for _ in range(40):  # every window of two epochs is read
            src.next_batch()


def test_default_shard_place_of_a_speech_set_and_config_errors(syn, bank, shard_dir):
    cfg = replace(stream_cfg(syn, "x"), shards=[], speech_sets=syn.data_config().speech_sets)
    with pytest.raises(ValueError, match=r"codes/train/shards/manifest.json: .*make_shards"):
        StreamingTaskSource(cfg, syn.layout, syn.tokenizer, bank=bank)
    with pytest.raises(ValueError, match="data.kind shards is for CPT"):
        StreamingTaskSource(replace(cfg, stage="sft"), syn.layout, syn.tokenizer, bank=bank)
    with pytest.raises(ValueError, match="6 shards cannot be split over 8 ranks"):
        source(syn, shard_dir, bank, 0, 8)


def test_make_shards_cli_and_the_trainer_config(syn, tmp_path, capsys):
    from espnet_codec_lm.bin.make_shards import main
    from espnet_codec_lm.config import ConfigError, load_config
    from espnet_codec_lm.train.config import LMTrainConfig

    root = syn.root
    out = tmp_path / "cli"
    argv = ["--data_dir", str(root / "train"), "--codes", str(root / "codes/train/codes.scp")]
    assert main([*argv, "--out_dir", str(out), "--shard_utts", "10"]) == 0
    assert len(read_manifest(out).shards) == 5  # 48 utterances, 10 a shard
    assert main(["--data_dir", str(tmp_path / "none"), "--codes", "x.scp"]) == 1
    assert main([*argv[:2], "--codes", str(tmp_path / "x.scp")]) == 1
    err = capsys.readouterr().err
    assert "none: data directory not found" in err and "x.scp: codes file not found" in err
    assert "Traceback" not in err
    ok = ["data.kind=shards", f"data.shards=[{out}]", "data.shuffle_buffer=100"]
    cfg = load_config(LMTrainConfig, None, ok)
    assert cfg.data["shuffle_buffer"] == 100
    with pytest.raises(ConfigError, match="data.*shuffle_bufer"):
        load_config(LMTrainConfig, None, [*ok, "data.shuffle_bufer=3"])
    with pytest.raises(ConfigError, match="is for CPT"):
        load_config(LMTrainConfig, None, [*ok, "stage=sft"])


def test_missing_sources_stop_the_run_unless_dropped(syn, bank, shard_dir, tmp_path):
    with pytest.raises(ValueError, match="no data for mt .*data.drop_tasks"):
        source(syn, shard_dir, bank, mt_pools=[])
    src = source(syn, shard_dir, bank, mt_pools=[], drop_tasks=["mt"])
    assert (
        src.mixture_summary()["dropped"] == ["mt"] and "mt" not in src.mixture_summary()["shares"]
    )
    # shards without translations (the counts say so): S2TT / T2ST have no data
    bare = tmp_path / "bare"
    root = syn.root
    (bare / "data").mkdir(parents=True)
    for name in ("text", "utt2spk", "utt2lang"):
        shutil.copy(root / "train" / name, bare / "data" / name)
    write_shards(bare / "data", root / "codes/train/codes.scp", bare / "shards", num_shards=2)
    with pytest.raises(ValueError, match="no data for s2tt, t2st"):
        source(syn, bare / "shards", bank)
    speech_only = source(syn, bare / "shards", bank, cpt_mode="speech")
    assert speech_only.mixture_summary()["shares"] == {"speech_lm": 1.0}
    ids = speech_only.next_batch()["task_ids"]
    assert set(ids.unique().tolist()) <= {-1, speech_only.task_names.index("speech_lm")}
