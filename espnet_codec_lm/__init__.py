"""espnet_codec_lm."""
