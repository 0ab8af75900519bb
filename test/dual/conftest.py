"""Fixtures of the DualSpeechLM tests: a USToken corpus and its acoustic codes, tiny models."""

from __future__ import annotations

import pytest

from espnet_codec_lm.testing.synthetic import make_synthetic_corpus

UST_SIZE = 32  # USToken codebook of the tests
AC_STREAMS, AC_SIZE = 2, 16  # acoustic codebooks of the tests


@pytest.fixture(scope="session")
def dual_corpus(tmp_path_factory):
    """Same utterances twice (same seed: same ids, texts, speakers): one USToken stream of
    ``UST_SIZE`` codes, and ``AC_STREAMS`` acoustic codebooks of ``AC_SIZE`` (random codes)."""
    root = tmp_path_factory.mktemp("dual")
    kw = dict(speakers_per_lang=2, utts_per_speaker=4, n_text=10, n_mt=10)
    ust = make_synthetic_corpus(root / "ust", num_streams=1, codebook_size=UST_SIZE, **kw)
    ac = make_synthetic_corpus(root / "ac", num_streams=AC_STREAMS, codebook_size=AC_SIZE, **kw)
    _learnable_codes(ac.root / "codes/train")
    return ust, ac


def _learnable_codes(cdir):
    """Replace the random acoustic codes by a pattern a tiny decoder learns in a few steps
    (frame t of stream k holds (t + 3k) mod AC_SIZE), keeping every utterance's length."""
    import kaldiio
    import numpy as np

    for name in ("codes", "codes_tgt"):
        arrays = dict(kaldiio.load_scp(str(cdir / f"{name}.scp")))
        spec = f"ark,scp:{cdir / name}.ark,{cdir / name}.scp"
        with kaldiio.WriteHelper(spec, write_function="numpy") as w:
            for key in sorted(arrays):
                t = np.arange(len(arrays[key]))[:, None] + 3 * np.arange(AC_STREAMS)[None]
                w(key, (t % AC_SIZE).astype(np.int16))
