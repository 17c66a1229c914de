"""Access keys for the Rekognition API (the Security credentials page): create, make inactive or
active, delete, and find the key a signed request names.

A key's secret must be readable again to check SigV4 signatures (the server computes the same HMAC the
client did), so it cannot be hashed: it is encrypted with `cryptography`'s MultiFernet (AES-128-CBC
and HMAC-SHA256) under the keys of ACCESS_KEY_ENCRYPTION_KEYS. The first key encrypts and every key
decrypts, so a new key is put first, `manage.py access_keys_rotate` re-encrypts every secret with it,
and the old key can then be removed.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from .errors import ProjectError
from .models import AccessKey

_ID_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


def _fernet() -> MultiFernet:
    keys = [key.strip() for key in settings.ACCESS_KEY_ENCRYPTION_KEYS if key.strip()]
    if not keys:
        digest = hashlib.sha256(f"customlabels-access-keys:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(key) for key in keys])


@dataclass(frozen=True)
class NewAccessKey:
    """A key just created, with the secret in plain text: shown once, never stored so."""

    key: AccessKey
    secret: str


def access_key_create(*, user) -> NewAccessKey:
    """A new active key of the user, as IAM makes them: an id of 20 characters starting AKIA and a
    secret of 40. Atomic; the user's row is locked, so two requests never make a third key.
    Raises ProjectError when the user has ACCESS_KEYS_PER_USER keys already."""
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).get()
        if AccessKey.objects.filter(user=user).count() >= settings.ACCESS_KEYS_PER_USER:
            raise ProjectError(
                f"You have {settings.ACCESS_KEYS_PER_USER} access keys, the most a user can have. "
                "Delete one, after making it inactive, to create another."
            )
        secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
        key = AccessKey.objects.create(
            user=user,
            access_key_id="AKIA" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16)),
            secret_encrypted=_fernet().encrypt(secret.encode()).decode(),
        )
    return NewAccessKey(key=key, secret=secret)


def access_key_active_set(*, key: AccessKey, active: bool) -> AccessKey:
    """Make the key active or inactive; an inactive key's requests are refused."""
    AccessKey.objects.filter(pk=key.pk).update(is_active=active)
    key.is_active = active
    return key


def access_key_delete(*, key: AccessKey) -> None:
    """Delete the key, which must be inactive first (as in IAM), so no running script loses it by a slip.
    Raises ProjectError for an active key."""
    deleted, _ = AccessKey.objects.filter(pk=key.pk, is_active=False).delete()
    if not deleted:
        raise ProjectError(f"Make the access key {key.access_key_id} inactive before you delete it.")


def access_key_secret(*, access_key_id: str) -> tuple[AccessKey, str] | None:
    """The active key with this id and its secret in plain text, or None (no such key, or inactive).
    Raises ProjectError when the secret can't be decrypted with ACCESS_KEY_ENCRYPTION_KEYS."""
    key = AccessKey.objects.select_related("user").filter(access_key_id=access_key_id).first()
    if key is None or not key.is_active or not key.user.is_active:
        return None
    try:
        secret = _fernet().decrypt(key.secret_encrypted.encode()).decode()
    except InvalidToken as exc:
        raise ProjectError(
            "The access key's secret can't be decrypted with ACCESS_KEY_ENCRYPTION_KEYS: was a key removed?"
        ) from exc
    return key, secret


def access_key_used(*, key: AccessKey) -> None:
    """Record when the key last signed a request (shown on Security credentials), at most once a minute."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        AccessKey.objects.filter(pk=key.pk).update(last_used_at=now)


def access_keys_rotate() -> int:
    """Encrypt every secret again with the first key of ACCESS_KEY_ENCRYPTION_KEYS. Idempotent;
    returns how many secrets were rewritten."""
    fernet = _fernet()
    rotated = 0
    for pk, token in AccessKey.objects.values_list("pk", "secret_encrypted").iterator():
        AccessKey.objects.filter(pk=pk, secret_encrypted=token).update(
            secret_encrypted=fernet.rotate(token.encode()).decode()
        )
        rotated += 1
    return rotated
