"""The regional resource directory: institutions, practitioners, and each site's patients."""
