"""Why a self-test check failed, most likely: an AWS error code (or a connection error's
class, or one of the service's named errors: docs/architecture.md) mapped to a cause
(permissions, quotas, the Fargate lane's image, the network, the configuration) and to what
to do about it."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


class CheckFailedError(Exception):
    """Raised inside a check: it failed, for ``cause``."""

    def __init__(
        self,
        detail: str,
        *,
        cause: str,
        hint: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.cause = cause
        self.hint = hint
        self.data = data or {}


#: error codes (S3, SNS, SQS, Step Functions, ECS, botocore, the service's own named errors:
#: docs/architecture.md) -> the likely cause, and what to do about it
# fmt: off
_CAUSES: tuple[tuple[str, frozenset[str], str], ...] = (
    (
        "permissions",
        frozenset({
            "AccessDenied", "AccessDeniedException", "AuthorizationError",
            "AuthorizationErrorException", "AllAccessDisabled", "Forbidden", "403",
            "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidClientTokenId",
            "UnrecognizedClientException", "KMS.AccessDeniedException", "SourceAccessDenied",
            "ManifestAccessDenied", "DestinationNotWritable", "ReportNotWritable",
            "ResultsNotWritable", "PublishFailed",
        }),
        "check that the scratch bucket is among the stack's source and destination buckets "
        "(and its bucket policy trusts the writer role: s3copy destination-policy), that you "
        "may submit to the inbox, create SQS queues and subscribe to the topic",
    ),
    (
        "quotas",
        frozenset({
            "SlowDown", "Throttling", "ThrottlingException", "TooManyRequestsException",
            "Lambda.TooManyRequestsException", "RequestLimitExceeded", "LimitExceededException",
            "ServiceQuotaExceededException", "ECS.LimitExceededException", "RunTooLong",
            "States.Timeout", "TIMED_OUT",
        }),
        "see the account's Lambda concurrency and Fargate vCPU quotas (Service Quotas) and the "
        "CopyBatch function's throttles on the dashboard; retry when the account is quieter",
    ),
    (
        "image",
        frozenset({
            "FargateTaskMisconfigured", "FargateTaskStopped", "CannotPullContainerError",
            "ResourceInitializationError", "ECS.AccessDeniedException", "BatchFailed",
        }),
        "the Fargate lane failed: see the ECS task's stopped reason in the cluster (image "
        "pull from ECR, the task's network route to ECR and S3, Fargate capacity)",
    ),
    (
        "network",
        frozenset({
            "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
            "ConnectionClosedError", "ProxyConnectionError", "SSLError", "RequestTimeout",
        }),
        "check this machine's route to AWS (proxy, VPN, DNS) and, for a run, the task "
        "subnets' route to S3",
    ),
    (
        "configuration",
        frozenset({
            "NoSuchBucket", "PermanentRedirect", "AuthorizationHeaderMalformed",
            "IllegalLocationConstraintException", "ValidationError", "SidecarInvalid",
            "ManifestInvalid", "InputInvalid", "JobAlreadyRunning", "NotFound",
        }),
        "check the stack name, the region and the scratch bucket (it must exist in the "
        "stack's region)",
    ),
)
# fmt: on


def likely_cause(code: str | None) -> tuple[str, str]:
    """(cause, what to do) for an error code or exception name; ``unknown`` otherwise."""
    if code:
        for cause, codes, hint in _CAUSES:
            if code in codes:
                return cause, hint
    return "unknown", "see the run's report and the functions' and tasks' logs"


def error_code(exc: BaseException) -> str:
    """An AWS error's code (``AccessDenied``...), else the exception's class name."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "")
        if code:
            return code
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(status or "ClientError")
    return type(exc).__name__


def failed_from(exc: Exception, what: str, **data: Any) -> CheckFailedError:
    """A check failure for an AWS (or connection) error while doing ``what``."""
    code = error_code(exc)
    cause, hint = likely_cause(code)
    return CheckFailedError(f"{what}: {code}: {exc}", cause=cause, hint=hint, data=data)
