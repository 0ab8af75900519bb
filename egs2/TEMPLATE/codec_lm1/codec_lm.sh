#!/usr/bin/env bash
# The stage script of every codec-LM recipe (run it through a recipe's run.sh).
# Each stage calls one entry point, python -m espnet_codec_lm.bin.<verb>: no model or data logic
# lives here. Every step logs its command, writes its output under data/ dump/ exp/, and leaves
# a marker holding its command line: a rerun skips a step whose marker matches, and runs it again
# when its command changed. Stage list: see help_message below or doc/recipes.md.
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}) $*"
}
die() {
  log "ERROR: $*"
  exit 1
}
SECONDS=0

# ------------------------------------------------------------------------------------- options
stage=1                 # first stage to run
stop_stage=10           # last stage to run
nj=2                    # parallel jobs (data validation, tokenization)
ngpu=0                  # GPUs per training run (0: CPU; >1: torchrun, one process per GPU)
datadir=data            # Kaldi data dirs written by local/data.sh
dumpdir=dump            # validated data (dump/data/<set>) and codes (dump/codes/<set>)
expdir=exp              # experiments: codec, text tokenizer, LM runs, decoding, scores
local_data_opts=""      # options passed to local/data.sh
train_set=train         # training set (codec, CPT, SFT)
valid_set=dev           # validation set
test_sets="test"        # decoded and scored by every task
skip_bad=true           # stage 2: drop utterances with unusable audio/text (listed in skipped_utts)
filter_config=""        # stage 2: ValidateConfig YAML for train/valid (duration, length limits)
codec_config=conf/codec/debug.yaml  # stage 3: codec training config
codec_dir=""            # a trained codec directory (config.yaml + model.safetensors): skips stage 3
codec_args=""           # stage 3: extra key=value overrides for codec_train
codec_tag=""            # codec experiment name (default: the codec config's file name)
n_q=3                   # stage 4: codebooks tokenised (the LM's L')
base_llm=""             # local Hugging Face directory of the base text LLM (Qwen1.5-0.5B)
text_llm_config=""      # stage 5, no --base_llm: pretrain a text LLM from scratch (lm_train, text only)
text_llm_args=""        # stage 5: extra key=value overrides for the text LLM run
text_tokenizer=""       # stage 5: base (base_llm's), bpe, checkpoint, or a dir; "" = the fitting one
bpe_vocab_size=4000     # stage 5: size of a trained BPE tokenizer
bpe_cjk_chars=false     # stage 5: true = one BPE piece per CJK character (small Mandarin corpora)
text_pools=""           # text-only CPT data: general text files (one sentence a line)
heldout_text=""         # held-out text files (one sentence a line): perplexity of every LM run
mt_pools=""             # text-only CPT data: MT pairs (<name>.en-zh.tsv, or dirs: text + text.<lang>)
lm_config=conf/lm/cpt_speech_text_qwen1.5_0.5b.yaml  # stage 6: CPT config (LMTrainConfig)
cpt_sets=""             # CPT speech sets (default: the training set)
sft_config="conf/lm/sft_{task}_qwen1.5_0.5b.yaml"  # stage 7: SFT config, {task} substituted
sft_joint=false         # true: one multi-task SFT over all --tasks ({task} = joint), else one per task
sft_groups=""           # e.g. "asr,s2tt tts,s2st": one SFT run per group ({task} = asr_s2tt, ...)
decode_config="conf/decode/{task}.yaml"            # stage 8: decoding config per task
score_config=""         # stage 9: ScoringConfig YAML (ASR/speaker/MOS models); "" = text metrics
score_asr=""            # stage 9 ASR (TTS WER, ASR-BLEU): self = this system's own ASR SFT model
score_asr_args=""       # stage 9: key=value overrides of that ASR's decoding (LMDecodeConfig)
spk_model=""            # stage 9: speaker model dir for SPK-SIM ("" = not computed)
mos_model=""            # stage 9: UTMOS checkpoint ("" = not computed)
init=text_llm           # none | text_llm | <checkpoint>: what CPT (or, without CPT, SFT) starts from
cpt_mode=speech_text    # speech | speech_text | none (none: SFT straight from --init)
tasks="asr"             # SFT/decode tasks: asr tts s2tt s2st; task:lang decodes one source language
system=""               # system name in RESULTS.md (default: from --init and --cpt_mode)
tag=""                  # LM experiment suffix (default: from the system name)
lm_args=""              # extra key=value overrides for every lm_train run
decode_args=""          # extra key=value overrides for lm_decode
results=RESULTS.md      # stage 10 output
lm_kind=cpt             # cpt: the LM reads and writes codec tokens (the paper) | dual: DualSpeechLM
ust_config=conf/ustokenizer/mini.yaml  # stage 5, --lm_kind dual: USTokenizer training config
ust_dir=""              # a trained USTokenizer (config.yaml + model.safetensors): skips its training
ust_args=""             # stage 5: extra key=value overrides for ustokenizer_train
ust_rate=25             # USTokens per second (the USTokenizer's frame rate)
python=python3

