"""The paper's own results (Shi et al. 2025, Tables 1-4; /work/shared/SPEC.md section 5).

Shown under each RESULTS.md table as reference rows. The paper's test sets (LibriSpeech,
Aishell2, LibriTTS, CoVoST2, GigaST/GigaS2S) are named in the column headers: a recipe on other
data (e.g. the mini corpus) is not comparable cell by cell.
"""

from __future__ import annotations

#: the paper's four systems (the one place their names are written; recipes and the trainer's
#: ``system`` use these)
SYSTEMS = ("No Initialization", "Text LLM Initialization", "Speech CPT", "Speech & Text CPT")
#: systems of the toolkit beyond the paper's four (reported after them; doc/dualspeechlm.md)
OTHER_SYSTEMS = ("DualSpeechLM",)

NOT_CONVERGED = "did not converge"

# table key -> (column headers, {system: values})
PAPER: dict[str, tuple[tuple[str, ...], dict[str, tuple]]] = {
    "asr": (
        ("LibriSpeech test-clean WER", "LibriSpeech test-other WER", "Aishell2 CER"),
        {
            "No Initialization": (5.5, 9.5, 15.5),
            "Text LLM Initialization": (4.8, 8.5, 13.1),
            "Speech CPT": (5.5, 8.9, 13.0),
            "Speech & Text CPT": (3.7, 6.3, 7.2),
        },
    ),
    "tts": (
        ("LibriTTS UTMOS", "LibriTTS WER", "LibriTTS SPK-SIM"),
        {
            "No Initialization": (3.01, 17.5, 0.55),
            "Text LLM Initialization": (2.78, 18.8, 0.51),
            "Speech CPT": (3.65, 3.7, 0.66),
            "Speech & Text CPT": (3.59, 3.7, 0.65),
        },
    ),
    "s2tt": (
        ("CoVoST2 EN->ZH BLEU", "CoVoST2 ZH->EN BLEU", "GigaST EN->ZH BLEU"),
        {
            "No Initialization": (25.5, 5.8, 30.4),
            "Text LLM Initialization": (28.9, 9.9, 33.2),
            "Speech CPT": (24.8, 5.4, 33.1),
            "Speech & Text CPT": (33.1, 16.1, 37.5),
        },
    ),
    "s2st": (
        ("GigaS2S EN->ZH ASR-BLEU", "GigaS2S EN->ZH UTMOS"),
        {
            "No Initialization": (NOT_CONVERGED, NOT_CONVERGED),
            "Text LLM Initialization": (NOT_CONVERGED, NOT_CONVERGED),
            "Speech CPT": (28.0, 3.41),
            "Speech & Text CPT": (33.4, 3.66),
        },
    ),
}

# The paper's evaluation protocol per table, quoted under the reference rows.
PAPER_PROTOCOL = {
    "asr": "beam search, beam 8; WER (LibriSpeech), CER (Aishell2)",
    "tts": "top-k 30, temperature 1.5, 5 samples per input, scores averaged; WER by "
    "Whisper-large-v3, SPK-SIM by RawNet3 (VoxCeleb), UTMOS",
    "s2tt": "beam search; SacreBLEU",
    "s2st": "top-k sampling as TTS; ASR-BLEU, UTMOS",
}
