"""Flower adapters: the same method halves, client step, profiler and results contract on Flower.

- :mod:`~edgebench.fl.flower.client_app` -- the ClientApp (``edgebench.fl.flower.client_app:app``): runs
  :func:`edgebench.fl.client_round.run_client_round` with the method's client half inside the profiler
  and returns the contract's per-client measurements as Flower metrics.
- :mod:`~edgebench.fl.flower.strategy` -- :class:`EdgebenchStrategy`, a Flower ``Strategy`` wrapping the
  method's server half (per-client configuration, validation, aggregation, FedARA's allocation), plus
  node discovery and the round's send/receive with dropouts.
- :mod:`~edgebench.fl.flower.server_app` -- the ServerApp (``edgebench.fl.flower.server_app:app``): the
  in-process engine's round loop, results writer and checkpoints, with clients reached through Flower.
- :mod:`~edgebench.fl.flower.simulation` -- ``edgebench run CONFIG --engine flower-sim`` (Ray).
- :mod:`~edgebench.fl.flower.cli` -- ``edgebench server`` / ``edgebench client`` (importable without flwr).

Only this package imports ``flwr`` (the ``flower`` extra); nothing here is imported by the rest of
edgebench except lazily from the command line. See docs/flower.md.
"""
