"""Plain PyTorch modules and pure scoring/optimisation code: no IO, no Lightning/Feast/MLflow."""
