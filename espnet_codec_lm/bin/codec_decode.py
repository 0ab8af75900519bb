"""Decode codec codes (kaldiio scp of ``[T, n_q]`` arrays) back to 16-bit WAV files.

Writes ``<out_dir>/wav/<utt>.wav`` and ``<out_dir>/wav.scp``; WAVs already there are kept, so a
rerun finishes what is missing. ``--n_q`` decodes only the first codebooks.

Usage:
    python -m espnet_codec_lm.bin.codec_decode \
        --codec_dir egs2/mini_bilingual/codec_lm1/pretrained/codec \
        --codes dump/codes/test/codes.scp --out_dir exp/resynth/test
    python -m espnet_codec_lm.bin.codec_decode --codec_dir exp/codec_debug/codec \
        --codes dump/codes/test/codes.scp --out_dir /tmp/resynth_q1 --n_q 1
"""

from __future__ import annotations

import argparse
import sys


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``codec_decode``."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--codec_dir", required=True, help="dir with config.yaml + model.safetensors")
    p.add_argument("--codes", required=True, help="codes.scp (kaldiio) of [T, n_q] arrays")
    p.add_argument("--out_dir", required=True, help="receives wav/ and wav.scp")
    p.add_argument("--n_q", type=int, default=0, help="decode the first N codebooks (0 = all)")
    return p


def decode_scp(codec_dir: str, codes_scp: str, out_dir: str, n_q: int = 0) -> int:
    """Decode every entry of ``codes_scp``; return how many WAVs were written now."""
    from pathlib import Path

    import kaldiio
    import numpy as np
    import soundfile as sf
    import torch

    from espnet_codec_lm.codec.model import load_codec
    from espnet_codec_lm.data.kaldi_io import write_table
    from espnet_codec_lm.utils.fileio import UnsafeIdError, atomic_path, id_path
    from espnet_codec_lm.utils.progress import progress

    torch.set_num_threads(1)
    codec = load_codec(codec_dir)
    out = Path(out_dir)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    try:
        table = kaldiio.load_scp(codes_scp)
        keys = list(table.keys())
    except OSError as e:
        raise ValueError(f"{codes_scp}: cannot read: {e}") from None
    written, scp = 0, {}
    for utt in progress(keys, desc="codec_decode"):
        try:
            path = id_path(out / "wav", utt, ".wav")
        except UnsafeIdError as e:
            raise ValueError(f"{codes_scp}: {e}") from None
        scp[utt] = str(path.resolve())
        if path.is_file():
            continue
        try:
            arr = np.asarray(table[utt])
        except Exception as e:  # a torn or corrupt ark: kaldiio's message names no utterance
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"{codes_scp}: utterance '{utt}': cannot read codes ({msg})") from None
        if arr.ndim != 2:
            raise ValueError(
                f"{codes_scp}: utterance '{utt}': codes of shape {arr.shape}, want [T, n_q]"
            )
        codes = torch.from_numpy(arr.astype(np.int64)).T
        if n_q:
            codes = codes[:n_q]
        try:
            wav = codec.decode(codes).numpy()
        except ValueError as e:
            raise ValueError(f"{codes_scp}: utterance '{utt}': {e}") from None
        with atomic_path(path) as tmp:
            sf.write(tmp, np.clip(wav, -1, 1), codec.sample_rate, subtype="PCM_16", format="WAV")
        written += 1
    write_table(out / "wav.scp", scp)
    return written


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)
    from espnet_codec_lm.utils.logging import setup_logging

    log = setup_logging("codec_decode")
    try:
        n = decode_scp(args.codec_dir, args.codes, args.out_dir, args.n_q)
        log.info("decoded %d utterances into %s", n, args.out_dir)
    except (ValueError, FileNotFoundError) as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
