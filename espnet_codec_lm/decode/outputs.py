"""The decode directory (doc/design.md, "Decoding outputs"), written resumably and atomically.

Final layout of ``exp/<lm_exp>/decode_<task>_<test_set>/``::

    meta.yaml                 task, test_set, data_dir, src/tgt_lang, checkpoint, decoding, seed,
                              num_samples, stats (written last: its presence = decoding complete)
    text                      text targets: ``uttid hypothesis`` sorted
    sample_<k>/wav.scp        speech targets, k = 0..num_samples-1 (absolute paths)
    sample_<k>/codes.{ark,scp}  [T, L'] codec-local codes (int16 when they fit)
    sample_<k>/wav/<uttid>.wav
    speaker_prompt            TTS / T2ST: ``uttid prompt_uttid start_frame num_frames``

While decoding, each finished utterance is one small file under ``.parts/`` (written by
temp + rename), so an interrupted run loses at most the batch in flight and a rerun decodes only
what is missing. ``.parts/settings.yaml`` records the settings; a rerun with other settings is
refused (pass ``overwrite``) rather than mixing outputs of two configurations. The final files
are assembled from the parts when every utterance is done.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import yaml

from espnet_codec_lm.utils.fileio import (
    UnsafeIdError,
    atomic_open,
    atomic_path,
    atomic_write_text,
    id_path,
)

PARTS = ".parts"


class DecodeDirError(ValueError):
    """The decode directory holds outputs of other settings, or is inconsistent."""


def _id_path(directory: Path, uttid: str, suffix: str) -> Path:
    try:
        return id_path(directory, uttid, suffix)
    except UnsafeIdError as e:
        raise DecodeDirError(str(e)) from None


def one_line(text: str) -> str:
    """A hypothesis on one Kaldi line: whitespace runs become one space."""
    return " ".join(text.split())


class DecodeDir:
    """Writer of one decode directory; see the module docstring."""

    def __init__(
        self, path: str | Path, speech: bool, num_samples: int, settings: dict, overwrite=False
    ) -> None:
        self.path = Path(path)
        self.speech = speech
        self.num_samples = num_samples if speech else 1
        self.parts = self.path / PARTS
        settings_file = self.parts / "settings.yaml"
        if overwrite and self.path.exists():
            shutil.rmtree(self.path)
        if settings_file.is_file():
            old = yaml.safe_load(settings_file.read_text(encoding="utf-8"))
            if old != settings:
                diff = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
                raise DecodeDirError(
                    f"{self.path}: holds outputs decoded with other settings ({', '.join(diff)}); "
                    "pass --overwrite or another --out_dir"
                )
        elif (self.path / "meta.yaml").is_file():
            raise DecodeDirError(
                f"{self.path}: a finished decode without {PARTS}/settings.yaml; pass --overwrite"
            )
        self.parts.mkdir(parents=True, exist_ok=True)
        atomic_write_text(settings_file, yaml.safe_dump(settings, allow_unicode=True))

    # --- parts ----------------------------------------------------------------------------
    def _part(self, uttid: str) -> Path:
        return _id_path(self.parts, uttid, ".npz" if self.speech else ".json")

    def done(self, uttid: str) -> bool:
        return self._part(uttid).is_file()

    def wav_path(self, uttid: str, k: int) -> Path:
        return _id_path(self.path / f"sample_{k}" / "wav", uttid, ".wav")

    def write_text(self, uttid: str, text: str, info: dict) -> None:
        """One text hypothesis (+ ids, score, finished) as ``.parts/<uttid>.json``."""
        with atomic_open(self._part(uttid)) as f:
            json.dump({"text": one_line(text), **info}, f, ensure_ascii=False)

    def write_speech(
        self,
        uttid: str,
        codes: list[np.ndarray],
        finished: list[bool],
        wavs: list[np.ndarray] | None,
        sample_rate: int,
    ) -> None:
        """The samples of one utterance: WAVs first, then the codes part (the completion mark)."""
        import soundfile as sf

        if len(codes) != self.num_samples:
            raise DecodeDirError(f"{uttid}: {len(codes)} samples, expected {self.num_samples}")
        if wavs is not None:
            for k, wav in enumerate(wavs):
                dst = self.wav_path(uttid, k)
                with atomic_path(dst) as tmp:
                    sf.write(str(tmp), np.clip(wav, -1.0, 1.0), sample_rate, subtype="PCM_16")
        arrays = {f"codes_{k}": np.asarray(c, dtype=np.int64) for k, c in enumerate(codes)}
        arrays["finished"] = np.asarray(finished, dtype=bool)
        with atomic_path(self._part(uttid)) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

    # --- assembly -------------------------------------------------------------------------
    def finalize(
        self,
        ids: list[str],
        meta: dict,
        extra_tables: dict[str, dict] | None = None,
        ref_frames: dict[str, int] | None = None,
    ):
        """Write the final files from the parts of ``ids`` (all must be done), then meta.yaml.
        ``ref_frames`` (speech targets): each utterance's reference length in frames, for the
        share of samples that stopped on their own within 0.5-2x of it."""
        missing = [u for u in ids if not self.done(u)]
        if missing:
            raise DecodeDirError(
                f"{self.path}: {len(missing)} utterances not decoded, e.g. {missing[0]}"
            )
        ids = sorted(ids)
        stats: dict = {"num_utts": len(ids)}
        if self.speech:
            stats.update(self._finalize_speech(ids, meta.get("write_wav", True), ref_frames))
        else:
            stats.update(self._finalize_text(ids))
        for name, table in (extra_tables or {}).items():
            with atomic_open(self.path / name) as f:
                for u in sorted(table):
                    f.write(f"{u} {table[u]}\n")
        meta = {**meta, "stats": {**meta.get("stats", {}), **stats}}
        atomic_write_text(
            self.path / "meta.yaml", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
        )
        return meta

    def _finalize_text(self, ids: list[str]) -> dict:
        unfinished, lengths = 0, []
        with atomic_open(self.path / "text") as f:
            for u in ids:
                part = json.loads(self._part(u).read_text(encoding="utf-8"))
                f.write(f"{u} {part['text']}\n".replace(" \n", "\n"))
                unfinished += not part.get("finished", True)
                lengths.append(len(part.get("ids", [])))
        return {"num_unfinished": unfinished, "mean_tokens": float(np.mean(lengths))}

    def _finalize_speech(
        self, ids: list[str], write_wav: bool, ref_frames: dict[str, int] | None = None
    ) -> dict:
        import kaldiio

        unfinished, frames, good = 0, [], 0
        per_sample: list[dict[str, np.ndarray]] = [{} for _ in range(self.num_samples)]
        for u in ids:
            with np.load(self._part(u)) as z:
                fin = z["finished"]
                for k in range(self.num_samples):
                    per_sample[k][u] = z[f"codes_{k}"]
                    frames.append(len(z[f"codes_{k}"]))
                    ref = (ref_frames or {}).get(u)
                    if ref and fin[k] and 0.5 <= frames[-1] / ref <= 2.0:
                        good += 1
                unfinished += int((~fin).sum())
        for k, table in enumerate(per_sample):
            d = self.path / f"sample_{k}"
            d.mkdir(parents=True, exist_ok=True)
            big = any(int(a.max(initial=0)) > np.iinfo(np.int16).max for a in table.values())
            dtype = np.int32 if big else np.int16
            ark, scp = (d / "codes.ark").resolve(), d / "codes.scp"
            tmp_ark = ark.with_name(".codes.ark.tmp")
            tmp_scp = d / ".codes.scp.tmp"
            kaldiio.save_ark(
                str(tmp_ark),
                {u: table[u].astype(dtype) for u in ids},
                scp=str(tmp_scp),
                write_function="numpy",
            )
            lines = tmp_scp.read_text(encoding="utf-8").replace(str(tmp_ark), str(ark))
            tmp_ark.replace(ark)
            atomic_write_text(scp, lines)
            tmp_scp.unlink()
            if write_wav:
                with atomic_open(d / "wav.scp") as f:
                    for u in ids:
                        f.write(f"{u} {self.wav_path(u, k).resolve()}\n")
        out = {
            "num_unfinished_samples": unfinished,
            "mean_frames": float(np.mean(frames)) if frames else 0.0,
        }
        if ref_frames:
            refs = [ref_frames[u] for u in ids if u in ref_frames]
            out["mean_reference_frames"] = float(np.mean(refs)) if refs else 0.0
            # stopped on its own (not at the length guard) within 0.5-2x of the reference
            out["share_stopped_within_0.5_2x"] = round(good / max(len(frames), 1), 4)
        return out
