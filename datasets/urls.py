from django.urls import path

from . import views

app_name = "datasets"

urlpatterns = [
    path("create/<int:project_pk>/", views.dataset_create, name="create"),
    path("<int:pk>/", views.dataset_detail, name="detail"),
    path("<int:pk>/progress/", views.dataset_progress, name="progress"),
    path("<int:pk>/add-images/", views.dataset_add_images, name="add_images"),
    path("<int:pk>/upload/", views.images_upload, name="upload"),
    path("<int:pk>/delete/", views.dataset_delete, name="delete"),
    path("<int:pk>/retry/", views.dataset_import_retry, name="import_retry"),
    path("images/<int:pk>/", views.image_detail, name="image_detail"),
    path("<int:pk>/assign/", views.images_labels_assign, name="assign"),
    path("<int:pk>/unassign/", views.images_labels_remove, name="unassign"),
    path("<int:pk>/undo/", views.labeling_undo, name="undo"),
    path("<int:pk>/labels/add/", views.label_add, name="label_add"),
    path("<int:pk>/labels/import/", views.labels_import, name="labels_import"),
    path("labels/<int:pk>/rename/", views.label_rename, name="label_rename"),
    path("labels/<int:pk>/remove/", views.label_remove, name="label_remove"),
    path("images/<int:pk>/labels/<int:label_pk>/remove/", views.image_label_remove, name="image_label_remove"),
    path("<int:dataset_pk>/draw/", views.box_editor, name="box_editor"),
    path("images/<int:pk>/boxes/", views.image_boxes, name="image_boxes"),
    path("boxes/<int:pk>/", views.box_change, name="box_change"),
    path("boxes/<int:pk>/delete/", views.box_delete, name="box_delete"),
    path("<int:pk>/split/", views.dataset_split, name="split"),
    path("<int:pk>/manifest/", views.manifest_export, name="manifest"),
    path("<int:pk>/manifest/download/", views.manifest_download, name="manifest_download"),
    path("<int:pk>/import-jobs/", views.dataset_import_jobs, name="import_jobs"),
    path("import-jobs/<int:pk>/report.csv", views.import_job_report, name="import_report"),
    path("<int:pk>/health/", views.dataset_health, name="health"),
    path("<int:pk>/health/project/", views.project_health, name="project_health"),
    path("health/<int:pk>/summary.json", views.health_summary, name="health_summary"),
    path("<int:pk>/versions/", views.dataset_versions, name="versions"),
    path("<int:pk>/versions/compare/", views.versions_compare, name="versions_compare"),
    path("versions/<int:pk>/", views.version_detail, name="version_detail"),
    path("versions/<int:pk>/export/", views.version_export, name="version_export"),
    path("versions/<int:pk>/download/", views.version_download, name="version_download"),
    path("versions/<int:pk>/restore/", views.version_restore, name="version_restore"),
]
