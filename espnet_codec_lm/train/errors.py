"""Exceptions of the LM trainer that its entry point handles (light: no torch import)."""

from __future__ import annotations


class TrainingInterrupted(RuntimeError):
    """SIGTERM / SIGINT stopped the run after a step; its checkpoint is saved (rerun to resume)."""

    def __init__(self, message: str, signum: int | None = None) -> None:
        super().__init__(message)
        self.signum = signum
