"""`model.generate` with a local transformers model: the fallback that needs no extra."""

from __future__ import annotations

from collections.abc import Sequence

from corpustune.generate.backends.base import Completion, Request, Sampling
from corpustune.models import resolve_model


class TransformersBackend:
    """One request at a time (each with its own seed) through the tokenizer's chat template.

    A `.gguf` file is loaded through transformers' GGUF support (needs the `gguf` package).
    """

    name = "transformers"
    preferred_batch_passages = 1

    def __init__(self, model: str, *, device: str | None = None, trust_remote_code: bool = False):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = resolve_model(model, "llm")
        self.model_id = model
        options: dict = {"trust_remote_code": trust_remote_code}
        if path.endswith(".gguf"):
            from pathlib import Path

            options["gguf_file"] = Path(path).name
            path = str(Path(path).parent)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(path, **options)
        self.model = AutoModelForCausalLM.from_pretrained(path, **options).to(self.device).eval()
        self._torch = torch

    def generate(self, requests: Sequence[Request], sampling: Sampling) -> list[Completion]:
        torch = self._torch
        completions = []
        for request in requests:
            inputs = self.tokenizer.apply_chat_template(
                list(request.messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
            ).to(self.device)
            torch.manual_seed(request.seed)
            sample = sampling.temperature > 0
            with torch.inference_mode():
                output = self.model.generate(
                    **inputs,
                    max_new_tokens=sampling.max_new_tokens,
                    do_sample=sample,
                    temperature=sampling.temperature if sample else None,
                    top_p=sampling.top_p if sample else None,
                    stop_strings=list(sampling.stop) or None,
                    tokenizer=self.tokenizer,
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                )
            prompt_length = inputs["input_ids"].shape[1]
            new_tokens = output[0, prompt_length:]  # (generated,)
            text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
            for stop in sampling.stop:
                text = text.split(stop, 1)[0]
            completions.append(Completion(text=text, completion_tokens=int(new_tokens.shape[0]), prompt_tokens=prompt_length))
        return completions

    def close(self) -> None:
        del self.model
