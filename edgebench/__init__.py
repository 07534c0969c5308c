"""edgebench: what federated fine-tuning of language models really costs on edge devices."""

__version__ = "0.1.0"
