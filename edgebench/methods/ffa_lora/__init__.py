"""`ffa_lora`: LoRA with A frozen at its shared seeded init; only B and the head are trained and sent."""

from edgebench.methods import register
from edgebench.methods.base import MethodSpec
from edgebench.methods.ffa_lora.client import FfaLoraClient
from edgebench.methods.lora.config import LoraParams
from edgebench.methods.lora.server import LoraServer

SPEC = register(
    MethodSpec(
        name="ffa_lora",
        params_model=LoraParams,
        client_cls=FfaLoraClient,
        server_cls=LoraServer,
        summary="FFA-LoRA: A frozen at the shared init, only B (and the head) trained and averaged",
        role="baseline",
    )
)
