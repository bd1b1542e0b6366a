"""/models: the registered models, their metrics, promotion and rollback."""
