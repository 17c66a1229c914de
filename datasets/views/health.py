"""Check dataset: start a check, its report page (polled while a worker computes it), the duplicate
groups, and "Download summary" (§5.7's manifest_summary.json)."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import health, selectors
from ..errors import DatasetError
from ..models import HealthReport

GROUPS_SHOWN = 20


def _report_context(report: HealthReport | None, dataset) -> dict:
    context = {"dataset": dataset, "project": dataset.project, "report": report, "checks": []}
    if report is None:
        return context
    other = None
    if report.basis.get("datasets"):
        other_ids = [int(pk) for pk in report.basis["datasets"] if int(pk) != dataset.pk]
        other = dataset.project.datasets.filter(pk__in=other_ids).first()
    gallery = reverse("datasets:detail", args=[dataset.pk])
    for check in report.checks:
        item = dict(check)
        if check.get("images"):
            item["link"] = f"{gallery}?check={check['code']}&report={report.pk}"
        if check.get("groups"):
            groups = selectors.health_groups(report=report, check_code=check["code"], limit=GROUPS_SHOWN)
            item["group_links"] = [
                (n, len(ids), f"{gallery}?check={check['code']}&report={report.pk}&group={n}")
                for n, ids in enumerate(groups, start=1)
            ]
        context["checks"].append(item)
    context.update(
        current=health.health_report_current(report=report, dataset=dataset),
        other=other,
        failed=sum(1 for c in report.checks if c["level"] == "fail"),
        warnings=sum(1 for c in report.checks if c["level"] == "warning"),
    )
    return context


@require_http_methods(["GET", "POST"])
def dataset_health(request, pk):
    """The dataset's latest report; POST "Check dataset" (or "Check project", scope=project)."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    if request.method == "POST":
        try:
            if request.POST.get("scope") == "project":
                health.project_check_start(dataset=dataset, user=request.user)
            else:
                health.health_check_start(dataset=dataset, user=request.user)
        except DatasetError as exc:
            messages.error(request, str(exc))
        return redirect("datasets:health", pk=dataset.pk)
    context = _report_context(selectors.health_report_latest(dataset=dataset), dataset)
    if request.htmx:
        return render(request, "datasets/health_report.html#report", context)
    return render(request, "datasets/health_report.html", context)


@require_POST
def project_health(request, pk):
    """ "Check dataset" on a project page: checks its training and test datasets."""
    dataset = selectors.dataset_get(user=request.user, pk=pk)
    try:
        health.project_check_start(dataset=dataset, user=request.user)
    except DatasetError as exc:
        messages.error(request, str(exc))
    return redirect("datasets:health", pk=dataset.pk)


@require_GET
def health_summary(request, pk):
    """ "Download summary": the report's manifest summary as manifest_summary.json."""
    report = selectors.health_report_get(user=request.user, pk=pk)
    if report.status != HealthReport.Status.SUCCEEDED:
        messages.info(request, "The check has not finished yet.")
        return redirect("datasets:health", pk=report.dataset_id)
    response = HttpResponse(health.health_summary_json(report=report), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="manifest_summary-{report.dataset.name}.json"'
    return response
