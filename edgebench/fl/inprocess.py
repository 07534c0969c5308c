"""The in-process executor: every sampled client trains in this process, one after another.

All simulated clients share the method's one model (a frozen backbone plus the adapter the downlink
loads); per-client memory is only what a method keeps as client state.
"""

from __future__ import annotations

from edgebench.fl.client_round import run_client_round
from edgebench.fl.codec import PayloadError, decode
from edgebench.fl.executor import ClientExecutor, ClientOutcome, MethodSession, OnClientDone, RoundTask, RunContext
from edgebench.fl.sampling import client_batches
from edgebench.results import REJECTED, RunMeta


class InProcessExecutor(ClientExecutor):
    """Clients run here, measured by this process's profiler."""

    def __init__(self) -> None:
        self._run: RunContext | None = None
        self._session: MethodSession | None = None

    def open(self, run: RunContext, meta: RunMeta) -> None:
        self._run = run

    def start_method(self, session: MethodSession) -> None:
        self._session = session

    def run_round(self, task: RoundTask, on_client_done: OnClientDone) -> list[ClientOutcome]:
        assert self._run is not None and self._session is not None, "open() and start_method() come first"
        config, measurement, session = self._run.config, self._run.measurement, self._session
        fed = config.federation
        settings = config.train_settings(session.label)  # the method's own lr, when it sets one
        tokens = session.data.train_tokens
        assert tokens is not None
        outcomes: list[ClientOutcome] = []
        for done, ask in enumerate(task.clients, start=1):
            indices = session.data.partition.client_indices[ask.client_id]
            batches = client_batches(fed, config.seed, task.round, ask.client_id, indices, tokens)
            state = session.client_states.get(ask.client_id)
            result = run_client_round(
                session.client,
                session.model,
                ask.downlink,
                batches,
                settings,
                state,
                measurement.profiler,
                fed.wire_dtype,
            )
            if result.fit.client_state is not None:  # kept in host memory: one client's state on the GPU at a time
                session.client_states[ask.client_id] = result.fit.client_state.cpu()
            outcome = ClientOutcome(ask.client_id, ask.num_examples, result.measurement(len(ask.downlink), measurement))
            try:
                outcome.payload = decode(result.uplink, fed.wire_dtype)
            except PayloadError as exc:
                outcome.problem = f"{REJECTED}: undecodable uplink: {exc}"
            outcomes.append(outcome)
            on_client_done(done, result.fit.train_loss)
        return outcomes
