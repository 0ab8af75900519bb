"""DualSpeechLM at inference: the LLM's USTokens of a speech target -> acoustic codec codes.

The decoder (:mod:`espnet_codec_lm.decode`) runs the LLM part as for any SpeechLM and samples
the target's USTokens until ``<speech_end>``. :class:`AcousticRenderer` then

1. runs the LLM once over ``prefix + USTokens + <speech_end>`` for its hidden states,
2. takes the Chain-of-Condition span of ``dual.coc_infer`` (question, answer or full),
3. cuts the speaker prompt in acoustic codes: TTS / T2ST the same other utterance of the
   speaker the LLM's prompt came from (its position and length scaled by the frame-rate ratio),
   S2ST the start of the source utterance (its voice is kept),
4. samples the acoustic codes with the acoustic decoder (top-k, temperature of the decode
   config's ``decoding.speech``) until its end of speech, at most ``max_ratio`` x the USTokens'
   duration (+ 1 s).
"""

from __future__ import annotations

import numpy as np
import torch

from espnet_codec_lm.dual.model import DualSpeechLM, coc_condition
from espnet_codec_lm.tasks.templates import get_template


class AcousticRenderer:
    """See the module docstring; one per decode run."""

    def __init__(
        self,
        model: DualSpeechLM,
        task: str,
        acoustic: dict[str, np.ndarray],
        speaker_prompts: dict[str, str],
        frame_ratio: float,
        prompt_frames: int,
        top_k: int = 30,
        temperature: float = 1.0,
        max_ratio: float = 2.0,
        seed: int = 0,
    ) -> None:
        """``acoustic``: utterance -> codec codes ``[T, >= L'_a]`` of the test set's source
        speech; ``speaker_prompts``: the decode set's ``uttid -> "other start n"`` (USToken
        frames); ``frame_ratio``: acoustic frames per USToken frame (50 / 25 = 2)."""
        self.model = model.eval()
        self.task = task
        self.acoustic = acoustic
        self.speaker_prompts = speaker_prompts
        self.ratio = frame_ratio
        self.prompt_frames = prompt_frames
        self.top_k, self.temperature = top_k, temperature
        self.max_ratio, self.seed = max_ratio, seed
        self.to_target = get_template(task).uses_target_speech
        self.streams = model.acoustic.num_streams

    def speaker_prompt(self, uttid: str) -> np.ndarray | None:
        """Acoustic codes of the utterance's speaker prompt (module docstring, step 3)."""
        if self.to_target:
            src = self.acoustic.get(uttid)
            return None if src is None else src[: self.prompt_frames, : self.streams]
        desc = self.speaker_prompts.get(uttid)
        if desc is None:
            return None
        other, start, n = desc.split()
        src = self.acoustic.get(other)
        if src is None:
            return None
        a = int(round(int(start) * self.ratio))
        b = a + max(1, int(round(int(n) * self.ratio)))
        return src[a:b, : self.streams]

    @torch.no_grad()
    def render(
        self, uttid: str, prefix: np.ndarray, ust: list[np.ndarray], sample_seeds: list[int]
    ) -> list[tuple[np.ndarray, bool]]:
        """``(acoustic codes [T, L'_a], ended by itself)`` for each USToken sample of one input
        (``prefix`` ends with the target's ``<speech_start>``)."""
        lay = self.model.layout
        device = next(self.model.parameters()).device
        prompt_np = self.speaker_prompt(uttid)
        prompt = None if prompt_np is None else torch.as_tensor(prompt_np, dtype=torch.long)
        out = []
        for codes, seed in zip(ust, sample_seeds):
            ids = lay.codes_to_ids(codes) if len(codes) else np.zeros((0, lay.num_streams), int)
            end = np.full((1, lay.num_streams), -1, np.int64)
            end[0, 0] = lay.speech_end
            seq = np.concatenate([prefix, ids, end]).astype(np.int64)
            tokens = torch.as_tensor(seq, device=device)[None]
            hidden = self.model.llm(tokens, return_hidden=True, return_logits=False).hidden_states
            target_start = len(prefix) - 1  # the <speech_start> that ends the prefix
            start, stop = coc_condition(self.model.dual_cfg.coc_infer, target_start, len(seq))
            max_frames = int(self.max_ratio * self.ratio * len(codes)) + 50
            g = torch.Generator(device=device).manual_seed(seed)
            (ac,) = self.model.acoustic.generate(
                [hidden[0, start:stop]],
                [None if prompt is None else prompt.to(device)],
                [max_frames],
                top_k=self.top_k,
                temperature=self.temperature,
                generator=g,
            )
            out.append((ac.cpu().numpy(), len(ac) < max_frames))
        return out
