"""`ffa_lora`: LoRA with A frozen at its shared seeded init; only B and the head are trained and sent."""

from dataclasses import replace

from edgebench.methods import lora, register
from edgebench.methods.ffa_lora.client import FfaLoraClient

# `lora` with the A-frozen client: same parameters and server.
SPEC = register(
    replace(
        lora.SPEC,
        name="ffa_lora",
        client_cls=FfaLoraClient,
        summary="FFA-LoRA: A frozen at the shared init, only B (and the head) trained and averaged",
        role="baseline",
    )
)
