"""Server half of LoRA / FFA-LoRA: sample-weighted FedAvg of every transmitted tensor."""

from __future__ import annotations

import torch

from edgebench.methods.base import ClientReply, MethodServer, Payload, RoundOutcome
from edgebench.methods.common.fedavg import weighted_average
from edgebench.methods.common.state import expected_of, screen_replies
from edgebench.methods.lora.adapter import module_of


class LoraServer(MethodServer):
    """Holds the global adapters + head; averages A and B separately (FedIT)."""

    def initialize(self, initial: dict[str, torch.Tensor]) -> None:
        self._global = {k: v.detach().clone() for k, v in initial.items()}

    def configure_round(self, rnd: int, client_ids: list[int]) -> dict[int, Payload]:
        return {cid: Payload(tensors=self._global, meta={"round": rnd}) for cid in client_ids}

    def aggregate(self, rnd: int, replies: list[ClientReply]) -> RoundOutcome:
        accepted, rejected = screen_replies(replies, expected_of(self._global))
        if accepted:
            self._global = weighted_average(
                [r.payload.tensors for r in accepted], [r.num_examples for r in accepted], list(self._global)
            )
        return RoundOutcome(
            accepted=[r.client_id for r in accepted], rejected=rejected, module_ranks=self.module_ranks()
        )

    def global_payload(self) -> Payload:
        return Payload(tensors=self._global, meta={})

    def module_ranks(self) -> dict[str, int]:
        ranks: dict[str, int] = {}
        for key, tensor in self._global.items():
            module = module_of(key)
            if module is not None and ".lora_B." in key:
                ranks[module] = int(tensor.shape[1])
        return ranks

    def state_dict(self) -> Payload:
        return Payload(tensors=dict(self._global), meta={})

    def load_state_dict(self, state: Payload) -> None:
        self.initialize(state.tensors)
