"""Model resolution: tiny random BERT, MiniLM-L6 (offline extra or hub), any hub name or local path."""

from edgebench.models.config import ModelConfig, TinyBertConfig
from edgebench.models.resolver import ModelError, ResolvedModel, resolve_model

__all__ = ["ModelConfig", "ModelError", "ResolvedModel", "TinyBertConfig", "resolve_model"]
