"""Stop a training loop cleanly on SIGTERM / SIGINT: finish the step, checkpoint, exit.

A scheduler's preemption or Ctrl-C sets a flag instead of killing the process mid-write, so the
loop can save a checkpoint a rerun resumes from. Shared by every trainer of the toolkit (codec,
USTokenizer, LM; the LM's adds an all-reduce so all ranks stop at the same step).
"""

from __future__ import annotations

import signal
import threading


class StopRequest:
    """Installs the handlers on creation (main thread only; elsewhere signals cannot be
    caught and the flag simply stays unset); :meth:`restore` puts the old ones back. Also a
    context manager that restores on exit."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        self.signum = signum

    @property
    def stopped(self) -> bool:
        """A signal arrived since the handlers were installed."""
        return self.signum is not None

    def restore(self) -> None:
        """Reinstall the handlers that were there before."""
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}

    def __enter__(self) -> StopRequest:
        return self

    def __exit__(self, *exc) -> None:
        self.restore()
