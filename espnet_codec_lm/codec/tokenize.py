"""Data dir -> codes in kaldiio ark/scp (doc/design.md, "Codes"), parallel and restartable.

Each utterance becomes an integer array ``[T, n_q]`` (int16 when the codebook size fits, else
int32). The utterances are split into ``nj`` shards, each appended to its own
``<name>.<j>.{ark,scp}``: an scp line is written (and flushed) only after its ark entry, so after
a crash the complete lines of a shard scp say what is done and a rerun encodes only the rest.
When every shard is complete they are merged into ``<name>.ark`` + ``<name>.scp`` (with
``<name>.num_frames``, frames per utterance, written just before the scp; the scp is
written last, atomically: its presence means the stage is done) and the shard files removed.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from espnet_codec_lm.data.kaldi_io import num_frames_path

log = logging.getLogger("codec_tokenize")


def codes_dtype(codebook_size: int) -> type:
    """The smallest signed integer type holding codes ``0 .. codebook_size - 1``."""
    return np.int16 if codebook_size <= 32768 else np.int32


def _done_ids(scp: Path) -> set[str]:
    """Utterance ids of the complete lines of a shard scp; a torn last line is dropped."""
    if not scp.is_file():
        return set()
    raw = scp.read_bytes()
    lines = raw.split(b"\n")
    complete = lines[:-1]  # the part after the last newline is torn (or empty)
    if lines[-1]:
        from espnet_codec_lm.utils.fileio import atomic_write_bytes

        atomic_write_bytes(scp, b"".join(line + b"\n" for line in complete))
    return {line.split(b" ", 1)[0].decode() for line in complete if line.strip()}


def encode_shard(
    codec_dir: str,
    utts: list[tuple[str, str, float | None, float | None]],
    out_prefix: str,
    n_q: int,
    num_threads: int = 1,
) -> int:
    """Encode ``utts`` into ``out_prefix.{ark,scp}`` (appending; skipping what is done).
    Returns the number of utterances encoded now."""
    import kaldiio
    import torch

    from espnet_codec_lm.codec.abs_codec import CodecInputError
    from espnet_codec_lm.codec.audio import load_audio
    from espnet_codec_lm.codec.model import load_codec

    torch.set_num_threads(num_threads)
    ark, scp = Path(out_prefix + ".ark"), Path(out_prefix + ".scp")
    done = _done_ids(scp)
    todo = [u for u in utts if u[0] not in done]
    if not todo:
        return 0
    codec = load_codec(codec_dir)
    dtype = codes_dtype(codec.codebook_size)
    with open(ark, "ab") as fa, open(scp, "a", encoding="utf-8") as fs:
        for utt, value, start, end in todo:
            wav = load_audio(value, codec.sample_rate, utt, start, end)
            try:
                codes = codec.encode(torch.from_numpy(wav), n_q)
            except CodecInputError as e:
                raise CodecInputError(f"utterance '{utt}': {e}") from None
            arr = codes.numpy().T.astype(dtype)  # [T, n_q]
            offset = fa.tell()
            kaldiio.save_ark(fa, {utt: arr}, write_function="numpy")
            fa.flush()
            os.fsync(fa.fileno())
            # kaldiio's scp offset points after "<utt> " in the ark
            fs.write(f"{utt} {ark.resolve()}:{offset + len(utt.encode()) + 1}\n")
            fs.flush()
    return len(todo)


def _shard_worker(args: tuple) -> int:
    return encode_shard(*args)


def tokenize(
    codec_dir: str | Path,
    data: str | Path,
    out_dir: str | Path,
    n_q: int = 3,
    nj: int = 1,
    name: str = "codes",
    scp_name: str = "wav.scp",
) -> Path:
    """Encode every utterance of ``data`` (a data dir, whose ``scp_name`` is read, or a scp
    file) into ``out_dir/<name>.{ark,scp}``; return the scp path. Reruns resume."""
    import kaldiio

    from espnet_codec_lm.codec.audio import list_utterances
    from espnet_codec_lm.utils.fileio import atomic_write_text

    out_dir = Path(out_dir)
    final_scp = out_dir / f"{name}.scp"
    if final_scp.is_file():
        log.info("%s exists: nothing to do", final_scp)
        return final_scp
    out_dir.mkdir(parents=True, exist_ok=True)
    data = Path(data)
    src = data / scp_name if data.is_dir() and scp_name != "wav.scp" else data
    utts = list_utterances(src)
    if not utts:
        raise ValueError(f"{src}: no utterances")
    nj = max(1, min(nj, len(utts)))
    shards = [utts[j::nj] for j in range(nj)]
    jobs = [(str(codec_dir), s, str(out_dir / f"{name}.{j}"), n_q) for j, s in enumerate(shards)]
    if nj == 1:
        n_new = [_shard_worker(jobs[0])]
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(nj) as pool:
            n_new = pool.map(_shard_worker, jobs)
    log.info("encoded %d utterances now (%d total)", sum(n_new), len(utts))
    # merge the shards into one ark/scp in utterance order
    entries = {}
    for j in range(nj):
        entries.update(kaldiio.load_scp(str(out_dir / f"{name}.{j}.scp")))
    missing = [u for u, *_ in utts if u not in entries]
    if missing:
        raise ValueError(f"{out_dir}: {len(missing)} utterances missing after encoding")
    ark = out_dir / f"{name}.ark"
    lines = []
    with open(ark, "wb") as fa:
        for utt in sorted(entries):
            offset = fa.tell()
            kaldiio.save_ark(fa, {utt: np.asarray(entries[utt])}, write_function="numpy")
            lines.append(f"{utt} {ark.resolve()}:{offset + len(utt.encode()) + 1}")
        fa.flush()
        os.fsync(fa.fileno())
    # frames per utterance (Kaldi's utt2num_frames): lets training plan epochs without reading
    # the codes (``data.codes_in_memory: false``); written before the scp that marks completion
    lengths = [f"{utt} {np.asarray(entries[utt]).shape[0]}" for utt in sorted(entries)]
    atomic_write_text(num_frames_path(final_scp), "\n".join(lengths) + "\n")
    atomic_write_text(final_scp, "\n".join(lines) + "\n")
    for j in range(nj):
        for ext in ("ark", "scp"):
            (out_dir / f"{name}.{j}.{ext}").unlink(missing_ok=True)
    return final_scp
