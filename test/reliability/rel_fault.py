"""Fault injection: run an entry point's ``main`` in a forked child that SIGKILLs itself at a
chosen point (the N-th time the process reaches it), so a kill lands exactly where a test wants
it instead of wherever a timer happens to fire.

The child is a real process killed by a real ``SIGKILL``: no ``finally`` block, no atexit
handler, no flush runs, which is what a crash, the OOM killer or a pre-empted job does. The
children are forked from a fork server that has already imported torch and transformers
(:func:`_context`), which saves the ~10 s interpreter start per run that the suite cannot
afford on 2 cores.

Points (``name`` -> where the child dies):

``optimizer_step``   inside ``AdamW.step``, before the update of that step (mid-training)
``validate``         at the start of a validation pass (after the step's log row)
``ckpt_optimizer``   while writing a checkpoint: model weights written, optimiser not yet
``ckpt_latest``      after the checkpoint directory is renamed into place, before ``latest``
``decode_write``     (lm_decode) when the N-th utterance's speech outputs are being written
``tokenize_torn``    (codec_tokenize) half-way through writing the N-th utterance's ark entry
``dir_swap``         before the N-th directory swap (``fileio.replace_dir``: the codec's
                     weights + config written into the new directory, not swapped in yet)
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from pathlib import Path


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _patch(point: str, nth: int) -> None:
    count = [0]

    def hit() -> None:
        count[0] += 1
        if count[0] == nth:
            _die()

    if point == "optimizer_step":
        import torch

        orig = torch.optim.AdamW.step

        def step(self, *a, **k):
            hit()
            return orig(self, *a, **k)

        torch.optim.AdamW.step = step
    elif point == "validate":
        from espnet_codec_lm.train import trainer

        orig_v = trainer.Trainer.validate

        def validate(self):
            hit()
            return orig_v(self)

        trainer.Trainer.validate = validate
    elif point in ("ckpt_optimizer", "ckpt_latest"):
        from espnet_codec_lm.train import checkpoint

        if point == "ckpt_optimizer":
            from espnet_codec_lm.utils import checkpoint_io

            orig_s = checkpoint_io.save_tensors

            def save_tensors(path, tensors):
                if Path(path).name == "optimizer.safetensors":
                    hit()
                return orig_s(path, tensors)

            checkpoint_io.save_tensors = save_tensors  # what train/checkpoint.py calls
        else:
            orig_w = checkpoint.atomic_write_text

            def write_text(path, text):
                if Path(path).name == checkpoint.LATEST:
                    hit()
                return orig_w(path, text)

            checkpoint.atomic_write_text = write_text
    elif point == "decode_write":
        from espnet_codec_lm.decode.outputs import DecodeDir

        orig_d = DecodeDir.write_speech

        def write_speech(self, *a, **k):
            hit()
            return orig_d(self, *a, **k)

        DecodeDir.write_speech = write_speech
    elif point == "tokenize_torn":
        import io

        import kaldiio

        orig_ark = kaldiio.save_ark

        def save_ark(f, data, *a, **k):
            count[0] += 1
            if count[0] == nth and hasattr(f, "fileno"):  # a torn entry, then death
                buf = io.BytesIO()
                orig_ark(buf, data, *a, **k)
                f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                f.flush()
                os.fsync(f.fileno())
                _die()
            return orig_ark(f, data, *a, **k)

        kaldiio.save_ark = save_ark
    elif point == "dir_swap":
        from espnet_codec_lm.utils import fileio

        orig_swap = fileio.replace_dir

        def replace_dir(new, path):
            hit()  # every file of the new directory is written, the swap not done
            return orig_swap(new, path)

        fileio.replace_dir = replace_dir
    elif point != "none":
        raise ValueError(f"unknown fault point {point!r}")


def _child(verb: str, args: list[str], log: str, point: str, nth: int) -> None:
    """Body of the forked process: output to ``log``, one thread, the fault armed, then the
    entry point; its return value becomes the exit status."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    os.environ["ESPNET_CODEC_LM_NO_PROGRESS"] = "1"
    import torch

    torch.set_num_threads(1)  # every run of a comparison does the same arithmetic
    _patch(point, nth)
    code = importlib.import_module(f"espnet_codec_lm.bin.{verb}").main(list(args))
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(int(code or 0))


_CTX = None
#: imported once by the fork server (imports only: no torch kernel runs there)
PRELOAD = [
    "torch",
    "transformers",
    "transformers.models.qwen2.modeling_qwen2",
    "torch.distributed.checkpoint.state_dict",
    "safetensors.torch",
    "kaldiio",
    "soundfile",
    "espnet_codec_lm.train.build",
    "espnet_codec_lm.train.trainer",
    "espnet_codec_lm.lm.build",
    "espnet_codec_lm.decode.stage",
    "espnet_codec_lm.codec.model",
    "espnet_codec_lm.codec.tokenize",
    "espnet_codec_lm.tasks.dataset",
]


def _context():
    """A fork server that imported torch and transformers but never ran a kernel: a child
    forked from the test process itself can deadlock in OpenMP once the parent has run
    multi-threaded torch code (libgomp is not fork-safe), and a fresh interpreter per run costs
    ~10 s of imports."""
    global _CTX
    if _CTX is None:
        import multiprocessing as mp

        _CTX = mp.get_context("forkserver")
        _CTX.set_forkserver_preload(PRELOAD)
    return _CTX


def run_forked(verb: str, args: list[str], log: Path, point: str = "none", nth: int = 1) -> int:
    """Run ``espnet_codec_lm.bin.<verb>.main(args)`` in a forked child, dying at ``point``;
    returns the child's exit status (``-SIGKILL`` when it was killed)."""
    p = _context().Process(target=_child, args=(verb, [str(a) for a in args], str(log), point, nth))
    p.start()
    p.join()
    return int(p.exitcode)
