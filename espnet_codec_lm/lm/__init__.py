"""The speech LM (SPEC section 2) on transformers' Qwen2.

Modules (import them directly; this package stays import-light so that ``lm.vocab`` costs
nothing): ``vocab`` (VocabLayout, STREAM_PAD, IGNORE_ID), ``tokenizer`` (TextTokenizer),
``config`` (SpeechLMConfig), ``model`` (SpeechLM, SpeechLMOutput), ``build``
(build_speech_lm: the init modes), ``labels`` (shift_labels). See doc/lm.md.
"""