help_message=$(
  cat << EOF
Usage: $0 [options]   (a recipe's run.sh passes its settings, then "\$@")

Stages:
   1  data preparation          local/data.sh \${local_data_opts}             -> \${datadir}/<set>
   2  validate / filter         bin.validate_data_dir (--skip_bad, --filter_config) -> \${dumpdir}/data/<set>
   3  codec training            bin.codec_train (skipped with --codec_dir)    -> \${expdir}/codec_<tag>/codec
   4  tokenization              bin.codec_tokenize (--n_q streams)            -> \${dumpdir}/codes/<set>
   5  text tokenizer            base LLM's own, or bin.lm_tokenizer (BPE)     -> \${expdir}/text_tokenizer_*
      (+ text LLM)              bin.lm_train --config \${text_llm_config}     -> \${expdir}/text_llm/hf
      (+ USTokenizer, dual)     bin.ustokenizer_train / _tokenize             -> \${dumpdir}/ust/<set>
   6  continual pre-training    bin.lm_train --config \${lm_config}            -> \${expdir}/lm_cpt_<tag>
   7  fine-tuning per task      bin.lm_train --config \${sft_config}           -> \${expdir}/lm_sft_<task>_<tag>
      (--sft_joint true: one run for all tasks)                                -> \${expdir}/lm_sft_<tag>
      (--sft_groups "asr,s2tt tts,s2st": one run per group)                     -> \${expdir}/lm_sft_asr_s2tt_<tag>
   8  decoding                  bin.lm_decode --config \${decode_config}       -> .../decode_<task>_<test set>
   9  scoring                   bin.score --config \${score_config}            -> .../scores.yaml
  10  report                    bin.report                                    -> \${results}

Options (default):
  --stage ${stage} --stop_stage ${stop_stage} --nj ${nj} --ngpu ${ngpu}
  --datadir ${datadir} --dumpdir ${dumpdir} --expdir ${expdir}
  --train_set ${train_set} --valid_set ${valid_set} --test_sets "${test_sets}"
  --skip_bad ${skip_bad} --filter_config "${filter_config}"
  --codec_config ${codec_config} --codec_dir "${codec_dir}" --codec_args "${codec_args}" --n_q ${n_q}
  --base_llm "${base_llm}" --text_tokenizer "${text_tokenizer}" --bpe_vocab_size ${bpe_vocab_size} --bpe_cjk_chars ${bpe_cjk_chars}
  --text_llm_config "${text_llm_config}" --text_llm_args "${text_llm_args}"
  --text_pools "${text_pools}" --mt_pools "${mt_pools}" --heldout_text "${heldout_text}"
  --lm_config ${lm_config} --cpt_sets "${cpt_sets}"
  --sft_config ${sft_config} --sft_joint ${sft_joint} --sft_groups "${sft_groups}" --decode_config ${decode_config}
  --score_config "${score_config}" --score_asr "${score_asr}" (self | "") --score_asr_args "${score_asr_args}"
  --spk_model "${spk_model}" --mos_model "${mos_model}"
  --init ${init} (none | text_llm | checkpoint dir) --cpt_mode ${cpt_mode} (speech | speech_text | none)
  --tasks "${tasks}" --system "${system}" --tag "${tag}"
  --lm_args "${lm_args}" --decode_args "${decode_args}" --results ${results}
  --lm_kind ${lm_kind} (cpt | dual) --ust_config ${ust_config} --ust_dir "${ust_dir}" --ust_args "${ust_args}"
  --config FILE   (name=value lines, read in order with the other options)

Systems of the paper: --cpt_mode none --init none (No Initialization); --cpt_mode none
--init text_llm (Text LLM Initialization); --cpt_mode speech (Speech CPT); --cpt_mode speech_text
(Speech & Text CPT). Steps run through \${run_cmd} from cmd.sh (local, or Slurm).
--tasks "asr s2tt:en s2tt:zh": SFT trains each task once; task:lang decodes and scores only the
source language lang (one translation direction) into decode_<task>_<set>_<lang>.
--lm_kind dual (DualSpeechLM, doc/dualspeechlm.md): stage 5 also trains (or takes --ust_dir) a
USTokenizer and tokenises every set into \${dumpdir}/ust; the LM reads USTokens, its acoustic decoder
writes --n_q codec codebooks; --score_asr lm:EXP: another system's ASR judges its speech.
EOF
)

log "$0 $*"
. ./path.sh
. ./cmd.sh
. utils/parse_options.sh
[ $# -eq 0 ] || die "unexpected argument(s): $* (options are --name value)"

# ------------------------------------------------------------------------------------ helpers
current_stage=0
stage_on() { # stage_on N NAME: true when N is within [stage, stop_stage]; logs the header
  current_stage=$1
  if [ "$1" -ge "${stage}" ] && [ "$1" -le "${stop_stage}" ]; then
    log "==== Stage $1: $2"
    return 0
  fi
  return 1
}
stage_end() {
  log "Stage ${current_stage} finished (${SECONDS} s so far). To run it again:" \
    "$0 --stage ${current_stage} --stop_stage ${current_stage} (delete its .done markers to redo)"
}

# run_step MARKER LOGFILE [--gpu N] [--fresh PATH] [--redo PATH] -- CMD...
# Skip when MARKER holds this very command line. Else run CMD through ${run_cmd} and record the
# command line in MARKER on success. --fresh PATH: deleted before every run (outputs an entry
# point refuses to overwrite); --redo PATH: deleted only when the command changed (resumable
# outputs that an interrupted run of the same command continues). Both may repeat.
run_step() {
  local marker=$1 logfile=$2 gpu=0 fresh=() redo=() key=""
  shift 2
  while [ "$1" != -- ]; do
    case "$1" in
      --gpu) gpu=$2 ;;
      --fresh) fresh+=("$2") ;;
      --redo) redo+=("$2") ;;
      --key) key=$2 ;;
      *) die "run_step: unknown option $1" ;;
    esac
    shift 2
  done
  shift
  local cmdline
  cmdline=$(printf '%q ' "$@")
  [ -n "${key}" ] && cmdline+="# ${key}" # e.g. the input's checksum: a new input reruns the step
  if [ -f "${marker}" ] && [ "$(cat "${marker}")" = "${cmdline}" ]; then
    log "  done already (${marker}); skipping"
    return 0
  fi
  if [ -f "${marker}" ]; then
    log "  the command changed since ${marker} was written: running again"
    rm -rf "${redo[@]}" "${marker}"
  fi
  rm -rf "${fresh[@]}"
  log "  \$ ${cmdline}"
  log "  log: ${logfile}"
  if ! ${run_cmd} --log "${logfile}" --gpu "${gpu}" -- "$@"; then
    die "stage ${current_stage} failed; see ${logfile}. Fix it and rerun:" \
      "$0 --stage ${current_stage} --stop_stage ${current_stage}"
  fi
  mkdir -p "$(dirname "${marker}")"
  printf '%s\n' "${cmdline}" > "${marker}"
}

