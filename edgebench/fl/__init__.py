"""Federated runtime: round engine, payload codec, in-process simulation (Flower adapters later)."""
