"""Train a sentencepiece BPE text tokenizer on a corpus (for small from-scratch LMs).

The result is a tokenizer directory (``text_tokenizer.json`` + ``spm.model``) that the LM config
names as ``tokenizer:``. Input: text files with one sentence a line, or Kaldi ``text`` files
(``uttid sentence``) with ``--kaldi``. Identity normalisation and byte fallback make decoding
the exact inverse of encoding for English and Mandarin. The task prompt bank's texts
(``tasks/prompts``, or ``--prompt-dir``) are added to the corpus unless ``--no-prompts``, so
every prompt tokenises into in-vocabulary pieces. ``--cjk-chars`` keeps every CJK character a
piece of its own (BPE then merges only within other scripts). A rerun with an existing output is skipped
unless ``--overwrite``.

Usage:
    python -m espnet_codec_lm.bin.lm_tokenizer --out data/token_list/bpe2000 --vocab-size 2000 \\
        --kaldi data/train/text data/train/text.zh data/text_pool/text
    python -m espnet_codec_lm.bin.lm_tokenizer --out /tmp/bpe500 --vocab-size 500 corpus.txt
"""

from __future__ import annotations

import argparse
import sys

from espnet_codec_lm.lm.tokenizer import has_tokenizer, train_sentencepiece
from espnet_codec_lm.tasks.prompts import PromptBank
from espnet_codec_lm.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    p = argparse.ArgumentParser(
        prog="python -m espnet_codec_lm.bin.lm_tokenizer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", help="text files (one sentence a line)")
    p.add_argument("--out", required=True, help="tokenizer directory to write")
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument("--kaldi", action="store_true", help="inputs are Kaldi 'uttid text' files")
    p.add_argument("--model-type", default="bpe", choices=["bpe", "unigram"])
    p.add_argument("--no-prompts", action="store_true", help="do not add the prompt bank")
    p.add_argument("--prompt-dir", default=None, help="prompt bank directory (default: built-in)")
    p.add_argument(
        "--cjk-chars",
        action="store_true",
        help="one piece per CJK character, never merged (small Mandarin corpora; doc/lm.md)",
    )
    p.add_argument("--overwrite", action="store_true")
    return p


def read_sentences(paths: list[str], kaldi: bool) -> list[str]:
    """All non-empty sentences of ``paths`` (the utterance id dropped with ``kaldi``)."""
    from pathlib import Path

    out = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"{p}: file not found")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:  # name the file and line, not just the codec's byte
            line_no = p.read_bytes()[: e.start].count(b"\n") + 1
            raise ValueError(f"{p}:{line_no}: not valid UTF-8") from None
        for n, line in enumerate(text.splitlines(), 1):
            if kaldi:
                parts = line.split(maxsplit=1)
                if not parts:
                    continue
                if len(parts) == 1:
                    raise ValueError(f"{p}:{n}: utterance '{parts[0]}' has no text")
                line = parts[1]
            if line.strip():
                out.append(line)
    if not out:
        raise ValueError(f"no text in {', '.join(paths)}")
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)
    from pathlib import Path

    log = setup_logging("lm_tokenizer")
    if has_tokenizer(args.out) and not args.overwrite:
        print(f"lm_tokenizer: {args.out} exists, skipped (--overwrite to retrain)")
        return 0
    try:
        sentences = read_sentences(args.inputs, args.kaldi)
        if not args.no_prompts:
            sentences += PromptBank.load(args.prompt_dir).all_texts()
        tok = train_sentencepiece(
            sentences,
            Path(args.out),
            vocab_size=args.vocab_size,
            model_type=args.model_type,
            cjk_chars=args.cjk_chars,
        )
    except (ValueError, OSError) as e:
        print(f"lm_tokenizer: error: {e}", file=sys.stderr)
        return 1
    log.info("trained on %d sentences: %d pieces", len(sentences), tok.vocab_size)
    print(f"lm_tokenizer: {args.out} ({tok.vocab_size} pieces from {len(sentences)} sentences)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
