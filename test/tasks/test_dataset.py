"""The batch pipeline: mixture shares, packing efficiency, collate output, exact resume,
determinism across processes, sharding over data-parallel ranks, SFT epochs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from espnet_codec_lm.lm.vocab import IGNORE_ID, STREAM_PAD
from espnet_codec_lm.tasks.dataset import DataConfig, TaskDataset, build_sources
from espnet_codec_lm.tasks.mixture import MixtureConfig, TaskSampler
from espnet_codec_lm.tasks.templates import CPT_SPEECH_TASKS, TASK_NAMES


def dataset(syn, corpora, bank, rank=0, world_size=1, **kw):
    cfg = syn.data_config(**{"max_len": 1024, "batch_size": 2, **kw})
    return TaskDataset(cfg, syn.layout, syn.tokenizer, rank, world_size, corpora=corpora, bank=bank)


def within(count: int, n: int, p: float, sigmas: float = 4.5) -> bool:
    return abs(count / n - p) <= sigmas * np.sqrt(p * (1 - p) / n)


def test_mixture_sampler_shares():
    sampler = TaskSampler(MixtureConfig().as_dict())
    rng = np.random.default_rng(0)
    n = 40_000
    draws = [sampler.draw(rng) for _ in range(n)]
    want = {**{t: 0.15 for t in CPT_SPEECH_TASKS}, "text": 0.05, "mt": 0.05}
    assert sampler.shares() == pytest.approx(want)
    for task, p in want.items():
        assert within(draws.count(task), n, p), (task, draws.count(task) / n)


def test_pipeline_draws_follow_the_mixture(syn, corpora, bank):
    ds = dataset(syn, corpora, bank, examples_per_epoch=6000)
    stats = ds.plan(0).stats
    want = {**{t: 0.15 for t in CPT_SPEECH_TASKS}, "text": 0.05, "mt": 0.05}
    drawn = {t: c["drawn"] for t, c in stats["tasks"].items()}
    assert set(drawn) == set(want) and sum(drawn.values()) == 6000
    for task, p in want.items():
        assert within(drawn[task], 6000, p), (task, drawn[task])


def test_speech_only_mode_and_missing_pools(syn, corpora, bank):
    ds = dataset(syn, corpora, bank, cpt_mode="speech", examples_per_epoch=300)
    assert set(ds.plan(0).stats["tasks"]) == {"speech_lm"}
    b = ds.get_batch(0, 0)
    ids = b["input_ids"]
    real = b["task_ids"] >= 0
    assert torch.all(b["task_ids"][real] == TASK_NAMES.index("speech_lm"))
    # no text token anywhere: stream 0 is a codec id or a speech boundary token
    lay = syn.layout
    s0 = ids[..., 0][real]
    assert torch.all((s0 >= lay.codec_offset) & (s0 <= lay.speech_end))
    # no MT pool: a clear error at start (the mix would not be the paper's) ...
    no_mt = {k: v for k, v in corpora.items() if k != "mt"}
    with pytest.raises(ValueError, match=r"no data for mt \(mt needs data.mt_pools\).*drop_tasks"):
        dataset(syn, no_mt, bank, mt_pools=[], examples_per_epoch=10)
    # ... unless it is left out on purpose: its share is spread over the others, and recorded
    ds = dataset(syn, no_mt, bank, mt_pools=[], examples_per_epoch=10, drop_tasks=["mt"])
    assert ds.sampler.shares() == pytest.approx(
        {**{t: 0.15 / 0.95 for t in CPT_SPEECH_TASKS}, "text": 0.05 / 0.95}
    )
    assert ds.mixture_summary()["dropped"] == ["mt"]
    # dropping a source that has data removes it too; a name that is no source is an error
    ds = dataset(syn, corpora, bank, examples_per_epoch=10, drop_tasks=["t2st", "text"])
    assert set(ds.sampler.shares()) == set(CPT_SPEECH_TASKS) - {"t2st"} | {"mt"}
    with pytest.raises(ValueError, match="drop_tasks: \\['tts2'\\] are not CPT sources"):
        dataset(syn, corpora, bank, examples_per_epoch=10, drop_tasks=["tts2"])


@pytest.mark.parametrize("max_len", [1024, 4096])
def test_packing_efficiency(syn, corpora, bank, max_len):
    ds = dataset(syn, corpora, bank, max_len=max_len, examples_per_epoch=4000)
    stats = ds.plan(0).stats
    assert stats["packing_efficiency"] >= 0.95, stats["packing_efficiency"]
    # measured on the collated tensors as well: non-pad positions / all positions
    b = ds.get_batch(0, 1)
    assert (b["task_ids"] >= 0).float().mean() > 0.9


def test_collate_output(syn, corpora, bank):
    ds = dataset(syn, corpora, bank, examples_per_epoch=300)
    b = ds.get_batch(0, 0)
    B, T, L = 2, 1024, syn.layout.num_streams
    assert b["input_ids"].shape == (B, T, L) and b["labels"].shape == (B, T, L)
    assert b["position_ids"].shape == (B, T) and b["task_ids"].shape == (B, T)
    assert all(v.dtype == torch.int64 for v in b.values())
    ids, lab, pos, task = b["input_ids"], b["labels"], b["position_ids"], b["task_ids"]
    pad = task < 0
    assert torch.all(ids[pad] == STREAM_PAD) and torch.all(lab[pad] == IGNORE_ID)
    for r in range(B):
        starts = torch.nonzero(pos[r] == 0).flatten().tolist()
        assert starts[0] == 0 and len(starts) >= 3  # several examples per row
        for s, e in zip(starts, starts[1:] + [T]):
            assert torch.equal(pos[r, s:e], torch.arange(e - s))
            assert len(set(task[r, s:e].tolist())) == 1  # one task per example
            assert torch.all(lab[r, e - 1] == IGNORE_ID)  # nothing crosses into the next one
            if task[r, s] >= 0:  # an example starts with a boundary token
                assert ids[r, s, 0] in (syn.layout.speech_start, syn.layout.text_start)
        # labels are the next input wherever set
        real = lab[r, :-1] != IGNORE_ID
        assert torch.equal(lab[r, :-1][real], ids[r, 1:][real])


def _digest(batches) -> str:
    h = hashlib.sha256()
    for b in batches:
        for k in sorted(b):
            h.update(k.encode())
            h.update(b[k].numpy().tobytes())
    return h.hexdigest()


def test_exact_resume_mid_epoch_and_across_epochs(syn, corpora, bank):
    ds = dataset(syn, corpora, bank, examples_per_epoch=120)
    per_epoch = ds.micro_batches_per_epoch()
    assert per_epoch >= 3
    first = [ds.next_batch() for _ in range(2)]
    state = ds.state_dict()
    rest = [ds.next_batch() for _ in range(per_epoch + 2)]  # crosses into epoch 1
    assert ds.epoch > 1.0
    resumed = dataset(syn, corpora, bank, examples_per_epoch=120)
    resumed.load_state_dict(dict(state))
    again = [resumed.next_batch() for _ in range(per_epoch + 2)]
    assert _digest(rest) == _digest(again)
    assert _digest(first) != _digest(rest[:2])
    # epochs differ from each other (new draws), batches are a pure function of (epoch, index)
    assert _digest([ds.get_batch(1, 0)]) != _digest([ds.get_batch(0, 0)])
    assert _digest([ds.get_batch(0, 1)]) == _digest([first[1]])
    with pytest.raises(ValueError, match="seed was 0, this run has 1"):
        dataset(syn, corpora, bank, examples_per_epoch=120, seed=1).load_state_dict(state)


def test_same_batches_in_another_process(syn, corpora, bank, tmp_path):
    ds = dataset(syn, corpora, bank, examples_per_epoch=120)
    here = _digest([ds.get_batch(1, 2)])
    script = f"""
