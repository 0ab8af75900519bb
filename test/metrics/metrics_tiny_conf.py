"""Sizes of the tiny random speaker / MOS models the metrics tests save and reload.

A module of its own (not conftest.py): ``from conftest import ...`` picks whichever
conftest pytest imported first when the whole suite runs."""

TINY_SPK_CONF = {
    "frontend": "asteroid_frontend",
    "frontend_conf": {"sinc_filters": 16, "sinc_kernel_size": 31, "sinc_stride": 16},
    "normalize": None,
    "encoder": "rawnet3",
    "encoder_conf": {"model_scale": 2, "ndim": 16, "output_size": 24},
    "pooling": "chn_attn_stat",
    "projector": "rawnet3",
    "projector_conf": {"output_size": 8},
    "loss": "aamsoftmax",  # present in real configs; its weights are ignored at inference
}
TINY_UTMOS = dict(
    conv_dim=16,
    hidden=24,
    num_layers=1,
    ffn_dim=32,
    pos_conv_kernel=16,
    pos_conv_groups=4,
    domain_dim=4,
    judge_dim=4,
    rnn_hidden=8,
    proj_hidden=16,
)
