"""`manage.py check --deploy` with production settings, run as an operator would run it."""

import os
import secrets
import subprocess
import sys

from django.conf import settings

PRODUCTION = {
    "DEBUG": "false",
    "ALLOWED_HOSTS": "console.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_PROXY_SSL_HEADER": "true",
}


def check_deploy(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    # A production environment: none of the test run's variables (DJANGO_ALLOW_ASYNC_UNSAFE and the like).
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = check_deploy({**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50)})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_fails_while_the_development_secret_key_is_in_use():
    result = check_deploy(PRODUCTION)

    assert result.returncode != 0
    assert "customlabels.E001" in result.stderr + result.stdout
