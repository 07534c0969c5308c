"""Client half of FFA-LoRA."""

from __future__ import annotations

from edgebench.methods.lora.client import LoraClient


class FfaLoraClient(LoraClient):
    """A stays frozen at the shared seeded init (never trained, never sent); B and the head travel."""

    freeze_a = True
