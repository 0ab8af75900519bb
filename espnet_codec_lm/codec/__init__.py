"""Neural speech codec: interface, SoundStream-style model, RVQ, discriminators, losses, training.

Typical use::

    from espnet_codec_lm.codec import load_codec
    codec = load_codec("egs2/mini_bilingual/codec_lm1/pretrained/codec")
    codes = codec.encode(wav, n_q=3)      # [3, T] int64 at 50 Hz
    wav_hat = codec.decode(codes)         # [T * 320] float
"""

from espnet_codec_lm.codec.abs_codec import AbsCodec, CodecInputError, check_waveform
from espnet_codec_lm.codec.model import SoundStreamCodec, load_codec, save_codec

__all__ = [
    "AbsCodec",
    "CodecInputError",
    "SoundStreamCodec",
    "check_waveform",
    "load_codec",
    "save_codec",
]