import hashlib, sys
from pathlib import Path
from espnet_codec_lm.lm.tokenizer import load_text_tokenizer
from espnet_codec_lm.lm.vocab import VocabLayout
from espnet_codec_lm.tasks.dataset import TaskDataset
from espnet_codec_lm.testing.synthetic import SyntheticCorpus
root = Path({str(syn.root)!r})
syn = SyntheticCorpus(root, VocabLayout.load(root / "vocab_layout.json"),
                      load_text_tokenizer(root / "tokenizer"))
ds = TaskDataset(syn.data_config(max_len=1024, batch_size=2, examples_per_epoch=120),
                 syn.layout, syn.tokenizer)
b = ds.get_batch(1, 2)
h = hashlib.sha256()
for k in sorted(b):
    h.update(k.encode()); h.update(b[k].numpy().tobytes())
print(h.hexdigest())
"""
    env = {**os.environ, "PYTHONHASHSEED": "123", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == here


def test_sharding_is_disjoint_and_matches_one_process(syn, corpora, bank):
    one = dataset(syn, corpora, bank, batch_size=4, examples_per_epoch=300)
    ranks = [
        dataset(syn, corpora, bank, rank=r, world_size=2, batch_size=2, examples_per_epoch=300)
        for r in range(2)
    ]
    n = one.num_batches(0)
    assert ranks[0].num_batches(0) == ranks[1].num_batches(0) == n
    seen: set[int] = set()
    for b in range(n):
        rows = [tuple(map(tuple, ds.rows_of(0, b))) for ds in ranks]
        items = [i for rs in rows for r in rs for i in r]
        assert not seen & set(items) and len(items) == len(set(items))
        seen |= set(items)
    for b in (0, n - 1):
        parts = [ds.get_batch(0, b) for ds in ranks]
        whole = one.get_batch(0, b)
        for k in whole:
            assert torch.equal(torch.cat([p[k] for p in parts]), whole[k])
        assert not torch.equal(parts[0]["input_ids"], parts[1]["input_ids"])
    # the global position is world-size independent: resuming on another world size works
    ranks[0].load_state_dict(one.state_dict())
    with pytest.raises(ValueError, match="global_rows"):
        dataset(syn, corpora, bank, batch_size=3).load_state_dict(one.state_dict())


def test_sft_epoch_visits_every_pair_once(syn, corpora, bank):
    ds = dataset(syn, corpora, bank, stage="sft", tasks=["asr", "tts"], batch_size=1)
    speech = corpora["speech"]
    assert ds.n_draws == 2 * len(speech)
    plan = ds.plan(0)
    assert plan.stats["tasks"]["asr"]["examples"] == len(speech)
    pairs = set()
    for j in range(ds.n_draws):
        task, examples, status = ds.draw(0, j)
        assert status == "ok" and len(examples) == 1
        ex = examples[0]
        pairs.add((task, ex.uttid))
        if task == "tts":  # speaker prompt: up to 3 s of ANOTHER utterance of the same speaker
            me = next(s for s in speech.samples if s.uttid == ex.uttid)
            sp = ex.spans[2]
            prompt = ex.tokens[sp.start + 1 : sp.end - 1]
            assert 0 < len(prompt) <= 150
            codes = syn.layout.ids_to_codes(prompt)
            owners = [
                s.uttid
                for s in speech.samples
                if s.speaker == me.speaker
                and any(
                    np.array_equal(s.codes[i : i + len(codes)], codes)
                    for i in range(len(s.codes) - len(codes) + 1)
                )
            ]
            assert owners and me.uttid not in owners
        # SFT: loss on the target only
        t = ex.spans[-1]
        assert ex.loss_mask.sum() == t.end - t.start - 1
    assert len(pairs) == ds.n_draws
    # another epoch, another order
    assert (
        ds.draw(1, 0)[1][0].uttid != ds.draw(0, 0)[1][0].uttid
        or ds.draw(1, 1)[1][0].uttid != ds.draw(0, 1)[1][0].uttid
    )


def test_langs_filter_and_build_sources(syn, bank):
    data = {
        "kind": "tasks",
        "stage": "sft",
        "tasks": ["s2tt"],
        "langs": ["zh"],
        "speech_sets": [
            {"data_dir": str(syn.root / "train"), "codes": str(syn.root / "codes/train/codes.scp")}
        ],
        "valid_speech_sets": [
            {"data_dir": str(syn.root / "train"), "codes": str(syn.root / "codes/train/codes.scp")}
        ],
        "valid_batches": 2,
    }
    train, valid = build_sources(
        data, syn.layout, syn.tokenizer, 0, 1, seed=3, max_len=512, batch_size=2
    )
    assert train.cfg.seed == 3 and train.cfg.max_len == 512
    ex = train.draw(0, 0)[1][0]
    assert ex.uttid.startswith("zh")
    vb = list(valid)
    assert len(vb) == 2 and vb[0]["input_ids"].shape == (2, 512, 3)
    assert _digest(vb) == _digest(list(valid))  # re-iterable, identical every time
    assert valid.task_names == list(TASK_NAMES)


def test_too_little_data_for_a_step_is_a_clear_error(syn, corpora, bank):
    ds = dataset(syn, corpora, bank, examples_per_epoch=3, batch_size=8)
    with pytest.raises(ValueError, match="cannot fill one step"):
        ds.next_batch()


def test_data_config_yaml_round_trip(syn, tmp_path):
    from espnet_codec_lm.config import dump_config, load_config

    cfg = replace(syn.data_config(), max_len=2048)
    dump_config(cfg, tmp_path / "data.yaml")
    back = load_config(
        DataConfig, tmp_path / "data.yaml", ["mixture.mt=0.1", "build.time_mask.fill=random"]
    )
    assert back.max_len == 2048 and back.mixture.mt == 0.1 and back.build.time_mask.fill == "random"
    assert back.speech_sets[0].codes == cfg.speech_sets[0].codes


def test_best_fit_by_hand():
    from espnet_codec_lm.tasks.packing import best_fit, efficiency

    # 6 -> row0 (room 4); 5 -> row1 (room 5); 4 -> row0 (tightest); 3, 2 -> row1
    assert best_fit([6, 5, 4, 3, 2], 10) == [[0, 2], [1, 3, 4]]
    assert best_fit([7, 7, 3], 10) == [[0, 2], [1]]
    assert efficiency([10, 10, 0], 3, 10) == pytest.approx(20 / 30)
    with pytest.raises(ValueError, match="exceeds max_len"):
        best_fit([11], 10)


def test_rebuilt_examples_equal_cached_ones(syn, corpora, bank):
    cached = dataset(syn, corpora, bank, examples_per_epoch=150)
    rebuilt = dataset(syn, corpora, bank, examples_per_epoch=150, cache_examples=False)
    assert rebuilt.plan(0).examples is None
    for b in range(cached.num_batches(0)):
        assert _digest([cached.get_batch(0, b)]) == _digest([rebuilt.get_batch(0, b)])


def test_unpacked_rows_and_batch_in_positions(syn, corpora, bank):
    ds = dataset(syn, corpora, bank, pack=False, batch_size=3, examples_per_epoch=30)
    b = ds.get_batch(0, 0)
    rows = ds.rows_of(0, 0)
    lengths = [len(ds.plan(0).examples[r[0]]) for r in rows]
    assert all(len(r) == 1 for r in rows)
    assert b["input_ids"].shape[:2] == (3, max(lengths))
    for i, n in enumerate(lengths):  # one example per row, then padding
        assert torch.all(b["task_ids"][i, :n] >= 0) and torch.all(b["task_ids"][i, n:] == -1)
    ds = dataset(syn, corpora, bank, batch_positions=3072, examples_per_epoch=300)
    assert ds.rows_per_batch == 3 and ds.get_batch(0, 0)["input_ids"].shape == (3, 1024, 3)
    with pytest.raises(ValueError, match="multiple of max_len"):
        dataset(syn, corpora, bank, batch_positions=1000)


def test_example_weighting_gives_every_example_weight_one(syn, corpora, bank):
    token = dataset(syn, corpora, bank, examples_per_epoch=300).get_batch(0, 0)
    assert "loss_weights" not in token  # the default: every target weighs 1
    ds = dataset(syn, corpora, bank, examples_per_epoch=300, loss_weighting="example")
    b = ds.get_batch(0, 0)
    assert all(torch.equal(b[k], token[k]) for k in token)  # the same batch, plus weights
    w, lab, pos, task = b["loss_weights"], b["labels"], b["position_ids"], b["task_ids"]
    assert w.dtype == torch.float32 and w.shape == pos.shape
    targets = (lab != IGNORE_ID).sum(-1)
    n_examples = 0
    for r in range(w.shape[0]):
        starts = torch.nonzero(pos[r] == 0).flatten().tolist()
        for s, e in zip(starts, starts[1:] + [w.shape[1]]):
            n = int(targets[r, s:e].sum())
            if task[r, s] < 0 or n == 0:  # row padding
                assert torch.all(w[r, s:e] == 0)
                continue
            n_examples += 1
            assert torch.allclose(w[r, s:e], torch.full((e - s,), 1.0 / n))
            assert float((w[r, s:e] * targets[r, s:e]).sum()) == pytest.approx(1.0, rel=1e-5)
    from espnet_codec_lm.train.losses import count_targets

    assert float(count_targets(b)) == pytest.approx(n_examples, rel=1e-5)
    assert int(count_targets(token)) == int(targets.sum())
    with pytest.raises(ValueError, match="token or example"):
        from espnet_codec_lm.tasks.packing import pack_row

        pack_row([], [], 8, "utterance")


def test_codes_left_on_disk_give_the_same_batches(syn, corpora, bank, tmp_path, monkeypatch):
    """``codes_in_memory: false``: the corpus holds LazyCodes (an index into the ark), and every
    batch, CPT and SFT, equals the one built from codes in memory."""
    import shutil

    from espnet_codec_lm.data.kaldi_io import num_frames_path
    from espnet_codec_lm.tasks import corpus as corpus_mod
    from espnet_codec_lm.tasks.corpus import LazyCodes

    cfg = syn.data_config(max_len=1024, batch_size=2, examples_per_epoch=300)
    eager = TaskDataset(cfg, syn.layout, syn.tokenizer, corpora=corpora, bank=bank)
    lazy_cfg = replace(cfg, codes_in_memory=False)
    # no <name>.num_frames beside the codes: each entry is read once for its length
    lazy = TaskDataset(lazy_cfg, syn.layout, syn.tokenizer, bank=bank)
    samples = lazy.corpora["speech"].samples
    assert all(isinstance(s.codes, LazyCodes) for s in samples)
    for b in range(3):
        x, y = eager.get_batch(0, b), lazy.get_batch(0, b)
        assert all(torch.equal(x[k], y[k]) for k in x)
    sft = dict(stage="sft", tasks=["asr", "tts", "s2st"])
    x = TaskDataset(replace(cfg, **sft), syn.layout, syn.tokenizer, corpora=corpora, bank=bank)
    y = TaskDataset(replace(lazy_cfg, **sft), syn.layout, syn.tokenizer, bank=bank)
    assert all(torch.equal(x.get_batch(0, 1)[k], y.get_batch(0, 1)[k]) for k in ("input_ids",))

    # with the tokenize stage's frame counts nothing is read at load time
    sets = []
    for s in cfg.speech_sets:
        d = tmp_path / Path(s.codes).parent.name
        d.mkdir(exist_ok=True)
        for f in Path(s.codes).parent.iterdir():
            shutil.copy(f, d / f.name)
        for scp in [d / Path(s.codes).name] + ([d / Path(s.codes_tgt).name] if s.codes_tgt else []):
            lines = [
                f"{u} {len(c)}"
                for u, c in corpus_mod._load_codes(str(scp), syn.layout, None).items()
            ]
            num_frames_path(scp).write_text("\n".join(lines) + "\n")
        sets.append(replace(s, codes=str(d / Path(s.codes).name),
                            codes_tgt=str(d / Path(s.codes_tgt).name) if s.codes_tgt else None))  # fmt: skip
    monkeypatch.setattr(corpus_mod, "_load_codes", lambda *a: pytest.fail("codes read at load"))
    indexed = TaskDataset(replace(lazy_cfg, speech_sets=sets), syn.layout, syn.tokenizer, bank=bank)
    assert all(
        torch.equal(eager.get_batch(0, 0)[k], indexed.get_batch(0, 0)[k]) for k in x.get_batch(0, 0)
    )
    # a stale frame count is named when the codes are read
    c = indexed.corpora["speech"].samples[0].codes
    bad = LazyCodes(c.spec, len(c) + 1, c.num_streams, c.codebook_size, c.uttid)
    with pytest.raises(ValueError, match=f"utterance {c.uttid}: codes .*stale"):
        np.asarray(bad)


def test_planning_reads_no_codes_left_on_disk(syn, corpora, bank, monkeypatch):
    """``codes_in_memory: false`` + ``cache_examples: false``: an epoch is planned from frame
    counts alone (no code is read), its rows are those of the in-memory plan, and a batch reads
    only the codes of its own examples."""
    from espnet_codec_lm.tasks.corpus import LazyCodes

    cfg = syn.data_config(max_len=1024, batch_size=2, examples_per_epoch=300)
    reads: list[str] = []
    load = LazyCodes.load
    for stage in ({}, dict(stage="sft", tasks=["asr", "tts", "s2st"])):
        eager = TaskDataset(
            replace(cfg, **stage), syn.layout, syn.tokenizer, corpora=corpora, bank=bank
        )
        lazy_cfg = replace(cfg, codes_in_memory=False, cache_examples=False, **stage)
        lazy = TaskDataset(lazy_cfg, syn.layout, syn.tokenizer, bank=bank)
        monkeypatch.setattr(LazyCodes, "load", lambda self: reads.append(self.uttid) or load(self))
        reads.clear()
        p, q = eager.plan(0), lazy.plan(0)
        assert reads == []
        assert q.rows == p.rows and np.array_equal(q.length, p.length)
        assert np.array_equal(q.task, p.task) and q.stats == p.stats
        x, y = eager.get_batch(0, 1), lazy.get_batch(0, 1)
        assert all(torch.equal(x[k], y[k]) for k in x)
        n_examples = sum(len(r) for r in lazy.rows_of(0, 1))
        assert 0 < len(reads) <= 3 * n_examples  # codes, target codes, a speaker's other utterance
        monkeypatch.undo()


def test_sft_task_repeats(syn, corpora, bank):
    """task_repeats: asr pairs drawn 3 times an epoch (each with its own draw), tts once."""
    ds = dataset(syn, corpora, bank, stage="sft", tasks=["asr", "tts"], task_repeats={"asr": 3})
    n = len(corpora["speech"])
    assert ds.n_draws == 4 * n
    stats = ds.plan(0).stats["tasks"]
    assert stats["asr"]["drawn"] == 3 * n and stats["tts"]["drawn"] == n
    seen: dict[str, int] = {}
    for j in range(ds.n_draws):
        task, examples, _ = ds.draw(0, j)
        if task == "asr":
            seen[examples[0].uttid] = seen.get(examples[0].uttid, 0) + 1
    assert set(seen.values()) == {3}
    with pytest.raises(ValueError, match="not among the SFT tasks"):
        dataset(syn, corpora, bank, stage="sft", tasks=["asr"], task_repeats={"tts": 2})
    with pytest.raises(ValueError, match="integers >= 1"):
        dataset(syn, corpora, bank, stage="sft", tasks=["asr"], task_repeats={"asr": 0})


def test_speech_target_noise_touches_only_speech_target_inputs(syn, corpora, bank):
    """speech_target_noise: inputs of speech targets replaced by codes of the right codebook at
    about the given rate; labels, text targets and conditions untouched; the same batch twice."""
    clean = dataset(syn, corpora, bank, stage="sft", tasks=["asr", "tts"])
    noisy = dataset(syn, corpora, bank, stage="sft", tasks=["asr", "tts"], speech_target_noise=0.3)
    lay = syn.layout
    changed = total = 0
    for b in range(3):
        c, n = clean.get_batch(0, b), noisy.get_batch(0, b)
        assert torch.equal(c["labels"], n["labels"])
        assert torch.equal(n["input_ids"], noisy.get_batch(0, b)["input_ids"])  # a pure function
        rows = clean.rows_of(0, b)
        for r, row in enumerate(rows):
            start = 0
            for _, ex in clean.examples_of_row(0, row):
                diff = (
                    c["input_ids"][r, start : start + len(ex)]
                    != n["input_ids"][r, start : start + len(ex)]
                ).any(-1)
                tgt = ex.spans[-1]
                inside = torch.zeros(len(ex), dtype=torch.bool)
                if tgt.modality == "speech":
                    inside[tgt.start + 1 : tgt.end - 1] = True
                    total += int(inside.sum())
                    changed += int(diff.sum())
                assert not diff[~inside].any(), f"{ex.task}: a non-target input was changed"
                for k in range(lay.num_streams):  # replaced codes stay in their codebook
                    lo, hi = lay.codebook_range(k)
                    v = n["input_ids"][r, start : start + len(ex), k][inside]
                    assert ((v >= lo) & (v < hi)).all()
                start += len(ex)
    assert total > 100 and within(changed, total, 0.3 * (1 - 1 / lay.codebook_size))
    sets = [{"data_dir": str(syn.root / "train"), "codes": str(syn.root / "codes/train/codes.scp")}]
    data = {
        "kind": "tasks",
        "stage": "sft",
        "tasks": ["tts"],
        "speech_sets": sets,
        "valid_speech_sets": sets,
        "speech_target_noise": 0.3,
    }
    train, valid = build_sources(data, lay, syn.tokenizer, max_len=1024, batch_size=2)
    assert train.cfg.speech_target_noise == 0.3
    assert valid.dataset.cfg.speech_target_noise == 0.0  # validation scores the clean task


def test_alignment_spans_of_tts_examples(syn, corpora, bank):
    """align_tasks: each TTS example of a batch carries (row, text_lo, text_hi, speech_lo,
    speech_hi): the text positions hold exactly its transcript, the speech positions predict its
    codes and end token; other tasks carry none; without align_tasks no key."""
    plain = dataset(syn, corpora, bank, stage="sft", tasks=["asr", "tts", "s2st"])
    assert "align_spans" not in plain.get_batch(0, 0)
    ds = dataset(syn, corpora, bank, stage="sft", tasks=["asr", "tts", "s2st"], align_tasks=["tts"])
    lay = syn.layout
    seen = 0
    for b in range(3):
        batch = ds.get_batch(0, b)
        spans = batch["align_spans"]
        assert spans.dtype == torch.int64 and spans.shape[1] == 5
        expected = []
        for r, row in enumerate(ds.rows_of(0, b)):
            start = 0
            for _, ex in ds.examples_of_row(0, row):
                if ex.task == "tts":
                    text = next(sp for sp in ex.spans if sp.slot == "transcript")
                    tgt = ex.spans[-1]
                    expected.append(
                        [r, start + text.start + 1, start + text.end - 1,
                         start + tgt.start, start + tgt.end - 1]
                    )  # fmt: skip
                start += len(ex)
        assert spans.tolist() == expected
        for r, t_lo, t_hi, s_lo, s_hi in spans.tolist():
            tokens, labels = batch["input_ids"][r], batch["labels"][r]
            assert (tokens[t_lo:t_hi, 0] < lay.text_rows).all()  # text token ids only
            assert int(tokens[t_lo - 1, 0]) == lay.text_start
            assert int(tokens[t_hi, 0]) == lay.text_end
            assert int(tokens[s_lo, 0]) == lay.speech_start
            assert lay.is_codec(int(labels[s_lo, 0])) and lay.is_codec(int(labels[s_hi - 2, 0]))
            assert int(labels[s_hi - 1, 0]) == lay.speech_end  # the last one predicts the end
            seen += 1
    assert seen > 0
