"""Every way images come into a dataset: one module per source on the pipeline of jobs.py."""
