"""Kaldi data directories and the synthetic bilingual mini corpus.

- :mod:`.data_dir`: :class:`DataDir` (read / write / subset / select / combine / filter)
- :mod:`.audio`: any ``wav.scp`` entry -> 16 kHz mono float32, with one-line errors
- :mod:`.validate`: every problem of a data dir; the ``skip_bad`` policy
- :mod:`.corpora`: ``prepare_<corpus>()`` registry behind ``bin/prepare_data``
- :mod:`.grammar`, :mod:`.espeak`, :mod:`.mini_corpus`: the mini corpus generator
- :mod:`.speech_check`: checks that the Mandarin audio speaks the characters
"""
