"""Store adapters: implementations of :class:`romana.core.store.Store`."""
