"""Helpers shared by methods: named trainable state, weighted averaging, the local training loop."""
