"""The one error the model layer raises: what cannot be loaded or adapted, and what to do instead."""


class ModelError(RuntimeError):
    """A model could not be resolved or adapted; the message says which extra, path or setting to use."""
