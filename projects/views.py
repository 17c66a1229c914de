from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from customlabels import s3_names
from datasets import counts as dataset_counts

from . import access_keys, console_storage, selectors, services
from .confirm_delete import delete_page
from .errors import ProjectError
from .forms import ProjectCreateForm
from .middleware import console_bucket_exempt

PROJECTS_PER_PAGE = 20


@console_bucket_exempt
@require_http_methods(["GET", "POST"])
def first_time_setup(request):
    bucket = services.console_bucket_get_or_propose()
    if bucket.is_created:
        return redirect("projects:list")
    error = None
    if request.method == "POST":
        try:
            services.console_bucket_create()
        except s3_names.S3Error as exc:
            error = f"The console bucket could not be created: {exc}"
        else:
            messages.success(request, f"The console bucket {bucket.name} was created.")
            return redirect("projects:list")
    return render(request, "projects/first_time_setup.html", {"bucket": bucket, "error": error})


@require_http_methods(["GET"])
def project_list(request):
    page = Paginator(selectors.project_list(user=request.user), PROJECTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "projects/project_list.html", {"page": page})


@require_http_methods(["GET", "POST"])
def project_create(request):
    form = ProjectCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(owner=request.user, name=form.cleaned_data["name"])
        except ProjectError as exc:
            form.add_error(exc.field, str(exc))
        else:
            messages.success(request, f"Project {project.name} was created.")
            return redirect("projects:detail", pk=project.pk)
    return render(request, "projects/project_create.html", {"form": form})


@require_http_methods(["GET"])
def project_detail(request, pk):
    project = selectors.project_get(user=request.user, pk=pk)
    datasets = list(project.datasets.order_by("-created_at", "-id"))
    # Polled every 2 s while an import runs: the counts the gallery caches, not a count of every image.
    counts = dataset_counts.datasets_image_counts(datasets=datasets)
    for dataset in datasets:
        dataset.image_count = counts[dataset.pk]
    chosen = {d.dataset_type: d for d in datasets if d.is_project_dataset}
    context = {
        "project": project,
        "datasets": datasets,
        "train": chosen.get("TRAIN"),
        "test": chosen.get("TEST"),
        "polling": any(d.is_in_progress for d in datasets),
    }
    if request.htmx and request.htmx.target == "datasets":
        return render(request, "projects/project_detail.html#datasets", context)
    return render(request, "projects/project_detail.html", context)


@require_http_methods(["GET", "POST"])
def project_delete(request, pk):
    project = selectors.project_get(user=request.user, pk=pk)
    return delete_page(
        request,
        context=lambda: {"project": project, "dataset_count": project.datasets.count()},
        template="projects/project_delete.html",
        delete=lambda: services.project_delete(project=project),
        refused=ProjectError,
        done=f"Project {project.name} was deleted.",
        then=reverse("projects:list"),
    )


@require_http_methods(["GET"])
def s3_access(request):
    """The S3 locations the user may import from: their own uploads and their grants."""
    bucket = selectors.request_console_bucket(request)
    context = {
        "nav": "s3_access",
        "grants": selectors.s3_access_grants(user=request.user),
        "own_storage": f"s3://{bucket.name}/{console_storage.assets_prefix(request.user.pk)}",
    }
    return render(request, "projects/s3_access.html", context)


@require_http_methods(["GET"])
def security_credentials(request):
    """The user's access keys for the Rekognition API (IAM's Security credentials page)."""
    return render(request, "projects/security_credentials.html", _credentials_context(request))


def _credentials_context(request, **extra) -> dict:
    keys = list(selectors.access_keys(user=request.user))
    return {
        "keys": keys,
        "can_create": len(keys) < settings.ACCESS_KEYS_PER_USER,
        "keys_max": settings.ACCESS_KEYS_PER_USER,
        "endpoint": request.build_absolute_uri("/rekognition"),
        "region": settings.AWS_DEFAULT_REGION,
        **extra,
    }


@require_POST
def access_key_create(request):
    """Create a key and show its secret, this once: the response is the only place it is ever in plain text."""
    try:
        created = access_keys.access_key_create(user=request.user)
    except ProjectError as exc:
        messages.error(request, str(exc))
        return redirect("projects:security_credentials")
    csv_text = f"Access key ID,Secret access key\r\n{created.key.access_key_id},{created.secret}\r\n"
    response = render(
        request,
        "projects/security_credentials.html",
        _credentials_context(request, created=created, csv_href="data:text/csv;charset=utf-8," + quote(csv_text)),
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def access_key_status(request, pk):
    key = selectors.access_key_get(user=request.user, pk=pk)
    active = request.POST.get("active") == "true"
    access_keys.access_key_active_set(key=key, active=active)
    messages.success(request, f"Access key {key.access_key_id} is now {'active' if active else 'inactive'}.")
    return redirect("projects:security_credentials")


@require_POST
def access_key_delete(request, pk):
    key = selectors.access_key_get(user=request.user, pk=pk)
    try:
        access_keys.access_key_delete(key=key)
    except ProjectError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Access key {key.access_key_id} was deleted.")
    return redirect("projects:security_credentials")