# py_entry VERB: how to start an entry point (torchrun for LM training on several GPUs)
py_entry() {
  if [ "$1" = lm_train ] && [ "${ngpu}" -gt 1 ]; then
    echo "torchrun --standalone --nproc_per_node ${ngpu} -m espnet_codec_lm.bin.$1"
  else
    echo "${python} -m espnet_codec_lm.bin.$1"
  fi
}

# speech_sets SET...: the YAML list of task-layer speech sets (data dir + codes [+ target codes])
speech_sets() {
  local out="" s item
  for s in "$@"; do
    item="{data_dir: '${dumpdir}/data/${s}', codes: '${lm_codes}/${s}/codes.scp'"
    if [ -f "${lm_codes}/${s}/codes_tgt.scp" ]; then
      item+=", codes_tgt: '${lm_codes}/${s}/codes_tgt.scp'"
    fi
    out+="${out:+, }${item}}"
  done
  echo "[${out}]"
}
yaml_list() { local out="" x; for x in "$@"; do out+="${out:+, }'${x}'"; done; echo "[${out}]"; }  # ['A', 'B']
subst_task() { echo "${1//\{task\}/$2}"; }

# ------------------------------------------------------------------------- derived settings
[ "${ngpu}" -eq 0 ] && export CUDA_VISIBLE_DEVICES=""
# the speech tokens the LM reads: the codec's, or (DualSpeechLM) the USTokenizer's
case "${lm_kind}" in
  cpt) lm_codes=${dumpdir}/codes ;;
  dual) lm_codes=${dumpdir}/ust ;;
  *) die "--lm_kind: cpt or dual, got '${lm_kind}'" ;;
esac
ust_exp=${expdir}/ustokenizer
[ -z "${ust_dir}" ] && ust_dir=${ust_exp}/model
case "${cpt_mode}" in speech | speech_text | none) ;; *) die "--cpt_mode: speech, speech_text or none" ;; esac
if [ -z "${system}" ]; then
  case "${cpt_mode}:${init}" in
    speech:*) system="Speech CPT" ;;
    speech_text:*) system="Speech & Text CPT" ;;
    none:none) system="No Initialization" ;;
    none:text_llm) system="Text LLM Initialization" ;;
    none:*) system="" ;;  # SFT from a checkpoint: the checkpoint's own system.yaml names it
  esac
fi
if [ -z "${tag}" ]; then # from the system name, else from the checkpoint's experiment
  init_name=$(basename "${init}")
  [ "${init_name}" = model ] && init_name=$(basename "$(dirname "${init}")")
  tag=$(echo "${system:-from_${init_name}}" | tr 'A-Z &' 'a-z__' | tr -s _)
