"""Web demo: try a trained system (a pack or an LM experiment) in the browser.

Four tabs: ASR (upload or record), TTS (text + language + optional ~3-s speaker prompt), S2TT and
S2ST. Each shows the decoded text or plays the generated audio and draws its spectrogram, with
the decoding settings used and the time taken. Bad input (an unreadable file, audio longer than
``MAX_AUDIO_S``, empty or too long text, an unsupported language) gives a one-line message,
not a stack trace. Requests wait in one queue and run one at a time (one CPU budget).

Usage:
    python -m espnet_codec_lm.bin.demo --model egs2/mini_bilingual/codec_lm1/pretrained/speech_text_cpt
    python -m espnet_codec_lm.bin.demo --model exp/lm_sft_speech_text_cpt --codec pretrained/codec \\
        --port 7861 --share false decoding.text.beam_size=4

``make demo-ui`` starts it on the shipped mini pack. Needs the ``[demo]`` extra (gradio; installed
by ``make install``). The logic is :class:`DemoApp` (plain Python, no gradio); :func:`handlers`
and :func:`build_ui` put it in a Gradio page (gradio is imported only there and in :func:`main`).
Each task decodes with the pack's ``decode/<task>.yaml`` (the settings it was scored with), else
the defaults; the model is loaded once and shared by the four tasks (a pack of several models:
each model once, shared by its tasks; ``inference.lm_for_task``). Without ``--prompt_wav``,
TTS with no uploaded prompt speaks in a default voice: an espeak-ng voice of the mini corpus (the
shipped pack's training speakers), made on first use.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from espnet_codec_lm.data.espeak import espeak_available, synthesize
from espnet_codec_lm.data.mini_corpus import EN_SPEAKERS, ZH_SPEAKERS
from espnet_codec_lm.tasks.corpus import detect_lang
from espnet_codec_lm.tasks.prompts import LANGS
from espnet_codec_lm.utils.logging import setup_logging

log = logging.getLogger("demo")

TASKS = ("asr", "tts", "s2tt", "s2st")
MAX_AUDIO_S = 30.0  # longest input audio (the mini model was trained on ~2-5 s utterances)
MAX_TEXT_CHARS = 300  # longest TTS text
AUDIO_FORMATS = "WAV, FLAC, OGG or MP3"
AUTO = "auto"  # TTS language: detected from the text (Chinese characters -> zh)
#: the default TTS voice per language: a mini-corpus speaker and one of its grammar's sentences
DEFAULT_VOICE_TEXT = {
    "en": "There are five orange boxes on the table.",
    "zh": "桌子上有五个橙色的盒子。",
}


class DemoError(ValueError):
    """Bad input to the demo (one line, shown to the user)."""


@dataclass
class Result:
    """What one request returns: text or audio, its spectrogram, settings and time taken."""

    task: str
    seconds: float
    settings: str
    text: str | None = None
    audio: np.ndarray | None = None  # float32 at ``sample_rate``
    sample_rate: int = 16000
    spectrogram: Path | None = None  # PNG of ``audio``
    input_s: float | None = None  # seconds of input audio

    @property
    def audio_s(self) -> float:
        return 0.0 if self.audio is None else len(self.audio) / self.sample_rate

    @property
    def info(self) -> str:
        """Two lines: time taken (with the input / output durations) and the settings."""
        parts = [f"{self.task.upper()} in {self.seconds:.2f} s"]
        if self.input_s is not None:
            parts.append(f"input {self.input_s:.2f} s of audio")
        if self.audio is not None:
            rtf = self.seconds / max(self.audio_s, 1e-9)
            parts.append(f"output {self.audio_s:.2f} s of audio (real-time factor {rtf:.2f})")
        return "; ".join(parts) + "\n" + self.settings


def _one_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e).strip() else type(e).__name__


def read_audio(audio, what: str = "audio") -> tuple[np.ndarray, int]:
    """``audio``: a file path, or ``(sample_rate, samples)`` as Gradio's numpy audio gives it.
    Returns ``(float32 samples, rate)``; a missing, unreadable, empty or too long input is a
    :class:`DemoError`."""
    if audio is None or (isinstance(audio, str) and not audio.strip()):
        raise DemoError(f"{what}: none given (upload a file or record with the microphone)")
    if isinstance(audio, tuple):
        sr, wav = audio
        wav = np.asarray(wav)
        if np.issubdtype(wav.dtype, np.integer):  # Gradio's microphone gives int16
            wav = wav.astype(np.float32) / float(np.iinfo(wav.dtype).max)
        wav = wav.astype(np.float32)
    else:
        path = Path(audio)
        if not path.is_file():
            raise DemoError(f"{what}: {path.name}: no such file")
        wav, sr = _load_file(path, what)
    if wav.size == 0:
        raise DemoError(f"{what}: the audio is empty")
    dur = wav.shape[0] / sr
    if dur > MAX_AUDIO_S:
        raise DemoError(f"{what}: {dur:.1f} s long; the demo takes at most {MAX_AUDIO_S:g} s")
    return wav, int(sr)


def _load_file(path: Path, what: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        wav, sr = sf.read(str(path), dtype="float32", always_2d=False)
    except Exception:  # libsndfile's error types vary
        raise DemoError(
            f"{what}: {path.name} is not a readable audio file ({AUDIO_FORMATS})"
        ) from None
    return wav, int(sr)


def spectrogram_png(wav: np.ndarray, sr: int, path: Path, title: str = "") -> Path:
    """Draw the log-magnitude spectrogram of ``wav`` (25 ms window, 10 ms hop) into a PNG."""
    import librosa
    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_fft, hop = int(0.025 * sr), int(0.010 * sr)
    spec = np.abs(librosa.stft(np.asarray(wav, np.float32), n_fft=n_fft, hop_length=hop))
    db = librosa.amplitude_to_db(spec, ref=np.max(spec) if spec.size and spec.max() > 0 else 1.0)
    fig, ax = plt.subplots(figsize=(8, 2.6), dpi=100)
    try:
        img = librosa.display.specshow(
            db, sr=sr, hop_length=hop, x_axis="time", y_axis="hz", ax=ax, cmap="magma"
        )
        fig.colorbar(img, ax=ax, format="%+.0f dB")
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def describe_settings(system, task: str, lang_info: str) -> str:
    """One line of the decoding settings a task runs with (from its LMDecodeConfig)."""
    cfg = system.config
    dcfg = cfg.decoding
    if task in ("asr", "s2tt"):
        t = dcfg.text
        search = "greedy search" if t.method == "greedy" else f"beam search (beam {t.beam_size}"
        if t.method != "greedy":
            search += f", length penalty {t.length_penalty:g})"
        how = f"{search}, script {t.script}"
    else:
        s = dcfg.speech
        how = (
            "greedy heads"
            if s.method == "greedy"
            else f"top-k {s.top_k} sampling at temperature {s.temperature:g}"
        )
        how += f", seed {dcfg.seed}, at most {s.max_len_cap} frames"
    return f"settings: {how}; {lang_info}; prompt {cfg.prompt_stage} #{cfg.prompt_index}"


class DemoApp:
    """The demo's logic: the loaded system (one model per sub-pack of a pack of several models,
    else one), four task functions; no Gradio here.

    Each task function returns a :class:`Result` or raises :class:`DemoError` (or the API's
    ``InferenceError``, also a ``ValueError``) with a one-line message. Calls are serialised by
    a lock, so the app is safe to call from several threads."""

    def __init__(
        self,
        model: str | Path,
        codec: str | Path | None = None,
        prompt_wav: str | Path | None = None,
        overrides: list[str] | tuple[str, ...] = (),
        out_dir: str | Path | None = None,
    ) -> None:
        # lazy: inference imports torch and transformers, which --help does not need
        from espnet_codec_lm.inference import SpeechLMInference, lm_for_task, task_config

        self.model_dir = Path(model)
        if not self.model_dir.exists():
            raise DemoError(f"--model {model}: no such pack or experiment directory")
        configs = {t: task_config(model, t, None, overrides) for t in TASKS}
        t0 = time.perf_counter()
        loaded: dict[Path, SpeechLMInference] = {}  # each model once, shared by its tasks
        self.systems = {}
        for t, c in configs.items():
            lm = lm_for_task(model, t)
            if lm not in loaded:
                loaded[lm] = SpeechLMInference(lm, codec=codec, config=c)
            self.systems[t] = loaded[lm].with_config(c)
        self.load_s = time.perf_counter() - t0
        base = self.systems["asr"]
        self.sample_rate = base.sample_rate
        self.lock = threading.Lock()
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="espnet_codec_lm_demo_"))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._count = 0
        self._prompts: dict[str, np.ndarray] = {}
        if prompt_wav is not None:
            wav, sr = read_audio(str(prompt_wav), "--prompt_wav")
            prompt = base.prepare_audio(wav, sr, "--prompt_wav")
            self._prompts = {lang: prompt for lang in LANGS}
        ckpts = ", ".join(str(m.checkpoint) for m in loaded.values())
        log.info("loaded %s in %.1f s (%s)", self.model_dir, self.load_s, ckpts)

    @property
    def title(self) -> str:
        """The model card's title (a pack's README.md), else the directory's name."""
        card = self.model_dir / "README.md"
        if card.is_file():
            for line in card.read_text(encoding="utf-8").splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
        return self.model_dir.name

    # --- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _lang(lang: str | None, what: str = "language") -> str:
        if lang not in LANGS:
            raise DemoError(f"{what} {lang!r} is not supported (one of {', '.join(LANGS)})")
        return lang

    def _png(self, wav: np.ndarray, task: str) -> Path:
        self._count += 1
        path = self.out_dir / f"{task}-{self._count:05d}.png"
        return spectrogram_png(wav, self.sample_rate, path, f"{task.upper()} output")

    def default_prompt(self, lang: str) -> np.ndarray:
        """The default TTS voice of ``lang`` (see the module docstring)."""
        if lang not in self._prompts:
            if not espeak_available():
                raise DemoError("TTS needs a speaker prompt here (espeak-ng for the default voice)")
            voice = (EN_SPEAKERS if lang == "en" else ZH_SPEAKERS)[0]
            self._prompts[lang] = synthesize(
                DEFAULT_VOICE_TEXT[lang], lang, voice, self.sample_rate
            )
        return self._prompts[lang]

    # --- tasks --------------------------------------------------------------------------------
    def asr(self, audio, lang: str = "en") -> Result:
        """Speech -> transcript; ``lang``: the speech's language (prompt and script)."""
        lang = self._lang(lang)
        wav, sr = read_audio(audio, "speech")
        with self.lock:
            t0 = time.perf_counter()
            text = self.systems["asr"].asr(wav, sr, lang=lang)
            took = time.perf_counter() - t0
        settings = describe_settings(self.systems["asr"], "asr", f"language {lang}")
        log.info("asr: %.2f s of %s audio -> %r in %.2f s", len(wav) / sr, lang, text, took)
        return Result("asr", took, settings, text=text, input_s=len(wav) / sr)

    def s2tt(self, audio, src_lang: str = "en", tgt_lang: str = "zh") -> Result:
        """Speech in ``src_lang`` -> text in ``tgt_lang``."""
        src, tgt = self._lang(src_lang, "source language"), self._lang(tgt_lang, "target language")
        wav, sr = read_audio(audio, "source speech")
        with self.lock:
            t0 = time.perf_counter()
            text = self.systems["s2tt"].s2tt(wav, sr, target_lang=tgt, src_lang=src)
            took = time.perf_counter() - t0
        settings = describe_settings(self.systems["s2tt"], "s2tt", f"{src} -> {tgt}")
        log.info(
            "s2tt %s->%s: %.2f s of audio -> %r in %.2f s", src, tgt, len(wav) / sr, text, took
        )
        return Result("s2tt", took, settings, text=text, input_s=len(wav) / sr)

    def tts(self, text: str | None, lang: str = AUTO, prompt=None) -> Result:
        """Text -> speech in the voice of ``prompt`` (its first 3 s; default voice if None)."""
        if text is None or not text.strip():
            raise DemoError("text: empty (type a sentence to synthesise)")
        text = " ".join(text.split())
        if len(text) > MAX_TEXT_CHARS:
            raise DemoError(
                f"text: {len(text)} characters; the demo takes at most {MAX_TEXT_CHARS}"
            )
        lang = detect_lang(text) if lang in (None, "", AUTO) else self._lang(lang)
        if prompt is None:
            wav, sr, voice = self.default_prompt(lang), self.sample_rate, "default voice"
        else:
            (wav, sr), voice = read_audio(prompt, "speaker prompt"), "uploaded voice"
        system = self.systems["tts"]
        with self.lock:
            t0 = time.perf_counter()
            out = system.tts(text, wav, sr, lang=lang)
            took = time.perf_counter() - t0
            png = self._png(out, "tts")
        prompt_s = min(len(wav) / sr, system.config.speaker_prompt_s)
        settings = describe_settings(
            system, "tts", f"language {lang}; speaker prompt {prompt_s:.1f} s of the {voice}"
        )
        log.info(
            "tts %s: %r -> %.2f s of audio in %.2f s", lang, text, len(out) / self.sample_rate, took
        )
        return Result(
            "tts", took, settings, audio=out, sample_rate=self.sample_rate, spectrogram=png
        )

    def s2st(self, audio, src_lang: str = "en", tgt_lang: str = "zh") -> Result:
        """Speech in ``src_lang`` -> speech in ``tgt_lang``."""
        src, tgt = self._lang(src_lang, "source language"), self._lang(tgt_lang, "target language")
        wav, sr = read_audio(audio, "source speech")
        system = self.systems["s2st"]
        with self.lock:
            t0 = time.perf_counter()
            out = system.s2st(wav, sr, target_lang=tgt, src_lang=src)
            took = time.perf_counter() - t0
            png = self._png(out, "s2st")
        settings = describe_settings(system, "s2st", f"{src} -> {tgt}")
        log.info(
            "s2st %s->%s: %.2f s -> %.2f s of audio in %.2f s",
            src,
            tgt,
            len(wav) / sr,
            len(out) / self.sample_rate,
            took,
        )
        return Result(
            "s2st",
            took,
            settings,
            audio=out,
            sample_rate=self.sample_rate,
            spectrogram=png,
            input_s=len(wav) / sr,
        )


