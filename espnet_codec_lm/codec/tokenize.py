"""Data dir -> codes in kaldiio ark/scp (doc/design.md, "Codes"), parallel and restartable.

Each utterance becomes an integer array ``[T, n_q]`` (int16 when the codebook size fits, else
int32). The utterances are split into ``nj`` shards, each appended to its own
``<name>.<j>.{ark,scp}``: an scp line is written (and flushed) only after its ark entry, so after
a crash the complete lines of a shard scp say what is done and a rerun encodes only the rest.
When every shard is complete they are merged into ``<name>.ark`` + ``<name>.scp`` (with
``<name>.num_frames``, frames per utterance, written just before the scp; the scp is
written last, atomically: its presence means the stage is done) and the shard files removed.

Batches (``batch_size`` > 1, on ``device``): the utterances of a shard are taken in order of
their length (from ``segments`` or the audio files' headers) and grouped by their exact number
of frames, so every utterance of a batch is padded only to a whole frame, as when it is encoded
alone, and its codes are the same (tested). A batch is encoded when it is full or when more than
``2 x batch_size`` utterances wait; at most that many are held in memory.

Provenance: ``<name>.yaml`` (e.g. ``codes.yaml``), written before the first shard, records
what makes the codes: the codec's checksum (``config.yaml`` + ``model.safetensors``), ``n_q``,
codebook size, frame and sample rate, and the checksum of the audio list (``wav.scp`` /
``segments``; the audio files themselves are not hashed). A rerun whose settings differ from it
is refused (``redo`` removes every output of ``<name>`` and starts over), so codes of two codecs,
two ``n_q`` or two data sets are never mixed or kept. Shards without ``<name>.yaml`` cannot be
told apart and are discarded; a finished ``<name>.scp`` without it (written before provenance
was recorded) is kept with a warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from espnet_codec_lm.codec.abs_codec import CodecInputError, check_waveform
from espnet_codec_lm.codec.audio import list_utterances, load_audio
from espnet_codec_lm.codec.model import load_codec, resolve_device
from espnet_codec_lm.config import config_changes, read_yaml
from espnet_codec_lm.data.kaldi_io import num_frames_path
from espnet_codec_lm.utils.fileio import atomic_write_bytes, atomic_write_text, sha256_files

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
        atomic_write_bytes(scp, b"".join(line + b"\n" for line in complete))
    return {line.split(b" ", 1)[0].decode() for line in complete if line.strip()}


def append_codes(
    utts: list[tuple[str, str, float | None, float | None]],
    out_prefix: str,
    load_encoder: Callable[[], tuple[Callable[[np.ndarray, str], np.ndarray], int]],
) -> int:
    """Append the codes of the ``utts`` not yet in ``out_prefix.scp`` to ``out_prefix.ark``;
    returns how many were encoded now. ``load_encoder()`` (called only when there is work)
    returns ``(encode, sample_rate)``: ``encode(wav, utt)`` maps float32 audio at
    ``sample_rate`` to an integer array ``[T, n_q]`` and raises an error naming ``utt``.
    Shared by every tokenizer of the toolkit (the codec's, the USTokenizer's)."""
    ark, scp = Path(out_prefix + ".ark"), Path(out_prefix + ".scp")
    done = _done_ids(scp)
    todo = [u for u in utts if u[0] not in done]
    if not todo:
        return 0
    encode, sample_rate = load_encoder()
    with open(ark, "ab") as fa, open(scp, "a", encoding="utf-8") as fs:
        for utt, value, start, end in todo:
            arr = encode(load_audio(value, sample_rate, utt, start, end), utt)
            _append(fa, fs, ark, utt, arr)
    return len(todo)


def _append(fa, fs, ark: Path, utt: str, arr: np.ndarray) -> None:
    """One ark entry, fsynced, then its scp line (the line says the entry is complete)."""
    import kaldiio

    offset = fa.tell()
    kaldiio.save_ark(fa, {utt: arr}, write_function="numpy")
    fa.flush()
    os.fsync(fa.fileno())
    # kaldiio's scp offset points after "<utt> " in the ark
    fs.write(f"{utt} {ark.resolve()}:{offset + len(utt.encode()) + 1}\n")
    fs.flush()


def _duration(value: str, start: float | None, end: float | None) -> float:
    """Seconds of an utterance from ``segments`` or its file's header (no audio is read);
    ``inf`` when it cannot be told (a pipe, an ark offset, an unreadable header)."""
    if start is not None and end is not None and end > start:
        return end - start
    try:
        import soundfile as sf

        info = sf.info(value)
        return info.frames / info.samplerate
    except Exception:  # not a plain audio file: encoded last, in its place in the list
        return float("inf")


def append_codes_batched(
    utts: list[tuple[str, str, float | None, float | None]],
    out_prefix: str,
    load_encoder: Callable[
        [], tuple[Callable[[list[np.ndarray], list[str]], list[np.ndarray]], int, int]
    ],
    batch_size: int,
) -> int:
    """:func:`append_codes` in batches of up to ``batch_size`` utterances of the same number of
    frames (see the module docstring). ``load_encoder()`` returns ``(encode_batch,
    sample_rate, hop_length)``: ``encode_batch(wavs, utts)`` maps float32 audio of equal frame
    counts to integer arrays ``[T, n_q]``. Returns how many were encoded now."""
    ark, scp = Path(out_prefix + ".ark"), Path(out_prefix + ".scp")
    done = _done_ids(scp)
    todo = [u for u in utts if u[0] not in done]
    if not todo:
        return 0
    order = sorted(range(len(todo)), key=lambda i: (_duration(*todo[i][1:]), i))
    encode_batch, sample_rate, hop = load_encoder()
    pending: dict[int, list[tuple[str, np.ndarray]]] = {}  # frames -> (utt, audio)

    def flush(frames: int) -> None:
        batch = pending.pop(frames)
        arrs = encode_batch([w for _, w in batch], [u for u, _ in batch])
        for (utt, _), arr in zip(batch, arrs):
            _append(fa, fs, ark, utt, arr)

    with open(ark, "ab") as fa, open(scp, "a", encoding="utf-8") as fs:
        for i in order:
            utt, value, start, end = todo[i]
            wav = load_audio(value, sample_rate, utt, start, end)
            frames = max(1, -(-len(wav) // hop))
            pending.setdefault(frames, []).append((utt, wav))
            if len(pending[frames]) == batch_size:
                flush(frames)
            elif sum(map(len, pending.values())) > 2 * batch_size:
                for f in [f for f in pending if f != frames]:  # shorter ones: none will come
                    flush(f)
        for f in list(pending):
            flush(f)
    return len(todo)


def encode_shard(
    codec_dir: str,
    utts: list[tuple[str, str, float | None, float | None]],
    out_prefix: str,
    n_q: int,
    num_threads: int = 1,
    batch_size: int = 1,
    device: str = "cpu",
) -> int:
    """Encode ``utts`` into ``out_prefix.{ark,scp}`` (appending; skipping what is done), one at
    a time or (``batch_size`` > 1) in batches of equal frame counts, on ``device`` (``auto``:
    CUDA when available). Returns the number of utterances encoded now."""
    import torch

    torch.set_num_threads(num_threads)
    dev = resolve_device(device)
    if batch_size > 1 or dev.type != "cpu":
        return append_codes_batched(
            utts, out_prefix, lambda: _batch_encoder(codec_dir, n_q, dev), max(1, batch_size)
        )

    def load() -> tuple[Callable[[np.ndarray, str], np.ndarray], int]:
        codec = load_codec(codec_dir)
        dtype = codes_dtype(codec.codebook_size)

        def encode(wav: np.ndarray, utt: str) -> np.ndarray:
            try:
                codes = codec.encode(torch.from_numpy(wav), n_q)
            except CodecInputError as e:
                raise CodecInputError(f"utterance '{utt}': {e}") from None
            return codes.numpy().T.astype(dtype)  # [T, n_q]

        return encode, codec.sample_rate

    return append_codes(utts, out_prefix, load)


def _batch_encoder(codec_dir: str, n_q: int, device):
    """``(encode_batch, sample_rate, hop_length)`` of the codec on ``device``."""
    import torch

    codec = load_codec(codec_dir, device=str(device))
    dtype = codes_dtype(codec.codebook_size)
    sr = codec.sample_rate

    def encode_batch(wavs: list[np.ndarray], utts: list[str]) -> list[np.ndarray]:
        rows = []
        for wav, utt in zip(wavs, utts):
            try:
                x = check_waveform(torch.from_numpy(wav), sr, sr)
            except CodecInputError as e:
                raise CodecInputError(f"utterance '{utt}': {e}") from None
            rows.append(codec.pad_to_hop(x[None])[0])  # all of one frame count: one length
        codes = codec.encode(torch.stack(rows).to(device), n_q).cpu().numpy()
        return [c.T.astype(dtype) for c in codes]  # [T, n_q] each

    return encode_batch, sr, codec.hop_length


def _shard_worker(args: tuple) -> int:
    return encode_shard(*args)


def codes_provenance(codec_dir: str | Path, src: str | Path, n_q: int) -> dict:
    """What makes the codes of ``src`` (a data dir or an audio list): see the module docstring."""
    codec_dir, src = Path(codec_dir), Path(src)
    codec = load_codec(codec_dir)
    if not 1 <= n_q <= codec.num_codebooks:
        raise ValueError(f"--n_q {n_q}: the codec has {codec.num_codebooks} codebooks")
    inputs = [src / "wav.scp", src / "segments"] if src.is_dir() else [src]
    return {
        "codec": {
            "sha256": sha256_files(codec_dir / "config.yaml", codec_dir / "model.safetensors"),
            "path": str(codec_dir.resolve()),
        },
        "n_q": n_q,
        "codebook_size": codec.codebook_size,
        "frame_rate": codec.frame_rate,
        "sample_rate": codec.sample_rate,
        "dtype": np.dtype(codes_dtype(codec.codebook_size)).name,
        "data": {"sha256": sha256_files(*inputs), "path": str(src.resolve())},
    }


def provenance_changes(old: dict, new: dict) -> list[str]:
    """Keys whose values differ (paths are recorded for people, not compared: a moved
    directory with the same content makes the same codes)."""
    return [
        f"{k}: {o!r} -> {n!r}" for k, o, n in config_changes(old, new) if not k.endswith(".path")
    ]


def _outputs(out_dir: Path, name: str) -> list[Path]:
    """Every file this stage writes for ``name`` (final files, shards, provenance)."""
    fixed = [out_dir / f"{name}.{ext}" for ext in ("ark", "scp", "num_frames", "yaml")]
    shards = [p for p in out_dir.glob(f"{name}.*.*") if p.name.split(".")[-2].isdigit()]
    return [p for p in fixed if p.exists()] + sorted(shards)


def tokenize(
    codec_dir: str | Path,
    data: str | Path,
    out_dir: str | Path,
    n_q: int = 3,
    nj: int = 1,
    name: str = "codes",
    scp_name: str = "wav.scp",
    redo: bool = False,
    batch_size: int = 1,
    device: str = "cpu",
) -> Path:
    """Encode every utterance of ``data`` (a data dir, whose ``scp_name`` is read, or a scp
    file) into ``out_dir/<name>.{ark,scp}`` (+ ``<name>.yaml``); return the scp path. Reruns
    with the same settings resume; other settings are refused unless ``redo``. ``batch_size``
    and ``device`` (auto|cpu|cuda; every ``nj`` process uses the same GPU) change the speed,
    not the codes, so they are not recorded and may change on a rerun."""
    src, utts = utterances_of(data, scp_name)
    prov = codes_provenance(codec_dir, src, n_q)
    return write_codes(
        utts,
        out_dir,
        name,
        prov,
        _shard_worker,
        lambda shard, prefix: (str(codec_dir), shard, prefix, n_q, 1, batch_size, device),
        nj,
        redo,
    )


def utterances_of(
    data: str | Path, scp_name: str = "wav.scp"
) -> tuple[Path, list[tuple[str, str, float | None, float | None]]]:
    """The audio list a tokenizer reads for ``data`` (a data dir, whose ``scp_name`` is read,
    or a scp file) and its utterances; ids are checked before anything is written."""
    data = Path(data)
    src = data / scp_name if data.is_dir() and scp_name != "wav.scp" else data
    utts = list_utterances(src)
    if not utts:
        raise ValueError(f"{src}: no utterances")
    return src, utts


def write_codes(
    utts: list[tuple[str, str, float | None, float | None]],
    out_dir: str | Path,
    name: str,
    prov: dict,
    worker: Callable[[tuple], int],
    job: Callable[[list, str], tuple],
    nj: int = 1,
    redo: bool = False,
) -> Path:
    """The tokenizer-independent part of a tokenize stage: check ``prov`` against
    ``<name>.yaml`` (refuse other settings unless ``redo``; skip a finished run), run
    ``worker(job(shard_utts, shard_prefix))`` over ``nj`` shards (processes when ``nj`` > 1;
    ``worker`` must be a module-level function) and merge the shards. Returns the scp."""
    import kaldiio

    out_dir = Path(out_dir)
    final_scp = out_dir / f"{name}.scp"
    prov_file = out_dir / f"{name}.yaml"
    outputs = _outputs(out_dir, name) if out_dir.is_dir() else []
    if redo and outputs:
        log.info("--redo: removing %d file(s) of %s/%s.*", len(outputs), out_dir, name)
        for p in outputs:
            p.unlink()
    elif prov_file.is_file():
        changes = provenance_changes(read_yaml(prov_file), prov)
        if changes:
            shown = "; ".join(changes[:3]) + (
                f"; and {len(changes) - 3} more" if len(changes) > 3 else ""
            )
            raise ValueError(
                f"{prov_file}: {out_dir}/{name}.* were made with other settings ({shown}); "
                "pass --redo to remake them, or use another --out_dir"
            )
        if final_scp.is_file():
            log.info("%s exists, made with these settings: nothing to do", final_scp)
            return final_scp
    elif final_scp.is_file():
        log.warning(
            "%s: no %s (made before provenance was recorded): kept unchecked",
            final_scp,
            prov_file.name,
        )
        return final_scp
    elif outputs:  # shards of an unknown run: nothing says what made them
        log.warning(
            "%s: %d partial file(s) without %s: discarded", out_dir, len(outputs), prov_file.name
        )
        for p in outputs:
            p.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(prov_file, yaml.safe_dump(prov, sort_keys=False))
    nj = max(1, min(nj, len(utts)))
    shards = [utts[j::nj] for j in range(nj)]
    jobs = [job(s, str(out_dir / f"{name}.{j}")) for j, s in enumerate(shards)]
    if nj == 1:
        n_new = [worker(jobs[0])]
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(nj) as pool:
            n_new = pool.map(worker, jobs)
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
    for p in _outputs(out_dir, name):  # every shard, also of an earlier run with more --nj
        if p.name.split(".")[-2].isdigit():
            p.unlink()
    return final_scp