fi
[ -z "${codec_tag}" ] && codec_tag=$(basename "${codec_config}" .yaml)
codec_exp=${expdir}/codec_${codec_tag}
[ -z "${codec_dir}" ] && codec_dir=${codec_exp}/codec
bpe_dir=${expdir}/text_tokenizer_bpe${bpe_vocab_size}
bpe_opts=()
case "${bpe_cjk_chars}" in
  true) bpe_dir+=_cjkchars bpe_opts=(--cjk-chars) ;;
  false) ;;
  *) die "--bpe_cjk_chars true|false, got '${bpe_cjk_chars}'" ;;
esac
# no base LLM but a text LLM config: stage 5 pretrains one (BPE + lm_train on text) and exports
# it as a plain Hugging Face directory that every LM run then takes as its base LLM
text_llm_exp=""
if [ -z "${base_llm}" ] && [ -n "${text_llm_config}" ]; then
  text_llm_exp=${expdir}/text_llm
  base_llm=${text_llm_exp}/hf # it carries the BPE tokenizer
  case "${text_tokenizer}" in "" | base | checkpoint) ;;
    *) die "--text_llm_config: the text LLM carries its own BPE; leave --text_tokenizer unset" ;;
  esac
fi
# text tokenizer: the base LLM's unless a BPE is asked for (or there is no base LLM)
if [ -z "${text_tokenizer}" ]; then
  if [ "${cpt_mode}" = none ] && [ "${init}" != none ] && [ "${init}" != text_llm ]; then
    text_tokenizer=checkpoint # fine-tuning a checkpoint of ours: it carries its tokenizer
  elif [ -n "${base_llm}" ]; then
    text_tokenizer=base
  else
    text_tokenizer=bpe
  fi
fi
case "${text_tokenizer}" in
  base | checkpoint) tokenizer_dir="" ;;
  bpe) tokenizer_dir=${bpe_dir} ;;
  *) tokenizer_dir=${text_tokenizer} ;;
esac
[ -z "${cpt_sets}" ] && cpt_sets=${train_set}
cpt_exp=${expdir}/lm_cpt_${tag}
# what SFT starts from: the CPT model when there is CPT, else --init
if [ "${cpt_mode}" = none ]; then sft_init=${init}; else sft_init=${cpt_exp}/model; fi
# --tasks entries are task or task:lang (decode one source language); SFT trains each task once
sft_tasks=$(for t in ${tasks}; do echo "${t%%:*}"; done | awk '!seen[$0]++' | tr '\n' ' ')
# the SFT runs: one "name exp tasks" line each (tasks comma-separated); every task in one run
[ "${sft_joint}" = true ] && [ -n "${sft_groups}" ] && die "--sft_joint true and --sft_groups exclude each other"
sft_runs() {
  local group task
  if [ "${sft_joint}" = true ]; then
    echo "joint ${expdir}/lm_sft_${tag} $(echo "${sft_tasks}" | xargs | tr ' ' ',')"
  elif [ -n "${sft_groups}" ]; then
    for group in ${sft_groups}; do
      echo "${group//,/_} ${expdir}/lm_sft_${group//,/_}_${tag} ${group}"
    done
  else
    for task in ${sft_tasks}; do echo "${task} ${expdir}/lm_sft_${task}_${tag} ${task}"; done
  fi
}
sft_exp() { # sft_exp TASK: the SFT experiment that serves TASK
  local name exp run_tasks
  while read -r name exp run_tasks; do
    if [[ ",${run_tasks}," == *",$1,"* ]]; then echo "${exp}" && return 0; fi
  done < <(sft_runs)
  die "--sft_groups \"${sft_groups}\": no group has the task $1"
}
if [ -n "${sft_groups}" ]; then # every task in exactly one group
  for t in ${sft_tasks}; do
    [[ " ${sft_groups//,/ } " == *" ${t} "* ]] || die "--sft_groups \"${sft_groups}\": no group has the task ${t}"
  done
  n=$(echo "${sft_groups}" | tr ', ' '\n' | awk NF | sort | uniq -d | head -1)
  [ -z "${n}" ] || die "--sft_groups \"${sft_groups}\": task ${n} in two groups"
