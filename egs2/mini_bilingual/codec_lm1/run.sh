#!/usr/bin/env bash
# The mini bilingual recipe: the paper's method offline on a CPU at toy scale (make demo).
#
#   ./run.sh                     the main system (Speech & Text CPT) through every task
#   ./run.sh --systems all       the paper's four systems and DualSpeechLM: the full tables
#                                (RESULTS_all.md, as any selection but the main system alone; the
#                                main system's stages already done by ./run.sh are not rerun)
#   ./run.sh --systems "no_init text_llm"   any of no_init text_llm speech_cpt speech_text_cpt dual
#   ./run.sh --systems dual      DualSpeechLM (USTokens in, codec tokens out; doc/dualspeechlm.md)
#                                after the main system (its ASR scores the dual system's speech)
#   ./run.sh --smoke true        tiny models and a few steps per stage (CI; with MINI_SIZE=tiny)
#   ./run.sh --budget long       the main system on the large corpus with more steps (~80 min on 2 cores,
#                                resumable: rerun the same command after an interruption);
#                                large corpus in data_long/ dump_long/ exp_long/, RESULTS_long.md
#   MINI_SIZE=tiny|default|large ./run.sh    corpus size (default: default)
#   ./run.sh --codec_dir ""      train the codec (stage 3) instead of using pretrained/codec
#   ./run.sh --sft joint         one multi-task SFT per system (before 2026-12: the default) instead of
#                                two: ASR + S2TT (understanding) and TTS + S2ST (generation)
#   ./run.sh --spk_model DIR --mos_model FILE   SPK-SIM / UTMOS with local checkpoints
#
# Stages 1-5 (data, validation, codec, tokenization, BPE + the text LLM that stands in for
# Qwen1.5) run once; stages 6-9 (CPT, SFT, decoding, scoring) once per system;
# stage 10 (report) once, then local/results.py completes RESULTS.md (findings, run, timings,
# spectrograms). Every other option goes to codec_lm.sh (./codec_lm.sh --help), e.g.
# --stage 6 --stop_stage 9. Wall / CPU time and peak memory of every stage: exp/stage_times.jsonl.
set -euo pipefail
cmdline="$0 $*"
size=${MINI_SIZE:-}
# the machine's two cores go to one process at a time (steps with --nj 2 pin one thread each)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

systems=main  # main | all | a list of: no_init text_llm speech_cpt speech_text_cpt dual
smoke=false   # true: conf/smoke (seconds per stage; checks the plumbing, not the quality)
budget=default  # default (make demo, <= 30 min) | long (conf/long, the large corpus, ~80 min)
stage=1
stop_stage=10
codec_dir=pretrained/codec
ust_dir=pretrained/ustokenizer  # DualSpeechLM's USTokenizer ("" = train one in stage 5, ~25 min)
sft=groups    # groups: one SFT of ASR + S2TT and one of TTS + S2ST per system | joint: one of all four
passed=()
while [ $# -gt 0 ]; do
  case "$1" in
    --systems) systems=$2 ;;
    --smoke) smoke=$2 ;;
    --stage) stage=$2 ;;
    --stop_stage) stop_stage=$2 ;;
    --codec_dir) codec_dir=$2 ;;
    --ust_dir) ust_dir=$2 ;;
    --budget) budget=$2 ;;
    --sft) sft=$2 ;;
    *)
      passed+=("$1")
      shift
      continue
      ;;
  esac
  shift 2
done
case "${smoke}" in true | false) ;; *) echo "run.sh: --smoke true|false" >&2 && exit 1 ;; esac
case "${sft}" in
  groups) sft_args=(--sft_groups "asr,s2tt tts,s2st") ;;
  joint) sft_args=(--sft_joint true) ;;
  *) echo "run.sh: --sft groups|joint" >&2 && exit 1 ;;
esac
# the budget's configs, corpus size and directories (the two budgets never share outputs)
results=RESULTS.md
dirs=()
case "${budget}" in
  default) size=${size:-default} ;;
  long)
    size=${size:-large}
    results=RESULTS_long.md
    dirs=(--dumpdir dump_long --expdir exp_long)
    ;;
  *) echo "run.sh: --budget default|long" >&2 && exit 1 ;;
esac
case "${systems}" in
  main) systems="speech_text_cpt" ;;
  all) systems="no_init text_llm speech_cpt speech_text_cpt dual" ;;
esac
# any other selection than the main system alone: its tables go beside the main system's
# (make demo keeps RESULTS.md)
if [ "${systems}" != speech_text_cpt ] && [ "${budget}" = default ] && [ "${smoke}" = false ]; then
  results=RESULTS_all.md
fi
system_args() { # the paper's four systems as codec_lm.sh flags
  case "$1" in
    no_init) echo "--init none --cpt_mode none" ;;
    text_llm) echo "--init text_llm --cpt_mode none" ;;
    speech_cpt) echo "--init text_llm --cpt_mode speech" ;;
    speech_text_cpt) echo "--init text_llm --cpt_mode speech_text" ;;
    # DualSpeechLM with the same CPT + SFT budget as the main system; the shipped USTokenizer
    # (pretrained/ustokenizer); its speech is scored by the main system's ASR. Acoustic decoder:
    # 2 layers (the paper's 6 sit on a 32-layer LLM; ours has 4), 8 heads, the LLM's width
    dual) echo "--init text_llm --cpt_mode speech_text --lm_kind dual --system DualSpeechLM" \
      "--ust_dir ${ust_dir} --score_asr lm:${expdir}/lm_sft_asr_s2tt_speech_text_cpt" \
      "--lm_args model.dual.decoder.num_hidden_layers=2" ;;
    *) echo "run.sh: unknown system '$1' (no_init text_llm speech_cpt speech_text_cpt dual)" >&2 && return 1 ;;
  esac
}

