"""One client's round: download, train and upload each in its own window inside the client window."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from edgebench.fl.client_round import ClientRoundResult, run_client_round
from edgebench.fl.codec import decode, encode
from edgebench.methods.base import Batch, FitResult, LocalRound, MethodClient, MethodParams, Payload, TrainSettings
from edgebench.profiler import NO_METER, Profiler


class FakeClient(MethodClient):
    """Trains a linear layer with SGD, one step per batch, and records when things happened."""

    def __init__(self) -> None:
        super().__init__(MethodParams(), seed=0)
        self.applied: Payload | None = None
        self.fit_ns: int | None = None
        self.job: LocalRound | None = None

    def build(self, base_model: nn.Module) -> nn.Module:
        return base_model

    def initial_parameters(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def apply(self, model: nn.Module, payload: Payload) -> None:
        self.applied = payload
        model.load_state_dict({k: v.float() for k, v in payload.tensors.items()})

    def local_update(self, model: nn.Module, job: LocalRound) -> FitResult:
        self.fit_ns = time.monotonic_ns()
        self.job = job
        opt = torch.optim.SGD(model.parameters(), lr=job.settings.lr)
        losses = []
        for batch in job.batches:
            loss = nn.functional.cross_entropy(model(batch["x"]), batch["labels"])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
        tensors["steps"] = torch.tensor([len(losses)], dtype=torch.int64)
        return FitResult(
            payload=Payload(tensors=tensors, meta={"client": "fake"}),
            train_loss=sum(losses) / len(losses),
            num_steps=len(losses),
            client_state=Payload(meta={"seen": True}),
        )


class RecordingLink:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def comm_estimate(self, bytes_down: int, bytes_up: int) -> tuple[float, float | None]:
        self.calls.append((bytes_down, bytes_up))
        return 0.125, 2.5


def _model() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(4, 2)


def _downlink(model: nn.Module) -> bytes:
    return encode(Payload(tensors={k: v.detach().clone() for k, v in model.state_dict().items()}, meta={"round": 1}))


class TimedBatches:
    """Two batches, noting the monotonic time at which each is produced."""

    def __init__(self) -> None:
        self.produced_ns: list[int] = []

    def __iter__(self) -> Iterator[Batch]:
        g = torch.Generator().manual_seed(1)
        for _ in range(2):
            self.produced_ns.append(time.monotonic_ns())
            yield {"x": torch.randn(3, 4, generator=g), "labels": torch.tensor([0, 1, 1])}


def _run(
    profiler: Profiler | None = None,
    wire_dtype: str = "float32",
    client: FakeClient | None = None,
    batches: TimedBatches | None = None,
) -> tuple[ClientRoundResult, FakeClient, TimedBatches, bytes]:
    client = client or FakeClient()
    batches = batches or TimedBatches()
    model = _model()
    downlink = _downlink(model)
    result = run_client_round(
        client,
        model,
        downlink,
        batches,
        TrainSettings(lr=0.1),
        None,
        profiler or Profiler(enabled=False),
        wire_dtype=wire_dtype,  # type: ignore[arg-type]
    )
    return result, client, batches, downlink


def test_the_client_window_holds_download_train_upload_in_order() -> None:
    result, *_ = _run()
    window = result.window
    assert window.name == "client"
    assert [c.name for c in window.children] == ["download", "train", "upload"]
    download, train, upload = window.children
    assert window.start_ns <= download.start_ns <= download.end_ns <= train.start_ns
    assert train.start_ns <= train.end_ns <= upload.start_ns <= upload.end_ns <= window.end_ns


def test_training_and_batching_happen_inside_the_train_window() -> None:
    result, client, batches, _ = _run()
    train = result.window.child("train")
    assert client.fit_ns is not None and train.start_ns <= client.fit_ns <= train.end_ns
    assert len(batches.produced_ns) == 2
    assert all(train.start_ns <= t <= train.end_ns for t in batches.produced_ns)


def test_fit_gets_the_decoded_downlink_settings_and_client_state() -> None:
    client = FakeClient()
    model = _model()
    downlink = _downlink(model)
    state = Payload(meta={"previous": 1})
    run_client_round(client, model, downlink, TimedBatches(), TrainSettings(lr=0.1), state, Profiler(enabled=False))
    expected = decode(downlink)
    assert client.applied is not None and client.applied.meta == expected.meta == {"round": 1}
    for name, tensor in expected.tensors.items():
        assert torch.equal(client.applied.tensors[name], tensor)
    assert client.job is not None and client.job.client_state is state and client.job.settings.lr == 0.1


def test_the_uplink_decodes_to_what_fit_returned() -> None:
    result, *_ = _run()
    back = decode(result.uplink)
    assert back.meta == result.fit.payload.meta == {"client": "fake"}
    assert set(back.tensors) == set(result.fit.payload.tensors)
    for name, tensor in result.fit.payload.tensors.items():
        assert back.tensors[name].dtype == tensor.dtype
        assert torch.equal(back.tensors[name], tensor)
    assert result.fit.num_steps == 2 and result.fit.client_state is not None


def test_float16_on_the_wire_halves_the_float_tensor_bytes() -> None:
    full, *_ = _run(wire_dtype="float32")
    half, *_ = _run(wire_dtype="float16")
    full_back, half_back = decode(full.uplink), decode(half.uplink)
    for name in ("weight", "bias"):
        assert full_back.tensors[name].dtype == torch.float32
        assert half_back.tensors[name].dtype == torch.float16
        assert torch.allclose(half_back.tensors[name].float(), full_back.tensors[name], atol=1e-3)
    assert half_back.tensors["steps"].dtype == torch.int64  # integer tensors are not cast
    float_bytes = sum(t.numel() * t.element_size() for n, t in full_back.tensors.items() if n != "steps")
    assert half_back.tensor_bytes() == full_back.tensor_bytes() - float_bytes // 2
    assert len(half.uplink) < len(full.uplink)


def test_measurement_fills_bytes_and_asks_the_link_for_the_estimate() -> None:
    result, *_ = _run()
    link = RecordingLink()
    m = result.measurement(4321, link)
    assert link.calls == [(4321, len(result.uplink))]
    assert m.bytes_down == 4321 and m.bytes_up == len(result.uplink)
    assert m.comm_time_est_s == 0.125 and m.comm_energy_est_j == 2.5
    assert m.num_steps == 2 and m.train_loss == result.fit.train_loss


def test_measurement_takes_times_from_the_windows() -> None:
    result, *_ = _run()
    m = result.measurement(10, RecordingLink())
    w = result.window
    assert m.download_s == w.child("download").duration_s
    assert m.train_s == w.child("train").duration_s
    assert m.upload_s == w.child("upload").duration_s
    assert m.total_s == w.duration_s
    assert m.total_s >= m.download_s + m.train_s + m.upload_s > 0


def test_a_disabled_profiler_leaves_energy_and_memory_unmeasured() -> None:
    result, *_ = _run(Profiler(enabled=False))
    m = result.measurement(10, RecordingLink())
    assert m.energy_j is None and m.train_energy_j is None and m.peak_rss_bytes is None
    assert m.energy_provenance is not None and m.energy_provenance.startswith("unavailable:")


def test_an_enabled_profiler_without_a_meter_measures_memory_not_energy() -> None:
    with Profiler() as profiler:
        result, *_ = _run(profiler)
    m = result.measurement(10, RecordingLink())
    assert m.energy_provenance == NO_METER and m.energy_j is None
    assert m.peak_rss_bytes is not None and m.peak_rss_bytes > 0


def test_the_client_window_nests_inside_an_open_window() -> None:
    profiler = Profiler(enabled=False)
    with profiler.window("round") as outer:
        result, *_ = _run(profiler)
    assert outer.children == [result.window]


def test_a_failing_fit_propagates_and_closes_the_windows() -> None:
    class Boom(FakeClient):
        def local_update(self, model: nn.Module, job: LocalRound) -> FitResult:
            raise RuntimeError("boom")

    profiler = Profiler(enabled=False)
    with profiler.window("round") as outer:
        with pytest.raises(RuntimeError, match="boom"):
            _run(profiler, client=Boom())
        with profiler.window("after"):  # a sibling of the failed client window, not nested in it
            pass
    assert [c.name for c in outer.children] == ["client", "after"]
    client = outer.children[0]
    assert [c.name for c in client.children] == ["download", "train"]
    assert client.end_ns >= client.child("train").end_ns > 0
