"""Pure readers and writers of files: Ground Truth manifests, CSV reports; no Django."""