conf=conf/mini
train_conf=conf/mini
[ "${budget}" = long ] && train_conf=conf/long
codec_args=()
if [ "${smoke}" = true ]; then
  conf=conf/smoke
  train_conf=conf/smoke
  codec_dir="" # a one-step codec of our own: exercises stage 3
  codec_args=(--codec_args "max_steps=1 log_every=1 valid_every=100000")
elif [ "${codec_dir}" = pretrained/codec ] && [ ! -f pretrained/codec/config.yaml ]; then
  echo "run.sh: no shipped codec in pretrained/codec; stage 3 trains one (hours on a CPU)" >&2
  codec_dir=""
fi
bpe_vocab_size=2000
score_asr_args="decoding.text.beam_size=4 decoding.text.script=target" # the own ASR (generated speech)
if [ "${smoke}" = true ]; then
  bpe_vocab_size=800
  score_asr_args="decoding.text.beam_size=1 decoding.text.max_len_cap=8"
fi

datadir=data
[ "${budget}" = long ] && datadir=data_long
pool=${datadir}/text_pool
common=(
  --nj 2 --ngpu 0
  --local_data_opts "--size ${size} --out ${datadir}"
  --train_set train --valid_set dev --test_sets test
  --codec_config conf/codec/debug.yaml --codec_dir "${codec_dir}" "${codec_args[@]}"
  --bpe_vocab_size "${bpe_vocab_size}" --bpe_cjk_chars true
  --text_llm_config "${train_conf}/text_llm.yaml"
  --text_pools "${pool}/general.en ${pool}/general.zh"
  --mt_pools "${pool}/mt.en-zh.tsv"
  --heldout_text "${pool}/heldout.en ${pool}/heldout.zh"
  --lm_config "${train_conf}/cpt.yaml"
  --sft_config "${train_conf}/sft_{task}.yaml" "${sft_args[@]}"
  --decode_config "${conf}/decode_{task}.yaml"
  --tasks "asr tts s2tt:en s2tt:zh s2st:en"
  --score_asr self --score_asr_args "${score_asr_args}"
  --results "${results}" --datadir "${datadir}"
  "${dirs[@]}"
)
expdir=exp
[ "${budget}" = long ] && expdir=exp_long
for ((i = 0; i < ${#passed[@]}; i++)); do # the experiment root, if the caller moved it
  [ "${passed[i]}" = --expdir ] && expdir=${passed[i + 1]}
done
times=${expdir}/stage_times.jsonl
mkdir -p "${expdir}"
[ "${stage}" -le 1 ] && rm -f "${times}" # a run from the start times every stage afresh

# codec_lm.sh parses and checks every option first (a typo fails here, not an hour later)
quiet=/dev/stdout
for sys in ${systems}; do
  read -r -a sargs <<< "$(system_args "${sys}")"
  ./codec_lm.sh "${common[@]}" "${sargs[@]}" "${passed[@]}" --stage 1 --stop_stage 0 > "${quiet}"
  quiet=/dev/null
done

names=("" "data preparation" "validation" "codec training" "tokenization" "BPE + text LLM"
  "CPT" "SFT, ${sft}" "decoding" "scoring" "report")
run_stage() { # run_stage N SYSTEM: one stage of codec_lm.sh, timed
  local n=$1 label="stage $1: ${names[$1]}" sargs
  [ "${n}" -ge 6 ] && [ "${n}" -le 9 ] && label+=" (${2})"
  read -r -a sargs <<< "$(system_args "$2")"
  python -m espnet_codec_lm.bin.measure run --log "${times}" --label "${label}" -- \
    ./codec_lm.sh "${common[@]}" "${sargs[@]}" "${passed[@]}" --stage "${n}" --stop_stage "${n}"
}
in_range() { [ "$1" -ge "${stage}" ] && [ "$1" -le "${stop_stage}" ]; }

. ./path.sh
first=${systems%% *}
for n in 1 2 3 4 5; do
  in_range "${n}" && run_stage "${n}" "${first}"
done
# DualSpeechLM's USTokens are made in stage 5 too (its other steps are done already by then)
if [ "${first}" != dual ] && [[ " ${systems} " == *" dual "* ]] && in_range 5; then
  run_stage 5 dual
fi
for sys in ${systems}; do
  for n in 6 7 8 9; do
    in_range "${n}" && run_stage "${n}" "${sys}"
  done
done
if in_range 10; then
  # stage 10: bin/report's tables (codec_lm.sh's stage 10) completed into RESULTS.md by
  # local/results.py; spectrograms of a few generated utterances go to doc/mini_results of the
  # repository (a smoke run keeps them in its experiment directory)
  png_dir=${MAIN_ROOT}/doc/mini_results
  [ "${budget}" = long ] && png_dir=${MAIN_ROOT}/doc/mini_results/long
  [ "${results}" = RESULTS_all.md ] && png_dir=${MAIN_ROOT}/doc/mini_results/all
  [ "${smoke}" = true ] && png_dir=${expdir}/spectrograms
  python -m espnet_codec_lm.bin.measure run --log "${times}" --label "stage 10: ${names[10]}" -- \
    python -m local.results --results "${results}" --exp "${expdir}" --times "${times}" \
    --command "${cmdline}" --size "${size}" --systems "${systems}" --smoke "${smoke}" \
    --budget "${budget}" \
    --png_dir "${png_dir}"
fi
echo "Wall time, CPU time and peak memory per stage (${times}):"
python -m espnet_codec_lm.bin.measure summary --log "${times}"
