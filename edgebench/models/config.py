"""The `model:` section of an experiment file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError


class TinyBertConfig(BaseModel):
    """Shape of the random-init `tiny-bert` smoke model."""

    model_config = ConfigDict(extra="forbid")

    layers: int = Field(2, ge=1)
    hidden: int = Field(64, ge=8)
    heads: int = Field(2, ge=1)
    intermediate: int = Field(128, ge=8)
    vocab_size: int = Field(1000, ge=100, le=4000)
    max_positions: int = Field(512, ge=16)


class ModelConfig(BaseModel):
    """`name`: `tiny-bert`, `minilm-l6`, a Hugging Face hub name, or a local directory (any architecture with a
    sequence-classification head: docs/models.md).

    `gradient_checkpointing`: recompute activations in the backward pass instead of storing them, so a bigger
    model or batch fits an edge device's memory at the cost of about one more forward pass per step.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = "tiny-bert"
    tiny: TinyBertConfig = Field(default_factory=TinyBertConfig)
    revision: str | None = None
    gradient_checkpointing: bool = False

    @model_validator(mode="after")
    def _tiny_heads_divide_hidden(self) -> ModelConfig:
        """`tiny` only shapes `tiny-bert`, so its heads are checked only then."""
        tiny = self.tiny
        if self.name == "tiny-bert" and tiny.hidden % tiny.heads:
            message = f"must divide model.tiny.hidden (got {tiny.heads} for {tiny.hidden})"
            # A ValidationError raised here keeps its own loc, so the error names model.tiny.heads.
            error = InitErrorDetails(
                type=PydanticCustomError("cross_field", message), loc=("tiny", "heads"), input=tiny.heads
            )
            raise ValidationError.from_exception_data(type(self).__name__, [error])
        return self
