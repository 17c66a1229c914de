"""The Rekognition API of the console: `POST /rekognition`, JSON 1.1 with SigV4, as botocore's
`rekognition` client speaks it, for the project and dataset operations (spec §7).

protocol.py reads, authenticates and answers a request; params.py checks what botocore leaves to the
server (maximum lengths, patterns, enums); arns.py finds the user's projects and datasets by ARN and
describes them; each operation family is a module (projects_ops, datasets_ops, entries_ops,
tags_ops) whose functions call the same imports, operations, services and selectors the pages call.
"""
