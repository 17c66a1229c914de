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
    path("security-credentials/", views.security_credentials, name="security_credentials"),
    path("security-credentials/create/", views.access_key_create, name="access_key_create"),
    path("security-credentials/access-keys/<int:pk>/status/", views.access_key_status, name="access_key_status"),
    path("security-credentials/access-keys/<int:pk>/delete/", views.access_key_delete, name="access_key_delete"),
]
