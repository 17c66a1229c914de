from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from datasets.api.views import rekognition

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", login_not_required(auth_views.LoginView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("datasets/", include("datasets.urls")),
    # The Rekognition API; no trailing slash, as SDKs post to the endpoint URL itself.
    path("rekognition", rekognition, name="rekognition"),
    path("", include("projects.urls")),
]
