"""A patient's records across the alliance, read through the ledger's grants and checks."""
