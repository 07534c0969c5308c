"""One module per dataset format family; each loader is registered in `edgebench.data.registry`."""
