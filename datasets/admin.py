from django.contrib import admin

from .models import BoundingBox, Dataset, Image, ImageLabel, ImportChunk, ImportJob, ImportReportItem, Label


class ImageLabelInline(admin.TabularInline):
    model = ImageLabel
    extra = 0
    raw_id_fields = ["label"]


class BoundingBoxInline(admin.TabularInline):
    model = BoundingBox
    extra = 0
    raw_id_fields = ["label"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "dataset_type", "status", "status_message_code", "created_at"]
    list_filter = ["status", "dataset_type", "created_at"]
    search_fields = ["name", "project__name", "project__owner__username"]
    autocomplete_fields = ["project"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["file_name", "dataset", "format", "width", "height", "size", "is_labeled", "error_code"]
    list_filter = ["format", "is_labeled", "error_code"]
    search_fields = ["file_name", "source_ref"]
    raw_id_fields = ["dataset", "import_job"]
    list_select_related = ["dataset"]
    inlines = [ImageLabelInline, BoundingBoxInline]
    show_full_result_count = False


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "created_at"]
    search_fields = ["name", "dataset__name"]
    raw_id_fields = ["dataset"]
    list_select_related = ["dataset"]


@admin.register(ImageLabel)
class ImageLabelAdmin(admin.ModelAdmin):
    list_display = ["image", "label", "created_at"]
    search_fields = ["image__file_name", "label__name"]
    raw_id_fields = ["image", "label"]
    list_select_related = ["image", "label"]
    show_full_result_count = False


@admin.register(BoundingBox)
class BoundingBoxAdmin(admin.ModelAdmin):
    list_display = ["image", "label", "left", "top", "width", "height"]
    search_fields = ["image__file_name", "label__name"]
    raw_id_fields = ["image", "label"]
    list_select_related = ["image", "label"]


class ImportReportItemInline(admin.TabularInline):
    model = ImportReportItem
    extra = 0
    readonly_fields = ["key", "reason"]
    can_delete = False
    max_num = 0


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "dataset",
        "source",
        "status",
        "found",
        "skipped",
        "chunks_done",
        "chunks_total",
        "created_at",
    ]
    list_filter = ["status", "source", "created_at"]
    search_fields = ["dataset__name", "dataset__project__name"]
    raw_id_fields = ["dataset"]
    list_select_related = ["dataset"]
    inlines = [ImportReportItemInline]


@admin.register(ImportChunk)
class ImportChunkAdmin(admin.ModelAdmin):
    list_display = ["id", "job", "seq", "done"]
    list_filter = ["done"]
    search_fields = ["job__dataset__name"]
    raw_id_fields = ["job"]


@admin.register(ImportReportItem)
class ImportReportItemAdmin(admin.ModelAdmin):
    list_display = ["key", "reason", "job"]
    search_fields = ["key"]
    raw_id_fields = ["job"]
