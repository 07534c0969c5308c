"""`fedadalora`: stock local AdaLoRA per client, FedAvg of full-rank tensors, no server allocation or pruning."""

from edgebench.methods import register
from edgebench.methods.base import MethodSpec
from edgebench.methods.fedadalora.client import FedAdaLoraClient
from edgebench.methods.fedadalora.config import FedAdaLoraParams
from edgebench.methods.fedadalora.server import FedAdaLoraServer

SPEC = register(
    MethodSpec(
        name="fedadalora",
        params_model=FedAdaLoraParams,
        client_cls=FedAdaLoraClient,
        server_cls=FedAdaLoraServer,
        summary="naive federated AdaLoRA: local PEFT AdaLoRA masks per client, FedAvg of full r0 tensors",
        role="baseline",  # the spec's naive baseline: shows what FedARA's server-side allocation adds
    )
)
