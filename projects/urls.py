from django.urls import path

from . import views

app_name = "projects"

urlpatterns = [
    path("", views.project_list, name="list"),
    path("setup/", views.first_time_setup, name="first_time_setup"),
    path("create/", views.project_create, name="create"),
    path("<int:pk>/", views.project_detail, name="detail"),
    path("<int:pk>/delete/", views.project_delete, name="delete"),
    path("s3-access/", views.s3_access, name="s3_access"),
]
