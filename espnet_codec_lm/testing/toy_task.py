"""A toy task for the tests that show a task is added by one registry entry (and its prompts)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from espnet_codec_lm.tasks.templates import (
    TASK_NAMES,
    TEMPLATES,
    Segment,
    TaskTemplate,
    register_task,
)


def speak_translation_template(name: str = "speak_translation") -> TaskTemplate:
    """Read the translation aloud in the utterance's own language, with no voice prompt."""
    return TaskTemplate(
        name,
        (
            Segment("condition", "translation", "text"),
            Segment("prompt", "task_prompt", "text"),
            Segment("target", "speech", "speech"),
        ),
        stages=("sft",),
        requires=("codes", "translation"),
        target_lang="lang",
    )


@contextlib.contextmanager
def registered(template: TaskTemplate) -> Iterator[TaskTemplate]:
    """``template`` in the registry for the block, then removed (the other ids unchanged)."""
    before = list(TASK_NAMES)
    register_task(template)
    try:
        yield template
    finally:
        del TEMPLATES[template.name]
        TASK_NAMES.remove(template.name)
    assert TASK_NAMES == before
