"""Tasks, prompt banks, sequence building and the CPT data mixture (SPEC sections 3-4).

Public API (see doc/tasks.md):

- :data:`TEMPLATES` / :func:`get_template` / :data:`TASK_NAMES`: the task templates as data;
- :class:`PromptBank` / :class:`TokenizedPrompts`: the YAML prompt banks;
- :class:`SequenceBuilder` (``build``, ``build_prefix``), :class:`Sample`, :class:`Example`,
  :class:`Prefix`, :class:`BuildConfig`: turning an utterance into a token sequence;
- :class:`DataConfig`, :class:`TaskDataset`, :func:`build_sources`: the packed, resumable,
  sharded batch pipeline the trainer consumes; :class:`MixtureConfig`: the CPT mixture;
- :class:`HookConfig`: punctuation restoration / machine translation hooks.
"""

from espnet_codec_lm.data.hooks import HookConfig
from espnet_codec_lm.tasks.dataset import (
    DataConfig,
    TaskDataset,
    TaskValidSource,
    build_sources,
)
from espnet_codec_lm.tasks.mixture import MixtureConfig, TaskSampler
from espnet_codec_lm.tasks.prompts import PromptBank, TokenizedPrompts
from espnet_codec_lm.tasks.sequence import (
    BuildConfig,
    Example,
    Prefix,
    Sample,
    SequenceBuilder,
    TimeMaskConfig,
)
from espnet_codec_lm.tasks.templates import TASK_NAMES, TEMPLATES, get_template

__all__ = [
    "TASK_NAMES",
    "TEMPLATES",
    "BuildConfig",
    "DataConfig",
    "Example",
    "HookConfig",
    "MixtureConfig",
    "Prefix",
    "PromptBank",
    "Sample",
    "SequenceBuilder",
    "TaskDataset",
    "TaskSampler",
    "TaskValidSource",
    "TimeMaskConfig",
    "TokenizedPrompts",
    "build_sources",
    "get_template",
]
