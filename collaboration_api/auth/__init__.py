"""Accounts, roles and tokens: OAuth2 password flow with short-lived JWTs and refresh."""
