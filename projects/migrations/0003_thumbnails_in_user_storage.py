"""Thumbnails now live in each user's console storage (users/<id>/thumbnails/…): thumbnails made
before are forgotten, so the periodic sweep makes them again under the owner's prefix (the old
objects can be removed from the console bucket's thumbnails/ folder)."""

from django.db import migrations


def forget_old_thumbnails(apps, schema_editor):
    Image = apps.get_model("datasets", "Image")
    Image.objects.exclude(thumbnail_key="").exclude(thumbnail_key__startswith="users/").update(
        thumbnail_key="", needs_thumbnail=True, thumbnail_queued_at=None
    )


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0002_s3_access_grant"),
        ("datasets", "0004_importjob_moved_out"),
    ]

    operations = [migrations.RunPython(forget_old_thumbnails, migrations.RunPython.noop)]
