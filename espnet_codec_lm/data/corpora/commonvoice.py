"""Common Voice (one directory per language) as distributed by Mozilla.

Layout read (``src`` holds the language directories, e.g. ``cv-corpus-4-2019-12-10/``)::

    <src>/<lang>/clips/common_voice_<lang>_<n>.mp3      48 kHz MP3
    <src>/<lang>/validated.tsv, train.tsv, dev.tsv, test.tsv
        columns (CV 4): client_id path sentence up_votes down_votes age gender accent
        (later releases add locale, segment, ...: only client_id, path, sentence are used)

Output ``<split>_<code>`` (``train_en``, ``dev_zh``...; ``zh-CN`` -> ``zh``): ``wav.scp`` pointing at
the MP3s (decoded by libsndfile >= 1.1 through soundfile; the preparer checks MP3 support),
``text`` (the prompt sentence, cased and punctuated), ``utt2spk`` (the client id), ``utt2lang``.
The TSVs are read as Common Voice and CoVoST write them: tab-separated, no quoting, ``\\`` escapes.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from espnet_codec_lm.data.corpora.base import (
    load_options,
    make_data_dir,
    need_dir,
    need_file,
    one_line,
    pick_subsets,
    prepare_subsets,
)
from espnet_codec_lm.data.kaldi_io import DataDirError

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")


def lang_code(cv_lang: str) -> str:
    """Our language code of a Common Voice locale: ``zh-CN`` -> ``zh``, ``en`` -> ``en``."""
    return cv_lang.split("-")[0].lower()


def read_tsv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a Common Voice / CoVoST TSV as dicts; missing columns are a one-line error."""
    need_file(path, "tsv")
    csv.field_size_limit(1 << 24)
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise DataDirError(f"{path}: missing column(s) {', '.join(missing)}")
        try:
            return [dict(r) for r in reader]
        except (csv.Error, UnicodeDecodeError) as e:
            raise DataDirError(f"{path}:{reader.line_num}: cannot parse: {e}") from None


def check_mp3_support() -> None:
    """libsndfile >= 1.1 decodes MP3; older builds need a ``ffmpeg ... |`` pipe in wav.scp."""
    import soundfile as sf

    if "MP3" not in sf.available_formats():
        raise RuntimeError(
            f"libsndfile {sf.__libsndfile_version__} cannot decode MP3 (need >= 1.1: "
            "pip install -U soundfile)"
        )


def clip_entries(
    cv_dir: Path, rows: list[dict[str, str]], tsv: Path
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """``(wav_scp, utt2spk, text)`` for CV rows; the utterance id is the clip's file stem."""
    wav_scp, utt2spk, text = {}, {}, {}
    for n, r in enumerate(rows, 2):
        name = r["path"].strip()
        if not name:
            raise DataDirError(f"{tsv}:{n}: empty path")
        clip = cv_dir / "clips" / name
        if not clip.suffix:  # some releases list clips without the extension
            clip = clip.with_suffix(".mp3")
        utt = clip.stem
        sentence = one_line(r.get("sentence", "") or "")
        if not sentence:
            raise DataDirError(f"{tsv}:{n}: utterance '{utt}': empty sentence")
        if utt in wav_scp:
            raise DataDirError(f"{tsv}:{n}: utterance '{utt}': duplicate clip")
        if not clip.is_file():
            raise DataDirError(f"{tsv}:{n}: utterance '{utt}': audio {clip} not found")
        wav_scp[utt] = str(clip.resolve())
        utt2spk[utt] = r.get("client_id", "").strip() or utt
        text[utt] = sentence
    return wav_scp, utt2spk, text


@dataclass
class CommonVoiceOptions:
    """Which locales (Common Voice directory names) to read."""

    langs: list[str] = field(default_factory=lambda: ["en", "zh-CN"])


def prepare_commonvoice(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write ``<split>_<code>`` for each locale and split (subsets: ``train_en``...)."""
    opts = load_options(CommonVoiceOptions, "commonvoice", config, overrides)
    root = need_dir(src, "commonvoice")
    check_mp3_support()
    names: dict[str, tuple[str, str]] = {}
    for lang in opts.langs:
        for split in SPLITS:
            names[f"{split}_{lang_code(lang)}"] = (lang, split)
    present = [n for n, (lang, split) in names.items() if (root / lang / f"{split}.tsv").is_file()]
    chosen = pick_subsets("commonvoice", subsets, list(names), present)

    def build(name: str):
        lang, split = names[name]
        tsv = root / lang / f"{split}.tsv"
        rows = read_tsv(tsv, ("client_id", "path", "sentence"))
        wav_scp, utt2spk, text = clip_entries(root / lang, rows, tsv)
        return make_data_dir(wav_scp, utt2spk, text, lang_code(lang))

    return prepare_subsets("commonvoice", root, out, {n: n for n in chosen}, opts, build, nj)
