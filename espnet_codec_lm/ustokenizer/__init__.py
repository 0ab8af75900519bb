"""USTokenizer (DualSpeechLM): one understanding-driven speech token per 40 ms, trained through
a frozen text LLM. See doc/dualspeechlm.md.

Typical use::

    from espnet_codec_lm.ustokenizer import load_ustokenizer
    tok = load_ustokenizer("exp/ustokenizer_mini/model")
    codes = tok.encode(wav)        # [ceil(N / 640)] int64 in [0, 1024) at 25 Hz (16 kHz audio)
"""

from espnet_codec_lm.ustokenizer.model import (
    USTokenizer,
    USTokenizerError,
    load_ustokenizer,
    save_ustokenizer,
)

__all__ = ["USTokenizer", "USTokenizerError", "load_ustokenizer", "save_ustokenizer"]
