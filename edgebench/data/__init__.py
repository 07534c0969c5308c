"""Datasets: loaders for real public text-classification sets, the bundled sample, partitioners."""
