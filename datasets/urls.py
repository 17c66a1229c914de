from django.urls import path

from . import views

app_name = "datasets"

urlpatterns = [
    path("create/<int:project_pk>/", views.dataset_create, name="create"),
    path("<int:pk>/", views.dataset_detail, name="detail"),
]
