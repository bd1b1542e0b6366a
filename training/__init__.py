"""Training sets from Feast, Lightning training, evaluation, MLflow logging and promotion."""
