from django.contrib import admin
from django.db.models import Count

from .models import ConsoleBucket, Project


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
