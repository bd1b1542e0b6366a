"""Video sessions: encounters, and the network-adaptive profile policy they share."""
