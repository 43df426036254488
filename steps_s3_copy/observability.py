"""The one place that sets up structured logging, tracing and metrics.

Lambda handlers and the Fargate container log the same JSON shape through Powertools'
Logger; core code takes keys (``logger.info("copied", extra={...})``), never f-strings.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "steps-s3-copy"
METRICS_NAMESPACE = "StepsS3Copy"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE, disabled=None)
metrics = Metrics(service=SERVICE, namespace=METRICS_NAMESPACE)
