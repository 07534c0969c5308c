"""Server half of naive federated AdaLoRA: plain weighted FedAvg, no allocation, no pruning."""

from __future__ import annotations

from edgebench.methods.lora.server import LoraServer

_E = ".lora_E"


class FedAdaLoraServer(LoraServer):
    """FedAvg of A, E, B and the head over the full r0; the rank reported is E's non-zero count."""

    def module_ranks(self) -> dict[str, int]:
        return {key[: -len(_E)]: int((t != 0).sum()) for key, t in self._global.items() if key.endswith(_E)}
