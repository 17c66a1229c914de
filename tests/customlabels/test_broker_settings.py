"""The Celery broker is chosen by URL, and each gets only the transport options it understands."""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

PRINT_OPTIONS = (
    "from customlabels.celery import app; import json; "
    "print(json.dumps({'url': app.conf.broker_url, 'options': app.conf.broker_transport_options}))"
)


def celery_conf(broker_url: str, **env: str) -> dict:
    """The Celery app's broker configuration as a worker started with this environment sees it."""
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "SECRET_KEY") if key in os.environ}
    result = subprocess.run(
        [sys.executable, "-c", PRINT_OPTIONS],
        cwd=settings.BASE_DIR,
        env={**base, "DJANGO_SETTINGS_MODULE": "customlabels.settings", "CELERY_BROKER_URL": broker_url, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://redis.example.com:6380/0"])
def test_redis_gets_the_visibility_timeout_and_a_sweep_for_dead_workers_tasks_every_10_seconds(url):
    conf = celery_conf(url, CELERY_VISIBILITY_TIMEOUT="120")

    assert conf["url"] == url
    assert conf["options"] == {"visibility_timeout": 120, "unacked_restore_throttle": 1}


def test_rabbitmq_gets_no_redis_options():
    conf = celery_conf("amqp://guest:guest@127.0.0.1:5672//", CELERY_VISIBILITY_TIMEOUT="120")

    assert conf["url"] == "amqp://guest:guest@127.0.0.1:5672//"
    assert conf["options"] == {}
