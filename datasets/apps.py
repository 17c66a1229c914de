from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"

    def ready(self):
        from .operations import thumbnails

        # Here, so every process that may decode an image (web, worker, shell) has Pillow's limits.
        thumbnails.pillow_limits_set()
