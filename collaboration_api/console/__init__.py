"""The web console (issue 11): pages under /console over the JSON API."""
