from tests.datasets.conftest import denied_bucket  # noqa: F401 - the bucket moto's IAM denies
