from django.core.management.base import BaseCommand

from projects.access_keys import access_keys_rotate


class Command(BaseCommand):
    help = (
        "Encrypt every access key secret again with the first key of ACCESS_KEY_ENCRYPTION_KEYS; "
        "afterwards the older keys can be removed from the setting."
    )

    def handle(self, *args, **options):
        rotated = access_keys_rotate()
        self.stdout.write(f"{rotated} access key secret{'' if rotated == 1 else 's'} encrypted with the first key.")
