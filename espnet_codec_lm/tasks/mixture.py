"""The CPT data mixture: which task each example of a CPT batch comes from.

Speech + text CPT (paper Sec. 4.2): each of the six tasks built from the speech data is drawn with
probability 0.15; the remaining 0.10 is text only, 0.05 general text and 0.05 MT pairs.
Speech-only CPT draws every example from the prompt-free speech LM task (``speech_lm``, Eq. 3).

Draws are independent per example (the paper's loader "randomly selects data for each task");
a task whose data is missing (no MT pool, no translations...) is left out and the others are
renormalised, with a warning, rather than failing a run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np

log = logging.getLogger("tasks")


@dataclass
class MixtureConfig:
    """Probability of each CPT source (normalised to sum 1 over the sources with data)."""

    continuation: float = 0.15
    text_lm: float = 0.15
    asr: float = 0.15
    tts: float = 0.15
    s2tt: float = 0.15
    t2st: float = 0.15
    text: float = 0.05  # general text pool
    mt: float = 0.05  # machine-translation pairs
    speech_lm: float = 0.0  # prompt-free speech continuation (speech-only CPT uses only this)

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def speech_only(cls) -> MixtureConfig:
        zero = {f.name: 0.0 for f in fields(cls)}
        return cls(**{**zero, "speech_lm": 1.0})


class TaskSampler:
    """Draws task names with the mixture's probabilities over the available tasks."""

    def __init__(self, mixture: dict[str, float], available: set[str] | None = None) -> None:
        bad = {k: v for k, v in mixture.items() if v < 0}
        if bad:
            raise ValueError(f"mixture: negative probabilities {bad}")
        kept = {k: v for k, v in mixture.items() if v > 0 and (available is None or k in available)}
        dropped = sorted(k for k, v in mixture.items() if v > 0 and k not in kept)
        if dropped:
            log.warning(
                "mixture: no data for %s; renormalising over the others", ", ".join(dropped)
            )
        if not kept:
            raise ValueError(f"mixture: no task with both a probability > 0 and data ({mixture})")
        self.tasks = tuple(kept)
        p = np.asarray([kept[t] for t in self.tasks], dtype=np.float64)
        self.probs = p / p.sum()
        self._cdf = np.cumsum(self.probs)
        self._cdf[-1] = 1.0

    def draw(self, rng: np.random.Generator) -> str:
        """One task name."""
        return self.tasks[int(np.searchsorted(self._cdf, rng.random(), side="right"))]

    def shares(self) -> dict[str, float]:
        return dict(zip(self.tasks, self.probs.tolist()))