fi
write_if_changed() { # write_if_changed FILE < CONTENT: FILE (and its time) kept when unchanged
  mkdir -p "$(dirname "$1")"
  cat > "$1.tmp"
  if cmp -s "$1.tmp" "$1"; then rm "$1.tmp"; else mv "$1.tmp" "$1"; fi
}
ppl_args() { # the held-out perplexity override of an LM run
  [ -n "${heldout_text}" ] || return 0
  local h
  for h in ${heldout_text}; do cat "${h}"; done | write_if_changed "${expdir}/heldout_text.txt"
  echo "eval.text_ppl_file=${expdir}/heldout_text.txt"
}
model_args() { # model_args INIT: the model.* overrides of an LM run starting from INIT
  echo "model.init=$1"
  if [ "$1" = none ] || [ "$1" = text_llm ]; then
    [ -n "${base_llm}" ] && echo "model.base_llm=${base_llm}"
    [ -n "${tokenizer_dir}" ] && echo "model.tokenizer=${tokenizer_dir}"
  fi
  # the codec whose codebooks a config's model.new_rows_init: codec reads (text_llm init only)
  [ "$1" = text_llm ] && echo "model.codec_dir=${codec_dir}"
  if [ "${lm_kind}" = dual ]; then # USTokens in (one stream), the codec's n_q codebooks out;
    # no guided attention (a config's is for the codec LM's heads; its speech: the acoustic decoder)
    printf '%s\n' model.num_streams=1 model.new_rows_init=matched guided_attention.weight=0
    echo "model.dual.acoustic_streams=${n_q}"
    echo "data.build.frame_rate=${ust_rate}"
    echo "data.acoustic.codes=$(yaml_list "${dumpdir}/codes/${train_set}/codes.scp")"
    echo "data.acoustic.valid_codes=$(yaml_list "${dumpdir}/codes/${valid_set}/codes.scp")"
    [ -f "${dumpdir}/codes/${train_set}/codes_tgt.scp" ] &&
      echo "data.acoustic.codes_tgt=$(yaml_list "${dumpdir}/codes/${train_set}/codes_tgt.scp")"
    [ -f "${dumpdir}/codes/${valid_set}/codes_tgt.scp" ] &&
      echo "data.acoustic.valid_codes_tgt=$(yaml_list "${dumpdir}/codes/${valid_set}/codes_tgt.scp")"
  else
    echo "model.num_streams=${n_q}"
  fi
}
log "system: ${system:-that of the checkpoint}; tag ${tag}; codec ${codec_dir};" \
  "text tokenizer ${text_tokenizer}${tokenizer_dir:+ (${tokenizer_dir})}; SFT from ${sft_init}"
read -r -a lm_extra <<< "${lm_args}"
read -r -a decode_extra <<< "${decode_args}"
read -r -a codec_extra <<< "${codec_args}"
all_sets=$(echo "${train_set} ${valid_set} ${test_sets}" | tr ' ' '\n' | awk 'NF && !seen[$0]++')

# ----------------------------------------------------------------------------------- stages
if stage_on 1 "data preparation (local/data.sh)"; then
  read -r -a data_opts <<< "${local_data_opts}"
  run_step "${datadir}/.stage1.done" "${datadir}/log/data.log" -- local/data.sh "${data_opts[@]}"
  stage_end
fi

if stage_on 2 "validate, clean and filter the data dirs -> ${dumpdir}/data"; then
  for set in ${all_sets}; do
    out=${dumpdir}/data/${set}
    args=(--out "${out}" --skip_bad "${skip_bad}" --nj "${nj}")
    if [ -n "${filter_config}" ] && { [ "${set}" = "${train_set}" ] || [ "${set}" = "${valid_set}" ]; }; then
      args+=(--config "${filter_config}")
    fi
    # validate_data_dir writes a new directory, never into an old one: --fresh
    # shellcheck disable=SC2046
    run_step "${dumpdir}/data/.${set}.done" "${dumpdir}/data/log/validate_${set}.log" \
      --fresh "${out}" -- \
      $(py_entry validate_data_dir) "${datadir}/${set}" "${args[@]}"
  done
  stage_end
fi

if stage_on 3 "codec training"; then
  if [ "${codec_dir}" != "${codec_exp}/codec" ]; then
    log "  using the trained codec ${codec_dir} (--codec_dir); nothing to train"
    [ -f "${codec_dir}/config.yaml" ] || die "--codec_dir ${codec_dir}: no config.yaml there"
  else
    # shellcheck disable=SC2046
    run_step "${codec_exp}/.done" "${codec_exp}/train.log" --gpu "$((ngpu > 0 ? 1 : 0))" -- \
      $(py_entry codec_train) --config "${codec_config}" --exp_dir "${codec_exp}" \
      "data.train=${dumpdir}/data/${train_set}" "data.valid=${dumpdir}/data/${valid_set}" \
      "${codec_extra[@]}"
  fi
  stage_end
fi

