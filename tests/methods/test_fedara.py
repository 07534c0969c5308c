"""FedARA: SVD adapters, importance, budget, allocation, physical shrinking and pruning, exact bytes."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from edgebench.fl.codec import decode, encode, header_bytes
from edgebench.methods import get_method
from edgebench.methods.base import ClientReply, FitResult, MethodClient, Payload, RoundOutcome, TrainSettings
from edgebench.methods.fedara.adapter import SVDLinear, adapters_of, attach_svd_adapters, unwrap
from edgebench.methods.fedara.budget import BudgetError, budget_at
from edgebench.methods.fedara.client import SCORES_SUFFIX
from edgebench.methods.fedara.config import FedARAParams
from edgebench.methods.fedara.importance import ImportanceTracker
from edgebench.methods.fedara.server import FedARAServer
from edgebench.models import ModelConfig, TinyBertConfig, resolve_model
from tests.methods.fedara_pruning import prune_first_module
from tests.methods.fedara_scores import server_with_scores

HIDDEN, LAYERS, LABELS, R0 = 32, 2, 4, 6
MODULES = 2 * LAYERS
CORPUS = ["stocks fell sharply on monday", "the team won the cup final", "new chip doubles battery life"] * 20


def _base():
    cfg = ModelConfig(tiny=TinyBertConfig(layers=LAYERS, hidden=HIDDEN, heads=2, intermediate=64, vocab_size=200))
    return resolve_model(cfg, LABELS, seed=0)


def _batch(tokenizer) -> dict[str, torch.Tensor]:
    enc = tokenizer(CORPUS[:8], padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": torch.arange(8) % 4}


def _setup(rounds: int = 5, **params):
    resolved = _base()
    p = FedARAParams(r0=R0, **params)
    spec = get_method("fedara")
    client = spec.client_cls(p, seed=0)
    model = client.build(resolved.model)
    server = spec.server_cls(p, total_rounds=rounds)
    server.initialize(client.initial_parameters(model))
    return client, server, model, _batch(resolved.tokenizer)


def _randomize(model: nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for adapter in adapters_of(model).values():
            for p in (adapter.P, adapter.lam, adapter.Q):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)


# -- adapter -------------------------------------------------------------------------------------


def test_fresh_gaussian_adapters_leave_the_model_unchanged_and_svd_init_spans_w0() -> None:
    base = _base()
    base.model.eval()
    reference = copy.deepcopy(base.model)
    batch = _batch(base.tokenizer)
    attach_svd_adapters(base.model, FedARAParams(r0=R0), seed=0)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    assert torch.allclose(base.model(**inputs).logits, reference(**inputs).logits, atol=1e-6)  # lambda = 0

    linear = nn.Linear(16, 12)
    adapter = SVDLinear(linear, r0=4, scaling=1.0, dropout=0.0)
    adapter.init_svd()
    assert torch.allclose(adapter.P.T @ adapter.P, torch.eye(4), atol=1e-5)
    assert torch.allclose(adapter.Q @ adapter.Q.T, torch.eye(4), atol=1e-5)
    assert float(adapter.orthogonality().detach()) < 1e-4


def test_shrunk_adapters_equal_unshrunk_with_dropped_triplets_zeroed() -> None:
    _, _, model, batch = _setup()
    _randomize(model)
    zeroed = copy.deepcopy(model)
    keep = {name: [0, 2, 5] if i % 2 else [1] for i, name in enumerate(adapters_of(model))}
    for name, adapter in adapters_of(zeroed).items():
        with torch.no_grad():
            for rid in range(R0):
                if rid not in keep[name]:
                    adapter.lam[rid] = 0.0
    for name, adapter in adapters_of(model).items():
        adapter.keep(keep[name])
        assert adapter.P.shape == (HIDDEN, len(keep[name])) and adapter.Q.shape == (len(keep[name]), HIDDEN)
        assert adapter.rank_ids == keep[name]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    model.eval(), zeroed.eval()
    assert torch.allclose(model(**inputs).logits, zeroed(**inputs).logits, atol=1e-5)
    with pytest.raises(ValueError, match="cannot revive"):
        next(iter(adapters_of(model).values())).keep([3])


def test_unwrapped_module_is_exactly_the_base_layer_and_full_pruning_restores_parameter_count() -> None:
    base = _base()
    base_params = sum(p.numel() for p in base.model.parameters())
    original = {n: m for n, m in base.model.named_modules() if isinstance(m, nn.Linear)}
    attach_svd_adapters(base.model, FedARAParams(r0=R0), seed=0)
    _randomize(base.model)
    x = torch.randn(3, HIDDEN)
    for name in list(adapters_of(base.model)):
        restored = unwrap(base.model, name)
        assert restored is original[name]
        assert torch.equal(base.model.get_submodule(name)(x), original[name](x))
    assert not adapters_of(base.model)
    assert sum(p.numel() for p in base.model.parameters()) == base_params


# -- importance ------------------------------------------------------------------------------------


def test_one_importance_update_gives_the_hand_computed_scores() -> None:
    adapter = SVDLinear(nn.Linear(3, 2), r0=2, scaling=1.0, dropout=0.0)
    with torch.no_grad():
        adapter.P.copy_(torch.tensor([[1.0, 2.0], [-1.0, 0.5]]))
        adapter.lam.copy_(torch.tensor([0.5, -2.0]))
        adapter.Q.copy_(torch.tensor([[1.0, 0.0, 2.0], [0.0, -1.0, 1.0]]))
    adapter.P.grad = torch.tensor([[0.1, 0.2], [0.3, -0.4]])
    adapter.lam.grad = torch.tensor([2.0, 1.0])
    adapter.Q.grad = torch.tensor([[1.0, 5.0, 0.5], [2.0, 2.0, -2.0]])
    b1, b2 = 0.8, 0.7
    tracker = ImportanceTracker(b1, b2)
    tracker.update({"m": adapter})
    # From zero EMAs: I_bar = (1-b1) I ; U_bar = (1-b2) |I - I_bar| = (1-b2) b1 I ; s = (1-b1)(1-b2) b1 I^2
    k = (1 - b1) * (1 - b2) * b1
    i_p = torch.tensor([[0.1, 0.4], [0.3, 0.2]])
    i_lam = torch.tensor([1.0, 2.0])
    i_q = torch.tensor([[1.0, 0.0, 1.0], [0.0, 2.0, 2.0]])
    expected = k * (i_lam**2 + (i_p**2).mean(dim=0) + (i_q**2).mean(dim=1))
    assert torch.allclose(tracker.triplet_scores({"m": adapter})["m"], expected, rtol=1e-6)
    # triplet 0: k * (1 + (0.01 + 0.09)/2 + (1 + 0 + 1)/3), by hand
    assert math.isclose(float(expected[0]), k * (1 + 0.05 + 2 / 3), rel_tol=1e-6)


# -- budget ------------------------------------------------------------------------------------------


# b(t) for b0 = 48, bT = 16, worked out by hand from the spec's formula (docs/fedara.md, mechanism 2):
# b(t) = b0 for t <= t_init, int(bT + (b0 - bT) * (1 - (t - t_init) / (R - t_final - t_init))^3) up to
# R - t_final, then bT. Row R = 10, t_init = 1, t_final = 2: the span is 10 - 2 - 1 = 7, so for t = 2..8
# b = 16 + 32 * ((8 - t) / 7)^3: t = 2: 16 + 32 * 216/343 = 36.15 -> 36; t = 3: 16 + 32 * 125/343 = 27.66
# -> 27; t = 4: 16 + 2048/343 = 21.97 -> 21; t = 5: 16 + 864/343 = 18.52 -> 18; t = 6, 7: 16.75, 16.09
# -> 16; t = 8 reaches bT exactly; t = 9, 10 are the final rounds at bT.
@pytest.mark.parametrize(
    ("rounds", "t_init", "t_final", "budgets"),
    [
        (10, 1, 2, [48, 36, 27, 21, 18, 16, 16, 16, 16, 16]),
        (20, 2, 4, [48, 48, 41, 36, 31, 27, 24, 21, 20, 18, 17, 16, 16, 16, 16, 16, 16, 16, 16, 16]),
        (5, 1, 1, [48, 25, 17, 16, 16]),
        (3, 0, 0, [25, 17, 16]),
        (7, 2, 0, [48, 48, 32, 22, 18, 16, 16]),
    ],
)
def test_budget_follows_the_cubic_schedule(rounds: int, t_init: int, t_final: int, budgets: list[int]) -> None:
    assert [budget_at(t, rounds, 48, 16, t_init, t_final) for t in range(1, rounds + 1)] == budgets


def test_budget_edge_cases_are_clear_errors(write_config) -> None:
    with pytest.raises(BudgetError, match=r"t_init \+ t_final must be < rounds \(got 1 \+ 1 >= 2\)"):
        budget_at(1, 2, 10, 4, 1, 1)
    from edgebench.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"methods\[0\].t_init: t_init \+ t_final must be < federation.rounds"):
        load_config(write_config({"federation": {"rounds": 2}, "methods": [{"method": "fedara"}]}))
    with pytest.raises(ConfigError, match=r"methods\[0\].r_target: must be <= r0"):
        load_config(write_config({"methods": [{"method": "fedara", "r0": 4, "r_target": 6}]}))


# -- allocation -----------------------------------------------------------------------------------


def test_global_allocation_keeps_exactly_the_top_b_with_deterministic_ties() -> None:
    server = server_with_scores({"a": [0.9, 0.1, 0.5, 0.5], "b": [0.5, 0.8, 0.0, 0.2], "c": [0.0, 0.0, 0.0, 0.0]})
    assert server.select(4) == {"a": [0, 2, 3], "b": [1], "c": []}  # 0.9, 0.8, then tie 0.5 x3: a2, a3 before b0
    assert server.select(5) == {"a": [0, 2, 3], "b": [0, 1], "c": []}
    assert server.select(0) == {"a": [], "b": [], "c": []}
    no_pruning = server_with_scores({"a": [0.9, 0.1], "b": [0.5, 0.8], "c": [0.0, 0.0]}, prune_modules=False)
    assert no_pruning.select(3) == {"a": [0], "b": [1], "c": [0]}  # each module keeps its best first
    uniform = server_with_scores({"a": [0.9, 0.1, 0.5], "b": [0.5, 0.8, 0.0]}, allocation="uniform")
    assert uniform.select(3) == {"a": [0, 2], "b": [1]}


def test_allocation_physically_shrinks_and_prunes_on_the_server() -> None:
    server = server_with_scores({"a": [0.9, 0.1, 0.5, 0.5], "b": [0.5, 0.8, 0.0, 0.2], "c": [0.0, 0.0, 0.0, 0.0]})
    server.tensors["a.P"] = torch.arange(12.0).reshape(3, 4)
    server._allocate(4)
    assert server.module_ranks() == {"a": 3, "b": 1, "c": 0}
    assert server.pruned_modules() == ["c"]
    assert torch.equal(server.tensors["a.P"], torch.arange(12.0).reshape(3, 4)[:, [0, 2, 3]])
    assert "c.P" not in server.tensors and server.tensors["b.Q"].shape == (1, 3)
    payload = server.global_payload()
    assert payload.meta["ranks"] == {"a": [0, 2, 3], "b": [1], "c": []}


# -- end to end on the tiny model -------------------------------------------------------------------------


def _round(client, server, model, batch, rnd, cids=(0, 1)):
    downs = server.configure_round(rnd, list(cids))
    replies, sizes = [], []
    for cid in cids:
        blob = encode(downs[cid])
        fit = client.fit(model, decode(blob), [batch, batch], TrainSettings(lr=1e-2), None)
        up = encode(fit.payload)
        sizes.append((blob, up))
        replies.append(ClientReply(cid, 10 + cid, decode(up)))
    return server.aggregate(rnd, replies), sizes


def test_ranks_shrink_and_clients_follow_with_exact_bytes() -> None:
    client, server, model, batch = _setup(rounds=5, r_target=2, t_init=1, t_final=1)
    budgets = []
    for rnd in range(1, 6):
        ranks_sent = server.module_ranks()
        outcome, sizes = _round(client, server, model, batch, rnd)
        budgets.append(outcome.budget)
        assert outcome.accepted == [0, 1]
        assert outcome.active_rank == min(outcome.budget, R0 * MODULES)
        for down, up in sizes:
            active = {m: r for m, r in ranks_sent.items() if r > 0}
            adapter_floats = sum(HIDDEN * r + r + r * HIDDEN for r in active.values())
            head_floats = LABELS * HIDDEN + LABELS
            score_floats = sum(active.values())
            assert len(down) - header_bytes(down) == (adapter_floats + head_floats) * 4
            assert len(up) - header_bytes(up) == (adapter_floats + head_floats + score_floats) * 4
            assert decode(down).meta["ranks"] == {m: ids for m, ids in server_ids_before(ranks_sent, down).items()}
    assert budgets == [budget_at(t, 5, R0 * MODULES, 2 * MODULES, 1, 1) for t in range(1, 6)]
    # The shared model now holds exactly the server's structure.
    client.apply(model, server.global_payload())
    held = {n: a.rank for n, a in adapters_of(model).items()}
    assert held == {m: r for m, r in server.module_ranks().items() if r > 0}
    assert sum(server.module_ranks().values()) == 2 * MODULES


def server_ids_before(ranks_sent: dict[str, int], down: bytes) -> dict[str, list[int]]:
    ranks = decode(down).meta["ranks"]
    assert {m: len(ids) for m, ids in ranks.items()} == ranks_sent
    return ranks


def test_pruned_module_is_a_plain_linear_on_the_client() -> None:
    client, server, model, batch = _setup(rounds=5, r_target=1, t_init=1, t_final=1)
    _round(client, server, model, batch, 1)
    _, layer = prune_first_module(client, server, model, batch, budget=2)
    assert type(layer) is nn.Linear and not any(p.requires_grad for p in layer.parameters())


def test_mismatched_replies_are_rejected_and_not_averaged() -> None:
    client, server, model, batch = _setup(rounds=5, r_target=2, t_init=1, t_final=1)
    _round(client, server, model, batch, 1)
    _round(client, server, model, batch, 2)  # ranks now shrunk
    down = server.configure_round(3, [0])[0]
    fit = client.fit(model, decode(encode(down)), [batch], TrainSettings(), None)
    good = fit.payload
    m = next(m for m, r in server.module_ranks().items() if r > 0)
    poisoned = {k: v + 1e3 for k, v in good.tensors.items()}
    wrong_shape = Payload(dict(poisoned), dict(good.meta))
    wrong_shape.tensors[m + ".lam"] = torch.zeros(server.module_ranks()[m] + 1)
    stale = Payload(dict(poisoned), {"mask_digest": "0123456789abcdef"})
    outcome = server.aggregate(3, [ClientReply(0, 50, wrong_shape), ClientReply(1, 50, stale), ClientReply(2, 5, good)])
    assert outcome.accepted == [2]
    assert f"{m}.lam: shape" in outcome.rejected[0]
    assert "trained under another mask" in outcome.rejected[1]
    # Only the good reply was averaged: the head (never re-sliced) equals its tensors exactly.
    for key in ("classifier.weight", "classifier.bias"):
        assert torch.equal(server.tensors[key], good.tensors[key])


# -- ablation switches: each compared with the default on the tiny model ----------------------------------


def _alone(rounds: int = 4, r_target: float = 1, **variant) -> tuple[FedARAServer, list[RoundOutcome]]:
    """`rounds` rounds (t_init = t_final = 1) with one client, every reply accepted; the server and outcomes."""
    client, server, model, batch = _setup(rounds=rounds, r_target=r_target, t_init=1, t_final=1, **variant)
    state, outcomes = None, []
    for rnd in range(1, rounds + 1):
        down = server.configure_round(rnd, [0])[0]
        fit = client.fit(model, decode(encode(down)), [batch], TrainSettings(lr=1e-2), state)
        state = fit.client_state
        outcomes.append(server.aggregate(rnd, [ClientReply(0, 8, decode(encode(fit.payload)))]))
        assert outcomes[-1].accepted == [0], outcomes[-1].rejected
    return server, outcomes


def test_revival_masks_triplets_but_keeps_and_sends_the_full_r0_tensors() -> None:
    revival, masked = _alone(allow_revival=True)
    default, shrunk = _alone()
    assert all(o.active_rank == o.budget for o in masked + shrunk)  # both follow the budget down to bT ...
    assert masked[-1].active_rank == MODULES
    # ... but only the default physically drops the triplets it did not keep.
    assert all(revival.tensors[f"{m}.P"].shape[1] == R0 for m in revival.modules)
    assert all(default.tensors[f"{m}.P"].shape[1] == r for m, r in default.module_ranks().items())


def test_without_module_pruning_every_module_keeps_a_triplet() -> None:
    # r_target 0.5: bT = 2 triplets for 4 modules, so the default must prune at least two modules.
    default, _ = _alone(r_target=0.5)
    assert len(default.pruned_modules()) >= 2 and sum(default.module_ranks().values()) == 2
    kept, _ = _alone(r_target=0.5, prune_modules=False)
    assert kept.pruned_modules() == []
    assert kept.module_ranks() == {m: 1 for m in kept.modules}  # b < M: the budget is effectively M


def test_svd_init_starts_from_the_top_singular_vectors_of_w0() -> None:
    _, server, model, _ = _setup(init="svd")
    for name, adapter in adapters_of(model).items():
        u, _, vh = torch.linalg.svd(adapter.base.weight.detach(), full_matrices=False)
        assert torch.allclose(server.tensors[f"{name}.P"], u[:, :R0])
        assert torch.allclose(server.tensors[f"{name}.Q"], vh[:R0])
        assert torch.equal(server.tensors[f"{name}.lam"], torch.zeros(R0))
    # The gaussian default draws P and Q from N(0, init_std^2) instead.
    _, server, model, _ = _setup()
    gaussian = torch.cat([server.tensors[f"{name}.{part}"].flatten() for name in server.modules for part in "PQ"])
    assert 0.018 < float(gaussian.std()) < 0.022
    assert all(torch.equal(server.tensors[f"{name}.lam"], torch.zeros(R0)) for name in server.modules)


def test_uniform_allocation_splits_every_budget_evenly_over_the_modules() -> None:
    _, uniform = _alone(allocation="uniform")
    for outcome in uniform:  # b // M each, the first b % M modules one more, whatever the scores
        even = [outcome.budget // MODULES + (i < outcome.budget % MODULES) for i in range(MODULES)]
        assert list(outcome.module_ranks.values()) == even
    _, scored = _alone()  # the global default follows the scores: here module ranks differ under the same budget
    assert [o.budget for o in scored] == [o.budget for o in uniform]
    assert [o.module_ranks for o in scored] != [o.module_ranks for o in uniform]
    assert all(o.active_rank == o.budget for o in scored)


def test_module_prune_threshold_prunes_low_score_modules_without_redistributing() -> None:
    client, server, model, batch = _setup(module_prune_threshold=0.3, t_init=1, t_final=1)
    fit = client.fit(model, decode(encode(server.configure_round(1, [0])[0])), [batch], TrainSettings(lr=1e-2), None)
    sums = {m: float(fit.payload.tensors[m + SCORES_SUFFIX].sum()) for m in server.modules}
    low = [m for m in server.modules if sums[m] / sum(sums.values()) < 0.3]
    assert 0 < len(low) < MODULES  # the tiny model's score shares straddle the threshold
    outcome = server.aggregate(1, [ClientReply(0, 8, decode(encode(fit.payload)))])
    assert outcome.budget == R0 * MODULES  # round 1 is a warm-up round: the budget itself drops nothing
    assert server.pruned_modules() == low
    assert all(outcome.module_ranks[m] == R0 for m in server.modules if m not in low)  # freed ranks not handed out
    _, default = _alone()
    assert default[0].module_ranks == {m: R0 for m in server.modules}  # threshold 0: nothing pruned in round 1


def test_client_ema_persist_continues_the_importance_emas_across_rounds() -> None:
    client, server, model, batch = _setup(client_ema_persist=True)
    down = decode(encode(server.configure_round(1, [0])[0]))

    def fit(c: MethodClient, state: Payload | None) -> FitResult:
        torch.manual_seed(0)  # the same dropout masks, so every fit sees the same sensitivities I
        return c.fit(model, down, [batch], TrainSettings(lr=1e-2), state)

    first = fit(client, None)
    continued, fresh = fit(client, first.client_state), fit(client, None)
    i_bars = [k for k in first.client_state.tensors if k.startswith("i_bar/")]
    assert len(i_bars) == 3 * MODULES
    b1 = client.params.beta1
    for key in i_bars:  # fresh: I_bar = (1 - b1) I; persisted: I_bar = b1 I_bar(first round) + (1 - b1) I
        expected = b1 * first.client_state.tensors[key] + fresh.client_state.tensors[key]
        assert torch.allclose(continued.client_state.tensors[key], expected)
    assert not torch.equal(_scores(continued), _scores(fresh))
    # Off (the default): no state is kept, and a state handed in is ignored.
    off = get_method("fedara").client_cls(FedARAParams(r0=R0), seed=0)
    assert fit(off, None).client_state is None
    assert torch.equal(_scores(fit(off, first.client_state)), _scores(fresh))


def _scores(fit: FitResult) -> torch.Tensor:
    return torch.cat([v for k, v in fit.payload.tensors.items() if k.endswith(SCORES_SUFFIX)])


def test_server_state_round_trips() -> None:
    client, server, model, batch = _setup(rounds=5, r_target=2, t_init=1, t_final=1)
    _round(client, server, model, batch, 1)
    _round(client, server, model, batch, 2)
    clone = FedARAServer(server.params, total_rounds=5)
    clone.load_state_dict(decode(encode(server.state_dict())))
    assert clone.module_ranks() == server.module_ranks()
    assert clone.global_payload().meta == server.global_payload().meta
    assert all(torch.equal(clone.tensors[k], v) for k, v in server.tensors.items())
    assert all(torch.equal(clone.smoothed[m], s) for m, s in server.smoothed.items())
