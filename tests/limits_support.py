"""Fixtures of the rate-limit tests: limits on, counted in memory or in Redis.

The Redis runs use the server at TEST_REDIS_URL (default redis://127.0.0.1:6379/0) under a
key prefix of their own, removed at the end. Without a reachable server they are skipped with
one clear line, except with CI=true, where that is a failure (as for PostgreSQL in conftest).
"""

import os
import secrets

import pytest

from tests.conftest import _in_ci

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_PREFIX = f"liaison-test-{os.getpid()}-{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def redis_url():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as error:  # any reason the server cannot be reached
        message = f"Redis at {REDIS_URL} is not reachable ({type(error).__name__}: {error})"
        if _in_ci():
            pytest.fail(f"{message}; CI=true requires the Redis tests.", pytrace=False)
        pytest.skip(f"{message}. Start Redis or set TEST_REDIS_URL to run the Redis tests.")
    yield REDIS_URL
    for key in client.scan_iter(match=f"*{RUN_PREFIX}*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=["memory", "redis"])
def limits_config(request):
    """The settings that turn the limits on, with each storage; a fresh key prefix per test."""
    if request.param == "memory":
        return {"RATELIMIT_ENABLED": True}
    return {"RATELIMIT_ENABLED": True, "REDIS_URL": request.getfixturevalue("redis_url"),
            "RATELIMIT_KEY_PREFIX": f"{RUN_PREFIX}-{secrets.token_hex(4)}"}
