"""Federated runtime: round engine, payload codec, accounting, in-process simulation, Flower adapters."""
