"""Write a speech set (Kaldi data dir + codes.scp [+ codes_tgt.scp]) as WebDataset tar shards
plus a manifest, the input of the streaming CPT source (``data.kind: shards``; doc/tasks.md,
"Streaming data").

Each shard holds consecutive utterances of the codes list: per utterance its id, language,
transcript, translation and its language, speaker, codes and target codes. Shards and the
manifest are written atomically (the manifest last); rerunning rewrites them.

Usage:
    python -m espnet_codec_lm.bin.make_shards --data_dir dump/data/train \\
        --codes dump/lm_codes/train/codes.scp --num_shards 64
    # -> dump/lm_codes/train/shards/{shard-000000.tar ..., manifest.json}
    #    (the place data.kind: shards looks for the shards of a data.speech_sets entry)
    python -m espnet_codec_lm.bin.make_shards --data_dir data/s2st --codes codes/codes.scp \\
        --codes_tgt codes/codes_tgt.scp --out_dir shards/s2st --shard_utts 2000
"""

from __future__ import annotations

from espnet_codec_lm.bin._common import cli_parser, run_stage


def get_parser():
    p = cli_parser(__doc__)
    p.add_argument("--data_dir", required=True, help="Kaldi data dir (text, utt2spk, ...)")
    p.add_argument("--codes", required=True, help="codes.scp written by the tokenize stage")
    p.add_argument("--codes_tgt", default=None, help="codes_tgt.scp (S2ST target speech)")
    p.add_argument("--out_dir", default=None, help="default: <dir of --codes>/shards")
    p.add_argument("--num_shards", type=int, default=0, help="0: one per --shard_utts")
    p.add_argument("--shard_utts", type=int, default=1000, help="utterances per shard")
    p.add_argument("--punctuate", action="store_true", help="mark the set for the punctuation hook")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)

    def body(log) -> None:
        # lazy: --help stays fast (the task modules import torch-side code)
        from espnet_codec_lm.tasks.shards import MANIFEST, default_shard_dir, write_shards
        from espnet_codec_lm.utils.progress import progress

        out = args.out_dir or default_shard_dir(args.codes)
        with progress(desc="shards", unit="utt") as bar:
            m = write_shards(
                args.data_dir, args.codes, out, args.codes_tgt, args.num_shards,
                args.shard_utts, args.punctuate, progress=bar.update,
            )  # fmt: skip
        log.info(
            "%s: %d utterances (%d frames) in %d shards, %.1f MB",
            f"{out}/{MANIFEST}", m["utterances"], m["frames"], len(m["shards"]),
            sum(s["bytes"] for s in m["shards"]) / 1e6,
        )  # fmt: skip

    return run_stage("make_shards", body)


if __name__ == "__main__":
    raise SystemExit(main())
