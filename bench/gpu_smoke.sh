#!/usr/bin/env bash
# GPU smoke test of the paper-scale paths: one script a maintainer runs when a GPU is at hand
# (under 8 minutes on one GPU), each step printing its throughput:
#   1. install check: torch, CUDA, bf16, transformers, the toolkit;
#   2. one CPT step of the Qwen1.5-0.5B-shaped speech LM (random weights from its sizes, no
#      download), bf16 under FSDP2 through torchrun, on the real task pipeline;
#   3. codec training steps (the paper codec config) on the device;
#   4. batched codec tokenization on the device (seconds of audio per second);
#   5. speech sampling with the KV cache (bench/decode_speed.py).
# CI runs it as `bench/gpu_smoke.sh --device cpu --size ci` (tiny shapes, fp32, gloo), so that
# the script cannot rot; doc/gpu.md has what it measured on a GPU.
#
# Usage: bench/gpu_smoke.sh [--device cuda|cpu] [--size paper|ci] [--nproc N] [--work DIR]
set -euo pipefail

device=cuda
size=paper
nproc=1
work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device=$2 ;;
    --size) size=$2 ;;
    --nproc) nproc=$2 ;;
    --work) work=$2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "gpu_smoke.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift 2
done
case "${device}" in cuda|cpu) ;; *) echo "gpu_smoke.sh: --device cuda or cpu" >&2; exit 2 ;; esac
case "${size}" in paper|ci) ;; *) echo "gpu_smoke.sh: --size paper or ci" >&2; exit 2 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "${root}"
if [ -x tools/venv/bin/python ]; then export PATH="${root}/tools/venv/bin:${PATH}"; fi
export PYTHONPATH="${root}${PYTHONPATH:+:${PYTHONPATH}}"
export ESPNET_CODEC_LM_NO_PROGRESS=1
if [ -z "${work}" ]; then
  work=$(mktemp -d -t gpu_smoke.XXXXXX)
  trap 'rm -rf "${work}"' EXIT
fi
mkdir -p "${work}"
conf=egs2/TEMPLATE/codec_lm1/conf
t_all=$(date +%s)
step() { echo; echo "=== $1 ($(( $(date +%s) - t_all )) s so far)"; }

if [ "${size}" = paper ]; then
  # Qwen1.5-0.5B: hidden 1024, 24 layers, 16 heads, FFN 2816, 151,936 text rows, tied embeddings
  arch="model.arch.hidden_size=1024 model.arch.num_hidden_layers=24 model.arch.num_attention_heads=16"
  arch+=" model.arch.num_key_value_heads=16 model.arch.intermediate_size=2816"
  arch+=" model.arch.text_rows=151936 model.arch.tie_word_embeddings=true"
  arch+=" model.arch.rope_theta=1000000.0 model.arch.max_position_embeddings=32768"
  lm_batch="batch.global_sequences=$((4 * nproc)) batch.micro_batch=4 batch.max_len=4096"
  lm_steps=3; codec_conf=${conf}/codec/paper.yaml; codec_steps=20; codec_batch=16
  utts=40; seconds=4.0; decode_sizes=qwen0.5b; frames=300; prefix=200
else
  arch="model.arch.hidden_size=64 model.arch.num_hidden_layers=2 model.arch.num_attention_heads=2"
  arch+=" model.arch.num_key_value_heads=2 model.arch.intermediate_size=128"
  lm_batch="batch.global_sequences=$((2 * nproc)) batch.micro_batch=2 batch.max_len=256"
  lm_steps=2; codec_conf=${conf}/codec/debug.yaml; codec_steps=3; codec_batch=4
  utts=8; seconds=1.0; decode_sizes=debug; frames=20; prefix=40
fi
if [ "${device}" = cuda ]; then precision=bf16; else precision=fp32; fi

step "1. install check"
python - "${device}" <<'EOF'
import sys
import torch, transformers
import espnet_codec_lm
print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
      f"espnet_codec_lm from {espnet_codec_lm.__file__}")
