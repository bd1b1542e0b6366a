"""Shared frame of the RegionCare platform: settings and the command line."""

__version__ = "0.1.0"
