"""The mini recipe's own reporting (RESULTS.md): run as ``python -m local.results`` from the
recipe directory. The stage measurement it reads is the toolkit's ``bin/measure``."""
