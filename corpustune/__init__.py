"""corpustune: specialize a dense-retrieval embedding model to one document collection."""

__version__ = "0.2.0"
