"""Tests import the redis-server driver from here; it lives in cp.testing."""

from cp.testing.redis_server import RedisServer, free_port

__all__ = ["RedisServer", "free_port"]
