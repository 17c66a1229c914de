from django.shortcuts import render


def dataset_create(request, project_pk):
    raise NotImplementedError


def dataset_detail(request, pk):
    raise NotImplementedError
