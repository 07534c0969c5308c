"""`lora`: FedIT / FedAvg-LoRA, PEFT LoRA with A and B trained and averaged separately."""

from edgebench.methods import register
from edgebench.methods.base import MethodSpec
from edgebench.methods.lora.client import LoraClient
from edgebench.methods.lora.config import LoraParams
from edgebench.methods.lora.server import LoraServer

SPEC = register(
    MethodSpec(
        name="lora",
        params_model=LoraParams,
        client_cls=LoraClient,
        server_cls=LoraServer,
        summary="FedIT: fixed-rank LoRA, A and B trained and FedAvg-ed (weighted by sample count)",
        role="baseline",
    )
)
