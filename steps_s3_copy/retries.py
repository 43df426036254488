"""How often each step is tried and how long between tries: one table for the deployed
state machine (infra builds its ``Retry`` fields from it) and for the local runner (which
retries a batch the same number of times), so ``s3copy local`` fails and recovers the way
the deployed service does.
"""

from __future__ import annotations

from dataclasses import dataclass

#: errors of a Lambda invocation worth retrying (throttling, the service, the network)
LAMBDA_SERVICE_ERRORS = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
)
#: ... and for a copy batch also BatchIncomplete: it ran out of time and continues on retry
LAMBDA_COPY_ERRORS = (*LAMBDA_SERVICE_ERRORS, "BatchIncomplete")
#: What ``ecs:runTask.sync`` reports when the RunTask call itself fails (no task started).
#: Step Functions names an optimized integration's error ``ECS.<exception>``; throttling and
#: missing Fargate capacity come back as ``ECS.AmazonECSException`` (AWS re:Post, "Why does
#: my Fargate task fail to launch because capacity is unavailable?",
#: https://repost.aws/knowledge-center/ecs-fargate-runtask-capacity), and a RunTask answer
#: with a non-empty ``failures`` list fails the state with ``AmazonECS.Unknown`` ("Run Amazon
#: ECS or Fargate tasks with Step Functions",
#: https://docs.aws.amazon.com/step-functions/latest/dg/connect-ecs.html). ServerException
#: is RunTask's "server issue" (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/
#: API_RunTask.html). InvalidParameterException is also what RunTask answers when EC2
#: throttles the network-interface calls behind it (reported by users, e.g.
#: cdklabs/construct-hub#415, not on an AWS page): retried too, harmlessly, since a real
#: parameter error starts no task and ends in BatchFailed after the retries.
ECS_API_RETRY_ERRORS = (
    "ECS.AmazonECSException",
    "AmazonECS.Unknown",
    "ECS.ServerException",
    "ECS.InvalidParameterException",
)
#: RunTask's client errors (RunTask's API reference, "Errors"): retrying does not help
ECS_API_FATAL_ERRORS = (
    "ECS.AccessDeniedException",
    "ECS.ClientException",
    "ECS.ClusterNotFoundException",
    "ECS.PlatformTaskDefinitionIncompatibilityException",
    "ECS.PlatformUnknownException",
    "ECS.UnsupportedFeatureException",
    "ECS.BlockedException",
)
#: A task that started and stopped badly fails a ``.sync`` state with ``States.TaskFailed``,
#: its Cause the task's description (its containers' exit codes, its stop code). The
#: Fargate lane tells them apart (infra/definition.py) and re-raises one of these:
#: stopped by an interruption (Spot, SIGTERM: the container's exit 4), a crash (exit 1) or
#: a failed start: worth another task ...
FARGATE_TASK_STOPPED = "FargateTaskStopped"
#: ... or a configuration error (the container's exit 2): never retried, no fallback
FARGATE_TASK_MISCONFIGURED = "FargateTaskMisconfigured"
#: errors of a Fargate-lane batch worth another task: on Spot, then on on-demand Fargate
ECS_RETRY_ERRORS = (*ECS_API_RETRY_ERRORS, FARGATE_TASK_STOPPED)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """One ``Retry`` field of a task state.

    ``jitter``: full jitter (the Retry field's ``JitterStrategy: FULL``), a random wait
    between 0 and the computed backoff, which spreads the retries of many Map items apart;
    off where the wait itself is the point (a restore's must last its whole interval).
    """

    errors: tuple[str, ...]
    interval_seconds: int
    max_attempts: int
    max_delay_seconds: int
    backoff_rate: float = 2.0
    jitter: bool = True

    @property
    def attempts(self) -> int:
        """Tries in all: the first one plus ``max_attempts`` retries."""
        return 1 + self.max_attempts


#: Prepare, Summarise and Notify (and their failure-path twins)
LAMBDA_STEP = RetryPolicy(LAMBDA_SERVICE_ERRORS, 2, 6, 60)
#: a Lambda-lane batch
COPY_BATCH_LAMBDA = RetryPolicy(LAMBDA_COPY_ERRORS, 5, 4, 120)
#: a Fargate-lane batch on Spot, then (caught) on on-demand Fargate
COPY_BATCH_SPOT = RetryPolicy(ECS_RETRY_ERRORS, 20, 3, 120)
COPY_BATCH_ON_DEMAND = RetryPolicy(ECS_RETRY_ERRORS, 30, 5, 300)
#: Prepare finding no manifest: the sidecar can land before its CSV (``aws s3 sync``,
#: parallel uploads), so the state machine waits for it a bounded time (about 2 minutes)
#: before the error is caught and reported
PREPARE_MANIFEST_WAIT = RetryPolicy(("ManifestNotFound",), 5, 5, 60)
#: a batch whose archived sources are still being restored waits in Step Functions (the
#: Thaw state's Retry), for about as long as AWS says a restore of the tier takes at most
#: (https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects-retrieval-options.html):
#: Expedited 1-5 minutes; Standard 3-5 hours (12 for Deep Archive); Bulk 5-12 hours (48)
RESTORE_WAIT = {
    "Expedited": RetryPolicy(("RestorePendingExpedited",), 60, 12, 300, 1.5, jitter=False),
    "Standard": RetryPolicy(("RestorePendingStandard",), 3600, 16, 3600, 1.0, jitter=False),
    "Bulk": RetryPolicy(("RestorePendingBulk",), 3600, 52, 3600, 1.0, jitter=False),
}
