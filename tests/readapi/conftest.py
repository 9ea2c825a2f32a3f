"""The status cache fixtures (tests/status/conftest.py) are used here too."""

from tests.status.conftest import cache, cache_settings, cached_client

__all__ = ["cache", "cache_settings", "cached_client"]
