"""Helpers shared by methods: named trainable state and its client, weighted averaging, the local training loop."""