# --- Gradio layer --------------------------------------------------------------------------------
def _audio_out(r: Result):
    """Gradio's numpy audio: ``(rate, int16 samples)``."""
    return r.sample_rate, (np.clip(r.audio, -1.0, 1.0) * 32767).astype(np.int16)


def handlers(app: DemoApp) -> dict:
    """The four Gradio event functions: inputs as the widgets give them, outputs as the widgets
    take them; any error becomes ``gradio.Error`` with one line (a bug's traceback goes to the
    server log only)."""
    import gradio as gr

    def guard(fn):
        def run(*args):
            try:
                return fn(*args)
            except ValueError as e:  # DemoError, InferenceError: the user's input
                log.warning("rejected: %s", _one_line(e))
                raise gr.Error(_one_line(e), print_exception=False) from None
            except Exception as e:
                log.exception("request failed")
                raise gr.Error(
                    f"internal error ({type(e).__name__}: {_one_line(e)}); see the server log",
                    print_exception=False,
                ) from None

        run.__name__ = fn.__name__
        return run

    def asr(audio, lang):
        r = app.asr(audio, lang)
        return r.text, r.info

    def s2tt(audio, src, tgt):
        r = app.s2tt(audio, src, tgt)
        return r.text, r.info

    def tts(text, lang, prompt):
        r = app.tts(text, lang, prompt)
        return _audio_out(r), str(r.spectrogram), r.info

    def s2st(audio, src, tgt):
        r = app.s2st(audio, src, tgt)
        return _audio_out(r), str(r.spectrogram), r.info

    return {f.__name__: guard(f) for f in (asr, tts, s2tt, s2st)}


