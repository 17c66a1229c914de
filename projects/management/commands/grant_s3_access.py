"""`python manage.py grant_s3_access USER s3://bucket[/prefix] [--write] [--revoke] [--group]`."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from projects import services
from projects.errors import ProjectError


class Command(BaseCommand):
    help = (
        "Let a user (or, with --group, a group) import from an S3 location: s3://bucket for the whole bucket or "
        "s3://bucket/folder/ for a folder. Idempotent. --write adds writing (exports to S3); --revoke takes the "
        "grant back (with --write, only its writing)."
    )

    def add_arguments(self, parser):
        parser.add_argument("grantee", metavar="USER", help="The user name (a group name with --group).")
        parser.add_argument("location", metavar="s3://bucket[/prefix]")
        parser.add_argument("--group", action="store_true", help="USER is the name of a group.")
        parser.add_argument("--write", action="store_true", help="Also allow writing (exports to S3).")
        parser.add_argument("--revoke", action="store_true", help="Take the grant (with --write, its writing) back.")

    def handle(self, *args, grantee, location, group, write, revoke, **options):
        if group:
            target = Group.objects.filter(name=grantee).first()
            kind = "group"
        else:
            target = get_user_model().objects.filter(username=grantee).first()
            kind = "user"
        if target is None:
            raise CommandError(f"There is no {kind} named {grantee!r}.")
        try:
            change = services.s3_access_grant_set(location=location, write=write, revoke=revoke, **{kind: target})
        except ProjectError as exc:
            raise CommandError(str(exc)) from exc
        where = services.s3_access_location(location)
        access = ("read and write" if change.grant.can_write else "read") if change.grant else "no access"
        self.stdout.write(f"{kind} {grantee}, {where.uri}: {change.outcome} ({access}).")
