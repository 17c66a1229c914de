from django import forms
from django.contrib import admin
from django.db.models import Count

from .errors import ProjectError
from .models import ConsoleBucket, Project, S3AccessGrant
from .services import s3_access_location


@admin.register(ConsoleBucket)
class ConsoleBucketAdmin(admin.ModelAdmin):
    list_display = ["name", "region", "created_at"]
    search_fields = ["name", "region"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "status", "dataset_count", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["name", "owner__username"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["arn", "created_at"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(dataset_count=Count("datasets"))

    @admin.display(ordering="dataset_count")
    def dataset_count(self, obj):
        return obj.dataset_count


class S3AccessGrantForm(forms.ModelForm):
    class Meta:
        model = S3AccessGrant
        fields = ["user", "group", "bucket", "prefix", "can_write"]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("bucket"):
            try:
                where = s3_access_location(f"s3://{cleaned['bucket']}/{cleaned.get('prefix') or ''}")
            except ProjectError as exc:
                raise forms.ValidationError(str(exc)) from exc
            cleaned["prefix"] = self.instance.prefix = where.prefix
        return cleaned


@admin.register(S3AccessGrant)
class S3AccessGrantAdmin(admin.ModelAdmin):
    """Staff grant users and groups the S3 locations they may import from (default deny)."""

    form = S3AccessGrantForm
    list_display = ["location", "user", "group", "access", "created_at"]
    list_filter = ["can_write", "bucket"]
    search_fields = ["bucket", "prefix", "user__username", "group__name"]
    autocomplete_fields = ["user", "group"]
    readonly_fields = ["created_at"]
