import socket

import pytest


@pytest.fixture
def unreachable_s3(settings):
    """Point the app at a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.AWS_S3_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    return settings.AWS_S3_ENDPOINT_URL
