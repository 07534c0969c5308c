"""Client half of naive federated AdaLoRA: PEFT's AdaLoRA allocator runs locally with the client's own mask."""

from __future__ import annotations

import warnings

import torch
from peft import AdaLoraConfig, TaskType, get_peft_model
from torch import nn

from edgebench.methods.base import FitResult, LocalRound, Payload
from edgebench.methods.common.client import TrainableStateClient
from edgebench.methods.common.state import trainable_state
from edgebench.methods.common.training import local_train
from edgebench.methods.fedadalora.config import FedAdaLoraParams
from edgebench.methods.lora.adapter import peft_targets


class FedAdaLoraClient(TrainableStateClient):
    """Loads the averaged full-rank A, E, B; AdaLoRA masks E locally; sends everything back."""

    params: FedAdaLoraParams

    def build(self, base_model: nn.Module) -> nn.Module:
        p = self.params
        if self.local_steps is None:
            raise ValueError("fedadalora needs federation.local_steps (its schedule counts local steps)")
        total = self.rounds * self.local_steps
        t_init, t_final = p.schedule_steps(total)
        config = AdaLoraConfig(
            init_r=p.r0,
            target_r=p.r_target,
            lora_alpha=p.alpha if p.alpha is not None else p.r0,
            lora_dropout=p.dropout,
            orth_reg_weight=p.orth_reg_weight,
            beta1=p.beta1,
            beta2=p.beta2,
            tinit=t_init,
            tfinal=t_final,
            deltaT=p.delta_t,
            total_step=total,
            task_type=TaskType.SEQ_CLS,
            **peft_targets(base_model, p.target_modules),
        )
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            torch.manual_seed(self.seed)
            return get_peft_model(base_model, config)

    def local_update(self, model: nn.Module, job: LocalRound) -> FitResult:
        adalora = model.base_model
        adapter_config = model.peft_config[model.active_adapter]
        adalora.rankallocator.reset_ipt()
        client_state = job.client_state
        adapter_config.rank_pattern = client_state.meta.get("rank_pattern") if client_state else None
        first_step = (int(job.payload.meta["round"]) - 1) * (self.local_steps or 0)
        step = {"global": first_step}

        # AdaLoRA's regulariser (PEFT adds it to `.loss`; the client step computes its own loss) over A and B,
        # which keep their shapes all round (AdaLoRA masks E): listed once, not looked up at every step.
        factors = [
            (param, "lora_A" in name)
            for name, param in model.named_parameters()
            if param.requires_grad and ("lora_A" in name or "lora_B" in name)
        ]

        def orthogonality(_: nn.Module) -> torch.Tensor:
            terms = []
            for param, is_a in factors:
                cov = param @ param.T if is_a else param.T @ param
                eye = torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device)
                terms.append(torch.linalg.norm(cov - eye))
            return self.params.orth_reg_weight * torch.stack(terms).mean()

        final_phase = adapter_config.total_step - adapter_config.tfinal

        def allocate(_: nn.Module) -> None:
            step["global"] += 1
            if not adalora.rankallocator.ipt:
                # Importance starts fresh each round; AdaLoRA's final forced mask needs at least one update.
                adalora.rankallocator.update_ipt(adalora.model)
            if step["global"] > final_phase and adapter_config.rank_pattern is None:
                # First sampled after the schedule ended: fix this client's mask from its own importance now.
                _, pattern = adalora.rankallocator.update_and_allocate(adalora.model, step["global"], force_mask=True)
                adapter_config.rank_pattern = pattern
                return
            adalora.update_and_allocate(step["global"])

        loss, steps = local_train(
            model, job.batches, job.settings, self.placement, extra_loss=orthogonality, after_step=allocate
        )
        pattern = adapter_config.rank_pattern
        state = Payload(meta={"rank_pattern": pattern}) if pattern else client_state
        return FitResult(
            payload=Payload(tensors=trainable_state(model)), train_loss=loss, num_steps=steps, client_state=state
        )
