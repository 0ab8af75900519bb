"""A toolkit-style ASR for tests, loadable through ``asr.kind: toolkit`` +
``asr.loader: metrics_fake_asr:load_lookup_asr`` (test/metrics is on sys.path under pytest)."""

from __future__ import annotations

import hashlib

import numpy as np


def wav_key(wav: np.ndarray) -> str:
    """A content hash of a waveform (what the fake ASR looks transcripts up by)."""
    q = np.round(np.asarray(wav, dtype=np.float32) * 2000).astype(np.int32)
    return hashlib.sha1(q.tobytes()).hexdigest()


class LookupASR:
    """A toolkit-style ASR that 'recognises' waveforms it was told about (by content hash)."""

    table: dict[str, str] = {}
    calls: list[str | None] = []

    def transcribe(self, wavs, sample_rate=16000, language=None):
        LookupASR.calls.append(language)
        return [LookupASR.table.get(wav_key(w), "") for w in wavs]


def load_lookup_asr(path, device):
    """``asr.loader`` target: ``metrics_fake_asr:load_lookup_asr``."""
    return LookupASR()