def build_ui(app: DemoApp):
    """The Gradio Blocks of the four tabs; every event shares one queue slot (one at a time)."""
    import gradio as gr

    fns = handlers(app)
    langs = list(LANGS)

    def speech_in(label: str, elem_id: str):
        return gr.Audio(
            sources=["upload", "microphone"], type="filepath", label=label, elem_id=elem_id
        )

    def tab(task: str, title: str, button: str, make_inputs, text_label: str | None = None):
        """One task's tab: its inputs (a row), a button, its outputs (text, or speech and its
        spectrogram) and the time-and-settings box."""
        with gr.Tab(title, id=task):
            with gr.Row():
                inputs = make_inputs()
            run = gr.Button(button, variant="primary", elem_id=f"{task}_run")
            if text_label:
                outputs = [gr.Textbox(label=text_label, elem_id=f"{task}_text", interactive=False)]
            else:
                outputs = [
                    gr.Audio(label="generated speech", elem_id=f"{task}_audio", interactive=False),
                    gr.Image(
                        label="spectrogram",
                        elem_id=f"{task}_spec",
                        type="filepath",
                        interactive=False,
                    ),
                ]
            outputs.append(gr.Textbox(label="time and settings", elem_id=f"{task}_info", lines=2))
            run.click(
                fns[task],
                inputs,
                outputs,
                api_name=task,
                concurrency_limit=1,
                concurrency_id="model",
            )

    def asr_inputs():
        return [
            speech_in("speech", "asr_audio"),
            gr.Dropdown(langs, value="en", label="language of the speech"),
        ]

    def tts_inputs():
        text = gr.Textbox(
            label="text",
            elem_id="tts_text",
            lines=2,
            placeholder="The driver likes yellow cars very much.",
        )
        lang = gr.Dropdown([AUTO, *langs], value=AUTO, label="language")
        return [text, lang, speech_in("speaker prompt (optional, first 3 s used)", "tts_prompt")]

    def translation_inputs(task: str):
        return lambda: [
            speech_in("source speech", f"{task}_source"),
            gr.Dropdown(langs, value="en", label="source language"),
            gr.Dropdown(langs, value="zh", label="target language"),
        ]

    with gr.Blocks(title="espnet_codec_lm demo", analytics_enabled=False) as ui:
        gr.Markdown(
            f"## espnet_codec_lm demo: {app.title}\n"
            f"Model `{app.model_dir}`. Speech input: {AUDIO_FORMATS}, at most {MAX_AUDIO_S:g} s "
            "(any rate; resampled). Requests run one at a time."
        )
        tab("asr", "ASR", "Transcribe", asr_inputs, text_label="transcript")
        tab("tts", "TTS", "Synthesise", tts_inputs)
        tab("s2tt", "S2TT", "Translate", translation_inputs("s2tt"), text_label="translation")
        tab("s2st", "S2ST", "Translate to speech", translation_inputs("s2st"))
    ui.queue(default_concurrency_limit=1, max_size=32)
    return ui


