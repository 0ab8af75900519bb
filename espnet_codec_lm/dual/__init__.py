"""DualSpeechLM (arXiv 2508.08961): an LLM that reads USTokens and an acoustic decoder that
writes codec tokens, trained and decoded with the toolkit's task pipeline, trainer and decoder
(doc/dualspeechlm.md)."""
