"""The Feast feature repository: entities, sources, feature views and feature services."""