# --- command line -------------------------------------------------------------------------------
def _bool(s: str) -> bool:
    if s.lower() in ("true", "yes", "1"):
        return True
    if s.lower() in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {s!r}")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m espnet_codec_lm.bin.demo",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="pack (bin/pack) or LM experiment directory")
    p.add_argument("--codec", default=None, help="codec directory (default <model>/codec)")
    p.add_argument("--prompt_wav", default=None, help="default TTS speaker prompt (first 3 s)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: all)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", type=_bool, default=False, help="true: a public gradio.live link")
    p.add_argument("overrides", nargs="*", help="key=value decode config overrides (all tasks)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)

    setup_logging("demo")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio's own start-up probes
    try:
        import gradio  # noqa: F401
    except ImportError:
        print("demo: error: gradio is not installed (pip install -e '.[demo]')", file=sys.stderr)
        return 1
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        app = DemoApp(args.model, args.codec, args.prompt_wav, args.overrides)
    except (ValueError, OSError) as e:
        print(f"demo: error: {_one_line(e)}", file=sys.stderr)
        return 1
    ui = build_ui(app)
    log.info("serving on http://%s:%d (Ctrl-C stops)", args.host, args.port)
    ui.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        allowed_paths=[str(app.out_dir)],
        ssr_mode=False,
        footer_links=["api"],
        quiet=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
