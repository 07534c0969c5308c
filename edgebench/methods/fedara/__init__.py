"""`fedara`: adaptive-rank federated PEFT (truncated-SVD adapters, server rank allocation, module pruning)."""

from edgebench.methods import register
from edgebench.methods.base import MethodSpec
from edgebench.methods.fedara.client import FedARAClient
from edgebench.methods.fedara.config import FedARAParams
from edgebench.methods.fedara.server import FedARAServer

SPEC = register(
    MethodSpec(
        name="fedara",
        params_model=FedARAParams,
        client_cls=FedARAClient,
        server_cls=FedARAServer,
        summary="FedARA: SVD adapters, server-side global rank allocation on a cubic budget, module pruning",
        role="candidate",  # the method under study: the report headlines it against the baselines
    )
)
