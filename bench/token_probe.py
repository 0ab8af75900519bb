"""How well do speech tokens carry the words? A bag-of-n-grams probe, several token sets side by side.

For each token set (a ``codes.scp`` of the codec, whose first codebook is used, or a
``ustokens.scp`` of the USTokenizer; one code stream per utterance), every utterance becomes a
bag of token unigrams and bigrams (counts, tf-idf). One logistic regression per word (English
words, Mandarin characters, after the toolkit's normaliser) learns on the training set whether
the word occurs in the utterance; the score is its ROC AUC on the evaluation set, averaged over
the words frequent enough to learn (``--min_count`` training utterances and at least one
positive and one negative evaluation utterance). 0.5 = the tokens say nothing about the words,
1.0 = they say which words were spoken. The same words, utterances and classifier for every
token set, so the AUCs compare the token sets, not the probes (issue 18's goal: USTokens at least
as predictive as codebook 1).

Usage:
    tools/venv/bin/python bench/token_probe.py \\
        --train_text dump/data/train/text --eval_text dump/data/test/text \\
        --set codec1=dump/codes/train/codes.scp,dump/codes/test/codes.scp \\
        --set ustokens=dump/ustokens/train/ustokens.scp,dump/ustokens/test/ustokens.scp
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def read_streams(scp: str, ids: list[str]) -> dict[str, list[int]]:
    """The first code stream of each utterance of ``ids`` found in ``scp``."""
    import kaldiio
    import numpy as np

    out = {}
    with kaldiio.ReadHelper(f"scp:{scp}") as reader:
        for uttid, arr in reader:
            if uttid in ids:
                a = np.asarray(arr)
                out[uttid] = (a[:, 0] if a.ndim == 2 else a).astype(int).tolist()
    return out


def words_of(text: str, lang: str, normalizer) -> set[str]:
    norm = normalizer(text, lang)
    return set(norm.replace(" ", "")) if lang == "zh" else set(norm.split())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train_text", required=True, help="Kaldi text of the training utterances")
    p.add_argument("--eval_text", required=True, help="Kaldi text of the evaluation utterances")
    p.add_argument(
        "--set",
        action="append",
        required=True,
        metavar="NAME=TRAIN_SCP,EVAL_SCP",
        help="a token set (repeat for each)",
    )
    p.add_argument("--min_count", type=int, default=10, help="training utterances per word")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)

    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from espnet_codec_lm.data.kaldi_io import read_table
    from espnet_codec_lm.metrics.normalize import TextNormalizer
    from espnet_codec_lm.tasks.corpus import detect_lang

    norm = TextNormalizer()
    texts = {"train": read_table(args.train_text), "eval": read_table(args.eval_text)}
    sets = {}
    for spec in args.set:
        name, _, scps = spec.partition("=")
        train_scp, _, eval_scp = scps.partition(",")
        if not name or not eval_scp:
            p.error(f"--set {spec!r}: expected NAME=TRAIN_SCP,EVAL_SCP")
        sets[name] = {
            "train": read_streams(train_scp, set(texts["train"])),
            "eval": read_streams(eval_scp, set(texts["eval"])),
        }
    # the utterances every set has, so that all sets are scored on the same ones
    ids = {
        part: sorted(set(texts[part]).intersection(*(set(s[part]) for s in sets.values())))
        for part in ("train", "eval")
    }
    labels = {
        part: [words_of(texts[part][u], detect_lang(texts[part][u]), norm) for u in ids[part]]
        for part in ("train", "eval")
    }
    counts: dict[str, int] = {}
    for ws in labels["train"]:
        for w in ws:
            counts[w] = counts.get(w, 0) + 1
    vocab = sorted(
        w
        for w, c in counts.items()
        if c >= args.min_count and 0 < sum(w in ws for ws in labels["eval"]) < len(ids["eval"])
    )
    if not vocab:
        p.error("no word is frequent enough to probe (lower --min_count)")
    y = {part: np.array([[w in ws for w in vocab] for ws in labels[part]]) for part in labels}
    print(
        f"{len(ids['train'])} training / {len(ids['eval'])} evaluation utterances, "
        f"{len(vocab)} words probed (>= {args.min_count} training utterances)"
    )
    results = {}
    for name, streams in sets.items():
        docs = {
            part: [" ".join(f"t{c}" for c in streams[part][u]) for u in ids[part]]
            for part in ("train", "eval")
        }
        vec = TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"\S+", min_df=2, sublinear_tf=True)
        x_train = vec.fit_transform(docs["train"])
        x_eval = vec.transform(docs["eval"])
        aucs = []
        for j in range(len(vocab)):
            clf = LogisticRegression(C=1.0, max_iter=1000).fit(x_train, y["train"][:, j])
            aucs.append(roc_auc_score(y["eval"][:, j], clf.predict_proba(x_eval)[:, 1]))
        frames = np.mean([len(streams["eval"][u]) for u in ids["eval"]])
        results[name] = {
            "mean_auc": float(np.mean(aucs)),
            "features": int(x_train.shape[1]),
            "frames_per_utt": float(frames),
        }
        print(
            f"{name:>12}: mean AUC {np.mean(aucs):.3f} over {len(vocab)} words "
            f"({x_train.shape[1]} n-gram features, {frames:.0f} tokens per utterance)"
        )
    if args.out:
        Path(args.out).write_text(json.dumps({"words": len(vocab), **results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