if stage_on 4 "tokenization with ${codec_dir} (${n_q} codebooks)"; then
  # the codec's weights belong to the marker: a codec retrained into the same path re-tokenizes
  codec_sum=$(cat "${codec_dir}"/config.yaml "${codec_dir}"/*.safetensors 2> /dev/null | cksum)
  codec_sum="codec ${codec_sum%% *}"
  for set in ${all_sets}; do
    out=${dumpdir}/codes/${set}
    # shellcheck disable=SC2046
    run_step "${out}/.done" "${dumpdir}/codes/log/tokenize_${set}.log" --key "${codec_sum}" \
      --gpu "$((ngpu > 0 ? 1 : 0))" --redo "${out}/codes.scp" --redo "${out}/codes.ark" \
      --redo "${out}/codes.yaml" -- \
      $(py_entry codec_tokenize) --codec_dir "${codec_dir}" --data "${dumpdir}/data/${set}" \
      --out_dir "${out}" --n_q "${n_q}" --nj "${nj}"
    if [ -f "${dumpdir}/data/${set}/wav_tgt.scp" ]; then # S2ST target speech -> codes_tgt
      # shellcheck disable=SC2046
      run_step "${out}/.tgt.done" "${dumpdir}/codes/log/tokenize_${set}_tgt.log" --key "${codec_sum}" \
        --gpu "$((ngpu > 0 ? 1 : 0))" --redo "${out}/codes_tgt.scp" --redo "${out}/codes_tgt.ark" \
        --redo "${out}/codes_tgt.yaml" -- \
        $(py_entry codec_tokenize) --codec_dir "${codec_dir}" --data "${dumpdir}/data/${set}" \
        --scp_name wav_tgt.scp --name codes_tgt --out_dir "${out}" --n_q "${n_q}" --nj "${nj}"
    fi
  done
  stage_end
fi

if stage_on 5 "text tokenizer (${text_tokenizer})${text_llm_exp:+ and text LLM ${text_llm_exp}}"; then
  if [ "${text_tokenizer}" = bpe ] || [ -n "${text_llm_exp}" ]; then
    # BPE on the training transcripts, their translations and the text pools (plain lines)
    corpus=${expdir}/text_tokenizer_corpus.txt
    {
      for f in "${dumpdir}/data/${train_set}"/text "${dumpdir}/data/${train_set}"/text.*; do
        [ -f "${f}" ] && cut -d ' ' -f 2- "${f}"
      done
      for f in ${text_pools}; do cat "${f}"; done
    } | write_if_changed "${corpus}"
    # shellcheck disable=SC2046
    run_step "${bpe_dir}/.done" "${expdir}/log/text_tokenizer.log" -- \
      $(py_entry lm_tokenizer) --out "${bpe_dir}" --vocab-size "${bpe_vocab_size}" \
      "${bpe_opts[@]}" --overwrite "${corpus}"
  fi
  if [ -n "${text_llm_exp}" ]; then
    # the stand-in for a pre-trained text LLM: a Qwen2 LM from scratch on the same text (the
    # corpus above as plain text; the MT pools and the training set's transcript/translation
    # pairs as MT examples), exported without its speech rows as the base LLM of stages 6-7
    read -r -a mt_pool_list <<< "${mt_pools}"
    read -r -a text_llm_extra <<< "${text_llm_args}"
    mapfile -t pargs < <(ppl_args)
    # shellcheck disable=SC2046
    run_step "${text_llm_exp}/.done" "${text_llm_exp}/train.log" --gpu "${ngpu}" -- \
      $(py_entry lm_train) --config "${text_llm_config}" --exp_dir "${text_llm_exp}" \
      model.init=none "model.tokenizer=${bpe_dir}" stage=cpt data.stage=cpt \
      "data.speech_sets=[]" "data.text_pools=$(yaml_list "${corpus}")" \
      "data.mt_pools=$(yaml_list "${mt_pool_list[@]}" "${dumpdir}/data/${train_set}")" \
      "${pargs[@]}" "${text_llm_extra[@]}"
    # shellcheck disable=SC2046
    run_step "${text_llm_exp}/.export.done" "${text_llm_exp}/export.log" -- \
      $(py_entry lm_export) --checkpoint "${text_llm_exp}/model" --out "${base_llm}" --text_only
  elif [ "${text_tokenizer}" = base ]; then
    log "  the base LLM's own tokenizer (${base_llm}); nothing to train"
  elif [ "${text_tokenizer}" = checkpoint ]; then
    log "  the tokenizer saved with ${init}; nothing to train"
  elif [ "${text_tokenizer}" != bpe ]; then
    [ -e "${tokenizer_dir}" ] || die "--text_tokenizer ${tokenizer_dir}: not found"
    log "  using the tokenizer ${tokenizer_dir}"
  fi
  if [ "${lm_kind}" = dual ]; then
    # the USTokenizer: its text loss reads the transcripts through the frozen base LLM
    if [ "${ust_dir}" = "${ust_exp}/model" ]; then
      read -r -a ust_extra <<< "${ust_args}"
      # shellcheck disable=SC2046
      run_step "${ust_exp}/.done" "${ust_exp}/train.log" --gpu "$((ngpu > 0 ? 1 : 0))" -- \
        $(py_entry ustokenizer_train) --config "${ust_config}" --exp_dir "${ust_exp}" \
        "data.train=${dumpdir}/data/${train_set}" "data.valid=${dumpdir}/data/${valid_set}" \
        "model.text_llm.path=${base_llm}" "${ust_extra[@]}"
    else
      log "  using the trained USTokenizer ${ust_dir} (--ust_dir)"
      [ -f "${ust_dir}/config.yaml" ] || die "--ust_dir ${ust_dir}: no config.yaml there"
    fi
    ust_sum=$(cat "${ust_dir}"/config.yaml "${ust_dir}"/*.safetensors 2> /dev/null | cksum)
    ust_sum="ustokenizer ${ust_sum%% *}"
    for set in ${all_sets}; do
      out=${lm_codes}/${set}
      for kind in codes codes_tgt; do
        scp=wav.scp
        [ "${kind}" = codes_tgt ] && scp=wav_tgt.scp
        [ -f "${dumpdir}/data/${set}/${scp}" ] || continue
        # shellcheck disable=SC2046
        run_step "${out}/.${kind}.done" "${lm_codes}/log/tokenize_${set}_${kind}.log" \
          --key "${ust_sum}" --gpu "$((ngpu > 0 ? 1 : 0))" --redo "${out}/${kind}.scp" \
          --redo "${out}/${kind}.ark" --redo "${out}/${kind}.yaml" -- \
          $(py_entry ustokenizer_tokenize) --model_dir "${ust_dir}" --data "${dumpdir}/data/${set}" \
          --scp_name "${scp}" --name "${kind}" --out_dir "${out}" --nj "${nj}"
      done
    done
  fi
  stage_end
fi

if stage_on 6 "continual pre-training (${cpt_mode}) -> ${cpt_exp}"; then
  if [ "${cpt_mode}" = none ]; then
    log "  --cpt_mode none: no CPT; fine-tuning starts from --init ${init}"
  else
    read -r -a cpt_set_list <<< "${cpt_sets}"
    read -r -a text_pool_list <<< "${text_pools}"
    read -r -a mt_pool_list <<< "${mt_pools}"
    grep -q '^ *kind: shards' "${lm_config}" && for s in "${cpt_set_list[@]}"; do  # streamed CPT data: shards of each set
      run_step "${lm_codes}/${s}/shards/.done" "${lm_codes}/log/shards_${s}.log" --key "$(cat "${lm_codes}/${s}/codes.scp" "${dumpdir}/data/${s}"/text* | cksum)" -- \
        "${python}" -m espnet_codec_lm.bin.make_shards --data_dir "${dumpdir}/data/${s}" --codes "${lm_codes}/${s}/codes.scp"
    done
    mapfile -t margs < <(model_args "${init}"; ppl_args)
    # shellcheck disable=SC2046
    run_step "${cpt_exp}/.done" "${cpt_exp}/train.log" --gpu "${ngpu}" -- \
      $(py_entry lm_train) --config "${lm_config}" --exp_dir "${cpt_exp}" --system "${system}" \
      "${margs[@]}" stage=cpt data.stage=cpt "data.cpt_mode=${cpt_mode}" \
      "data.speech_sets=$(speech_sets "${cpt_set_list[@]}")" \
      "data.valid_speech_sets=$(speech_sets "${valid_set}")" \
      "data.text_pools=$(yaml_list "${text_pool_list[@]}")" \
      "data.mt_pools=$(yaml_list "${mt_pool_list[@]}")" "${lm_extra[@]}"
  fi
  stage_end
fi

if stage_on 7 "fine-tuning (${sft_tasks% }; joint ${sft_joint}${sft_groups:+; groups ${sft_groups}}) from ${sft_init}"; then
  system_args=()
  [ -n "${system}" ] && system_args=(--system "${system}")
  mapfile -t margs < <(model_args "${sft_init}"; ppl_args)
  while read -r run exp run_tasks; do
    # shellcheck disable=SC2046
    run_step "${exp}/.done" "${exp}/train.log" --gpu "${ngpu}" -- \
      $(py_entry lm_train) --config "$(subst_task "${sft_config}" "${run}")" --exp_dir "${exp}" \
      "${system_args[@]}" "${margs[@]}" stage=sft data.stage=sft "data.tasks=[${run_tasks}]" \
      "data.speech_sets=$(speech_sets "${train_set}")" \
      "data.valid_speech_sets=$(speech_sets "${valid_set}")" "${lm_extra[@]}" < /dev/null
    # the codec beside the model: the experiment is self-contained for the inference API
    ln -sfn "$(cd "${codec_dir}" && pwd)" "${exp}/codec"
  done < <(sft_runs)
  stage_end
fi

# decode_jobs: one "task lang exp decode_name test_set" line per --tasks entry and test set
decode_jobs() {
  local entry task lang suffix test_set
  for entry in ${tasks}; do
    task=${entry%%:*} lang=- suffix=""
    if [ "${entry}" != "${task}" ]; then lang=${entry#*:} suffix=_${entry#*:}; fi
    for test_set in ${test_sets}; do
      echo "${task} ${lang} $(sft_exp "${task}") decode_${task}_${test_set}${suffix} ${test_set}"
    done
  done
}

if stage_on 8 "decoding (${tasks}) on ${test_sets}"; then
  while read -r task lang exp name test_set; do
    dual_args=() # DualSpeechLM: the codec's codes too (speaker prompts, reference lengths)
    [ "${lm_kind}" = dual ] && dual_args=(--acoustic_codes "${dumpdir}/codes/${test_set}/codes.scp"
      --ust_frame_rate "${ust_rate}")
    lang_args=()
    [ "${lang}" != - ] && lang_args=("src_lang=${lang}")
    # shellcheck disable=SC2046
    # a decode that runs drops the scoring marker of its group (bin/score rescores what changed)
    run_step "${exp}/.${name}.done" "${exp}/log/${name}.log" --gpu "$((ngpu > 0 ? 1 : 0))" \
      --redo "${exp}/${name}" --fresh "${exp}/.score_${test_set}.done" -- \
      $(py_entry lm_decode) --config "$(subst_task "${decode_config}" "${task}")" \
      --lm "${exp}" --codec "${codec_dir}" --data_dir "${dumpdir}/data/${test_set}" \
      --codes "${lm_codes}/${test_set}/codes.scp" --out_dir "${exp}/${name}" \
      "${dual_args[@]}" "${lang_args[@]}" "${decode_extra[@]}" < /dev/null
  done < <(decode_jobs)
  stage_end
fi

asr_scorer() { # asr_scorer EXP FILE: the toolkit-ASR scorer config of an ASR experiment
  printf 'lm: %s\ncodec: %s\noverrides: [%s]\n' "$1" "${codec_dir}" \
    "$(echo "${score_asr_args}" | xargs | tr ' ' ',')" | write_if_changed "$2"
}
if stage_on 9 "scoring"; then
  score_args=()
  [ -n "${score_config}" ] && score_args=(--config "${score_config}")
  if [ "${score_asr}" = self ]; then # this system's own ASR fine-tuning transcribes its speech
    [[ " ${sft_tasks}" == *" asr "* ]] || die "--score_asr self needs the asr task in --tasks"
    [ "${lm_kind}" = dual ] && die "--score_asr self: a DualSpeechLM ASR reads USTokens; use lm:EXP"
    asr_exp=$(sft_exp asr)
    asr_scorer "${asr_exp}" "${asr_exp}/asr_scorer.yaml"
    score_args+=(asr.kind=toolkit "asr.path=${asr_exp}/asr_scorer.yaml"
      "asr.name=own ASR of ${system:-${tag}} (${asr_exp##*/})")
  elif [[ "${score_asr}" == lm:* ]]; then # another system's ASR experiment judges this one
    asr_exp=${score_asr#lm:}
    [ -d "${asr_exp}" ] || die "--score_asr ${score_asr}: no experiment ${asr_exp}"
    scorer=${expdir}/asr_scorer_$(basename "${asr_exp}").yaml
    asr_scorer "${asr_exp}" "${scorer}"
    score_args+=(asr.kind=toolkit "asr.path=${scorer}" "asr.name=ASR of ${asr_exp##*/}")
  elif [ -n "${score_asr}" ]; then
    score_args+=(asr.kind=whisper "asr.path=${score_asr}")
  fi
  [ -n "${spk_model}" ] && score_args+=("speaker.path=${spk_model}")
  [ -n "${mos_model}" ] && score_args+=("mos.path=${mos_model}")
  # one bin/score per experiment and test set, over all its decode dirs (models load once)
  while read -r exp test_set; do
    dirs=()
    while read -r _ _ e name t; do
      [ "${e}" = "${exp}" ] && [ "${t}" = "${test_set}" ] && dirs+=(--decode_dir "${e}/${name}")
    done < <(decode_jobs)
    # shellcheck disable=SC2046
    run_step "${exp}/.score_${test_set}.done" "${exp}/log/score_${test_set}.log" \
      --gpu "$((ngpu > 0 ? 1 : 0))" -- \
      $(py_entry score) "${score_args[@]}" "${dirs[@]}" --data_dir "${dumpdir}/data/${test_set}" \
      < /dev/null
  done < <(decode_jobs | awk '!seen[$3 " " $5]++ {print $3, $5}')
  stage_end
fi

if stage_on 10 "report -> ${results}"; then
  # always rebuilt: it collects every scored experiment under ${expdir}, of any run
  # shellcheck disable=SC2046
  ${run_cmd} --log "${expdir}/log/report.log" -- \
    $(py_entry report) --exp_root "${expdir}" --output "${results}" ||
    die "report failed; see ${expdir}/log/report.log"
  stage_end
fi

log "Finished stages ${stage}-${stop_stage} in ${SECONDS} s"
