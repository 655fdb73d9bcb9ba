"""The Docker-free local runtime: a developer tool, never deployed, never in the layer.

It reads template.yaml (tables, routes, schedules), runs DynamoDB Local, and serves the
HTTP API by turning requests into API Gateway v2 events for the same handler code.
"""
