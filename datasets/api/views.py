"""`POST /rekognition`: the one view of the API. Signed requests, not sessions: no login, no CSRF."""

from django.contrib.auth.decorators import login_not_required
from django.views.decorators.csrf import csrf_exempt

from . import datasets_ops, entries_ops, projects_ops, tags_ops
from .protocol import handle

OPERATIONS = {
    "CreateProject": projects_ops.create_project,
    "DescribeProjects": projects_ops.describe_projects,
    "DeleteProject": projects_ops.delete_project,
    "CreateDataset": datasets_ops.create_dataset,
    "DescribeDataset": datasets_ops.describe_dataset,
    "DeleteDataset": datasets_ops.delete_dataset,
    "DistributeDatasetEntries": datasets_ops.distribute_dataset_entries,
    "ListDatasetEntries": entries_ops.list_dataset_entries,
    "ListDatasetLabels": entries_ops.list_dataset_labels,
    "UpdateDatasetEntries": entries_ops.update_dataset_entries,
    "TagResource": tags_ops.tag_resource,
    "UntagResource": tags_ops.untag_resource,
    "ListTagsForResource": tags_ops.list_tags_for_resource,
}


@csrf_exempt
@login_not_required
def rekognition(request):
    return handle(request, OPERATIONS)
