"""Ray Serve deployments over plain predictors, the app builder and the serve config."""
