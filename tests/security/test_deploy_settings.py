"""Production settings, run as an operator would run them: `manage.py check --deploy` is clean, and with
DEBUG off the console does not start with the built-in development SECRET_KEY."""

import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "console.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_PROXY_SSL_HEADER": "true",
}
REFUSED = "With DEBUG off the console does not start with the built-in development SECRET_KEY"


def run(args: list[str], extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run Python with `args` in a bare environment: none of the test run's variables (its SECRET_KEY,
    DJANGO_ALLOW_ASYNC_UNSAFE and the like), only `extra_env`."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, *args], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def check_deploy(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    return run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], extra_env)


def test_check_deploy_is_clean_with_production_settings():
    result = check_deploy({**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50)})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_while_the_development_secret_key_is_in_use():
    result = check_deploy({**PRODUCTION, "DEBUG": "true"})

    assert result.returncode != 0
    assert "customlabels.E001" in result.stderr + result.stdout


@pytest.mark.parametrize("debug", [None, "false", "0"], ids=["DEBUG unset", "DEBUG=false", "DEBUG=0"])
def test_with_debug_off_the_console_refuses_to_start_with_the_development_secret_key(debug):
    result = run(["manage.py", "check"], {"DEBUG": debug} if debug else {})

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert REFUSED in result.stderr
    assert "Set the SECRET_KEY environment variable to a long random value" in result.stderr


@pytest.mark.parametrize("module", ["customlabels.wsgi", "customlabels.celery"], ids=["web server", "worker"])
def test_the_web_server_and_the_worker_refuse_it_too(module):
    # gunicorn imports the WSGI module and Celery its app; both load the settings before anything runs.
    result = run(
        ["-c", f"import {module}; from django.conf import settings; settings.SECRET_KEY"],
        {"DJANGO_SETTINGS_MODULE": "customlabels.settings"},
    )

    assert result.returncode != 0
    assert REFUSED in result.stderr


def test_with_debug_on_or_a_key_of_its_own_the_console_starts():
    assert run(["manage.py", "check"], {"DEBUG": "true"}).returncode == 0
    assert run(["manage.py", "check"], {"SECRET_KEY": secrets.token_urlsafe(50)}).returncode == 0
