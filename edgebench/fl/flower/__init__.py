"""Flower adapters: the same method halves, client step, profiler and results contract on Flower.

- :mod:`~edgebench.fl.flower.client_app` -- the ClientApp (``edgebench.fl.flower.client_app:app``): runs
  :func:`edgebench.fl.client_round.run_client_round` with the method's client half inside the profiler
  and returns the contract's per-client measurements as Flower metrics.
- :mod:`~edgebench.fl.flower.executor` -- :class:`FlowerExecutor`, the engine's client executor on Flower:
  one train message per sampled client, every reply checked, dropouts recorded.
- :mod:`~edgebench.fl.flower.transport` -- pushing messages and pulling replies within a deadline, with
  liveness checks; :mod:`~edgebench.fl.flower.nodes` -- which SuperNode serves which client (hello query).
- :mod:`~edgebench.fl.flower.wire` -- what edgebench puts into Flower messages, and how it is read back.
- :mod:`~edgebench.fl.flower.server_app` -- the ServerApp (``edgebench.fl.flower.server_app:app``): the
  engine with the Flower executor.
- :mod:`~edgebench.fl.flower.warm` -- the warm ClientApp worker (one process per SuperNode, every message);
  :mod:`~edgebench.fl.flower.supervise` -- ``edgebench client``'s supervisor (restarts with backoff);
  :mod:`~edgebench.fl.flower.node_state` -- per-client method state on the device's disk;
  :mod:`~edgebench.fl.flower.project` -- the Flower App (``[tool.flwr.app]``) and its run-config keys.
- :mod:`~edgebench.fl.flower.simulation` -- ``edgebench run CONFIG --engine flower-sim`` (Ray).
- :mod:`~edgebench.fl.flower.cli` -- ``edgebench server`` / ``edgebench client`` (importable without flwr).

Only this package imports ``flwr`` (the ``flower`` extra); nothing here is imported by the rest of
edgebench except lazily from the command line. See docs/flower.md.
"""
