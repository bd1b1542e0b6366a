"""A notification feed per user, and server-sent events over it."""
