from django.urls import path

from . import views

app_name = "datasets"

urlpatterns = [
    path("create/<int:project_pk>/", views.dataset_create, name="create"),
    path("<int:pk>/", views.dataset_detail, name="detail"),
    path("<int:pk>/progress/", views.dataset_progress, name="progress"),
    path("<int:pk>/add-images/", views.dataset_add_images, name="add_images"),
    path("images/<int:pk>/", views.image_detail, name="image_detail"),
]