if sys.argv[1] == "cuda":
    if not torch.cuda.is_available():
        sys.exit("gpu_smoke.sh: --device cuda but torch sees no CUDA device")
    p = torch.cuda.get_device_properties(0)
    print(f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} x {p.name}, "
          f"{p.total_memory / 2**30:.0f} GiB, bf16 {torch.cuda.is_bf16_supported()}")
else:
    print(f"CPU only: {torch.get_num_threads()} threads")
EOF

step "2. CPT step of the ${size}-shaped speech LM (${precision}, FSDP2, ${nproc} process(es))"
# shellcheck disable=SC2086  # the override lists are word lists on purpose
torchrun --standalone --nproc_per_node="${nproc}" bench/train_throughput.py \
  --config "${conf}/lm/cpt_speech_text_qwen1.5_0.5b.yaml" --steps "${lm_steps}" --utts 16 \
  model.init=none model.base_llm=null ${arch} ${lm_batch} \
  dist.fsdp=true dist.precision="${precision}" optim.warmup_steps=0

step "3. codec training (${codec_conf}, ${device}, ${precision})"
python - "${work}/audio" "${utts}" "${seconds}" <<'EOF'
import sys
from espnet_codec_lm.testing.audio import make_data_dir
make_data_dir(sys.argv[1], n_utts=int(sys.argv[2]), n_speakers=2, seconds=float(sys.argv[3]))
EOF
t0=$(date +%s.%N)
python -m espnet_codec_lm.bin.codec_train --config "${codec_conf}" --exp_dir "${work}/codec" \
  data.train="${work}/audio" data.valid="${work}/audio" data.batch_size="${codec_batch}" \
  data.aug_prob=0.0 max_steps="${codec_steps}" valid_every=1000000 log_every=1 \
  device="${device}" precision="${precision}" > "${work}/codec.log" 2>&1 \
  || { tail -20 "${work}/codec.log"; exit 1; }
t1=$(date +%s.%N)
python - "${t0}" "${t1}" "${codec_steps}" "${codec_batch}" "${work}/codec.log" <<'EOF'
import re, sys
t0, t1, n, b = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rates = [float(m) for m in re.findall(r" ([0-9.]+) step/s", open(sys.argv[5]).read())]
steady = f"{rates[-1]:.2f} steps/s at the last step" if rates else "no step logged"
print(f"codec training: {n} steps of {b} segments in {t1 - t0:.1f} s wall with start-up; "
      f"{steady}")
EOF

step "4. batched codec tokenization (${device})"
t0=$(date +%s.%N)
python -m espnet_codec_lm.bin.codec_tokenize --codec_dir "${work}/codec/codec" --data "${work}/audio" \
  --out_dir "${work}/codes" --batch_size 16 --device "${device}" > "${work}/tok.log" 2>&1 \
  || { tail -20 "${work}/tok.log"; exit 1; }
t1=$(date +%s.%N)
python - "${t0}" "${t1}" "${work}/codes/codes.scp" "${utts}" "${seconds}" <<'EOF'
import sys
import kaldiio
t0, t1, scp = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
n = sum(1 for _ in kaldiio.load_scp(scp).items())
audio = int(sys.argv[4]) * float(sys.argv[5])
assert n == int(sys.argv[4]), f"{scp}: {n} utterances, expected {sys.argv[4]}"
print(f"tokenization: {n} utterances, {audio:.0f} s of audio in {t1 - t0:.1f} s wall "
      f"(start-up included): {audio / (t1 - t0):.1f} s of audio per s")
EOF

step "5. speech sampling with the KV cache (${decode_sizes})"
python bench/decode_speed.py --device "${device}" --sizes "${decode_sizes}" \
  --frames "${frames}" --base-frames "${frames}" --prefix "${prefix}" --repeats 1 \
  --out "${work}/decode_speed.json"

echo
echo "gpu_smoke.sh: all steps passed in $(( $(date +%s) - t_all )) s (${device}, ${size})"
