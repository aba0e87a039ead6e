"""What bench/throughput.py serves with gunicorn: a bare Flask "hello" app (the ceiling of
this machine, gunicorn and Flask with no work at all) and the real app with a benchmark
configuration (CSRF off so that a load generator can POST the filing form without first
fetching it; everything else as in production)."""

from flask import Flask

hello = Flask("hello")


@hello.get("/")
def say_hello():
    return "hello"


def liaison():
    """gunicorn 'wsgi_apps:liaison()'; DATABASE_URL and SECRET_KEY come from the environment."""
    from liaison_app import create_app

    # RATELIMIT_ENABLED: a load generator on one address would hit the filing limit at once.
    return create_app({"WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False})
