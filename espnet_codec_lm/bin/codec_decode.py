"""Decode codec codes (kaldiio scp of ``[T, n_q]`` arrays) back to 16-bit WAV files.

Writes ``<out_dir>/wav/<utt>.wav`` and ``<out_dir>/wav.scp``; WAVs already there are kept, so a
rerun finishes what is missing. ``--n_q`` decodes only the first codebooks. ``codec_decode.yaml``
(written before the first WAV) records the codec's checksum, ``--n_q`` and the checksum of the
codes (scp + arks); a rerun with other ones is refused unless ``--redo``, which removes the
WAVs and starts over, so WAVs of two settings are never mixed or kept.

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

from espnet_codec_lm.bin._common import cli_parser, run_stage
from espnet_codec_lm.config import read_yaml
from espnet_codec_lm.data.kaldi_io import write_table
from espnet_codec_lm.utils.fileio import (
    UnsafeIdError,
    atomic_path,
    atomic_write_text,
    id_path,
    sha256_files,
)
from espnet_codec_lm.utils.progress import progress


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``codec_decode``."""
    p = cli_parser(__doc__)
    p.add_argument("--codec_dir", required=True, help="dir with config.yaml + model.safetensors")
    p.add_argument("--codes", required=True, help="codes.scp (kaldiio) of [T, n_q] arrays")
    p.add_argument("--out_dir", required=True, help="receives wav/ and wav.scp")
    p.add_argument("--n_q", type=int, default=0, help="decode the first N codebooks (0 = all)")
    p.add_argument(
        "--redo", action="store_true", help="remove WAVs made with other settings; start over"
    )
    return p


PROVENANCE = "codec_decode.yaml"


def _provenance(codec_dir: str, codes_scp: str, n_q: int) -> dict:
    """What makes the WAVs: the codec's and the codes' checksums and ``n_q``."""
    import re
    from pathlib import Path

    scp = Path(codes_scp)
    arks = sorted(
        {
            m.group(1)
            for ln in scp.read_text(encoding="utf-8", errors="replace").splitlines()
            if (m := re.match(r"\S+\s+(.+):\d+$", ln.strip()))
        }
    )
    return {
        "codec": {
            "sha256": sha256_files(
                Path(codec_dir) / "config.yaml", Path(codec_dir) / "model.safetensors"
            ),
            "path": str(Path(codec_dir).resolve()),
        },
        "n_q": n_q,
        "codes": {"sha256": sha256_files(scp, *map(Path, arks)), "path": str(scp.resolve())},
    }


def decode_scp(
    codec_dir: str, codes_scp: str, out_dir: str, n_q: int = 0, redo: bool = False
) -> int:
    """Decode every entry of ``codes_scp``; return how many WAVs were written now (WAVs of
    other settings are refused, or removed first with ``redo``)."""
    import shutil
    from pathlib import Path

    import kaldiio
    import numpy as np
    import soundfile as sf
    import torch
    import yaml

    # lazy: codec/ imports torch, which --help does not need
    from espnet_codec_lm.codec.model import load_codec
    from espnet_codec_lm.codec.tokenize import provenance_changes

    torch.set_num_threads(1)
    codec = load_codec(codec_dir)
    out = Path(out_dir)
    try:
        table = kaldiio.load_scp(codes_scp)
        keys = list(table.keys())
        prov = _provenance(codec_dir, codes_scp, n_q)
    except OSError as e:
        raise ValueError(f"{codes_scp}: cannot read: {e}") from None
    prov_file = out / PROVENANCE
    made = [p for p in (out / "wav", out / "wav.scp", prov_file) if p.exists()]
    if redo and made:
        for p in made:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    elif prov_file.is_file():
        changes = provenance_changes(read_yaml(prov_file), prov)
        if changes:
            raise ValueError(
                f"{prov_file}: the WAVs in {out} were made with other settings "
                f"({'; '.join(changes[:3])}); pass --redo to remake them, or another --out_dir"
            )
    elif (out / "wav").is_dir() and any((out / "wav").iterdir()):
        raise ValueError(
            f"{out}/wav: WAVs without {PROVENANCE}: cannot tell what made them; pass --redo "
            "to remake them, or another --out_dir"
        )
    (out / "wav").mkdir(parents=True, exist_ok=True)
    atomic_write_text(prov_file, yaml.safe_dump(prov, sort_keys=False))
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

    def body(log):
        n = decode_scp(args.codec_dir, args.codes, args.out_dir, args.n_q, args.redo)
        log.info("decoded %d utterances into %s", n, args.out_dir)

    return run_stage("codec_decode", body)


if __name__ == "__main__":
    sys.exit(main())
