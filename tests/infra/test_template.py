"""Fine-grained assertions on the synthesized template of the ready app."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Match, Template
from aws_cdk.aws_ecr_assets import Platform

from steps_s3_copy.infra import StepsS3Copy
from steps_s3_copy.infra.compute import (
    COPY_BATCH_HANDLER,
    DESTINATION_HANDLER,
    IMAGE_OUTPUTS,
    IMAGE_PLATFORM,
    NOTIFY_HANDLER,
    PREPARE_HANDLER,
    SUMMARISE_HANDLER,
)
from tests.infra.conftest import DESTINATION_BUCKET, KMS_KEY, NAMED, SOURCE_BUCKET, SUBMITTER
from tests.infra.helpers import ACCOUNT, REGION, Synth, all_states, definition_of, named_buckets


def _template(synth: Synth) -> Template:
    return Template.from_json(synth.template)


def _statements(synth: Synth, policy_prefix: str) -> list[dict[str, Any]]:
    _, policy = synth.one("AWS::IAM::Policy", policy_prefix)
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _by_sid(statements: list[dict[str, Any]], sid: str) -> dict[str, Any]:
    found = [s for s in statements if s.get("Sid") == sid]
    assert len(found) == 1, sid
    return found[0]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_synth_time_is_reasonable(synth: Synth) -> None:
    print(f"\nsynth (with cdk-nag) took {synth.seconds:.1f} s")
    assert synth.seconds < 120


def test_inbox_bucket_is_private_encrypted_and_expires_working_files(synth: Synth) -> None:
    _template(synth).has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": {
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "LifecycleConfiguration": {
                    "Rules": Match.array_with(
                        [
                            Match.object_like(
                                {"Prefix": "work/", "ExpirationInDays": 30, "Status": "Enabled"}
                            ),
                            Match.object_like(
                                {
                                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                                    "Status": "Enabled",
                                }
                            ),
                        ]
                    )
                },
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_inbox_sends_events_to_eventbridge(synth: Synth) -> None:
    _template(synth).has_resource_properties(
        "Custom::S3BucketNotifications",
        {"NotificationConfiguration": {"EventBridgeConfiguration": {}}},
    )


def test_inbox_enforces_tls(synth: Synth) -> None:
    _template(synth).has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )


def test_rule_matches_sidecars_in_the_inbox_and_starts_the_state_machine(synth: Synth) -> None:
    inbox_id, _ = synth.one("AWS::S3::Bucket")
    machine_id, _ = synth.one("AWS::StepFunctions::StateMachine")
    queue_id, _ = synth.one("AWS::SQS::Queue")
    _, rule = synth.one("AWS::Events::Rule")
    props = rule["Properties"]
    assert props["EventPattern"] == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [{"Ref": inbox_id}]},
            "object": {"key": [{"wildcard": "jobs/*.json"}]},
        },
    }
    assert props["State"] == "ENABLED"
    (target,) = props["Targets"]
    assert target["Arn"] == {"Ref": machine_id}
    assert "Input" not in target  # the whole event is the execution input
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [queue_id, "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] == 8
    assert "RoleArn" in target


def test_topic_is_encrypted_and_tls_only(synth: Synth) -> None:
    _, topic = synth.one("AWS::SNS::Topic")
    assert "alias/aws/sns" in str(topic["Properties"]["KmsMasterKeyId"])
    _template(synth).has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Action": "sns:Publish"})]
                )
            }
        },
    )


def test_vpc_is_public_only_with_s3_gateway_endpoint_and_no_nat(synth: Synth) -> None:
    template = _template(synth)
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::Subnet", 2)
    template.all_resources_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": True})
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Gateway",
            "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]},
        },
    )
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "REJECT"})
    template.has_resource_properties(
        "AWS::EC2::VPC", {"EnableDnsHostnames": True, "EnableDnsSupport": True}
    )


def test_task_security_group_allows_https_out_only(synth: Synth) -> None:
    _, group = synth.one("AWS::EC2::SecurityGroup")
    props = group["Properties"]
    assert "SecurityGroupIngress" not in props
    assert props["SecurityGroupEgress"] == [
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "HTTPS to S3, ECR and CloudWatch Logs",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]


def test_cluster_has_fargate_and_fargate_spot(synth: Synth) -> None:
    _template(synth).has_resource_properties(
        "AWS::ECS::ClusterCapacityProviderAssociations",
        {"CapacityProviders": Match.array_with(["FARGATE", "FARGATE_SPOT"])},
    )


def test_task_definition_is_arm64_sized_and_logs_json_to_cloudwatch(synth: Synth) -> None:
    writer_id, _ = synth.one("AWS::IAM::Role", "StepsS3CopyWriterRole")
    _, task = synth.one("AWS::ECS::TaskDefinition")
    props = task["Properties"]
    assert props["RuntimePlatform"] == {
        "CpuArchitecture": "ARM64",
        "OperatingSystemFamily": "LINUX",
    }
    assert (props["Cpu"], props["Memory"]) == ("1024", "2048")
    assert props["RequiresCompatibilities"] == ["FARGATE"]
    assert props["NetworkMode"] == "awsvpc"
    assert props["TaskRoleArn"] == {"Fn::GetAtt": [writer_id, "Arn"]}
    (container,) = props["ContainerDefinitions"]
    assert container["Name"] == "Worker"
    assert container["EntryPoint"] == ["python", "-m", "steps_s3_copy.worker"]
    assert "Command" not in container  # anything here would become the worker's arguments
    assert container["Memory"] == 2048  # moto's ECS needs the container-level memory
    assert container["StopTimeout"] == 120  # Spot's two-minute notice
    assert container["Essential"] is True
    assert "Environment" not in container  # the batch comes in through overrides
    log = container["LogConfiguration"]
    assert log["LogDriver"] == "awslogs"
    assert log["Options"]["mode"] == "non-blocking"


def test_lambdas_run_the_runtime_image_on_arm64_with_their_handler(synth: Synth) -> None:
    functions = synth.resources("AWS::Lambda::Function")
    commands = {}
    for logical_id, function in functions.items():
        props = function["Properties"]
        if props.get("PackageType") != "Image":
            continue  # CDK's own bucket-notifications handler
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["ImageConfig"]["EntryPoint"] == ["python", "-m", "awslambdaric"]
        (handler,) = props["ImageConfig"]["Command"]
        commands[handler] = logical_id
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == "steps-s3-copy"
        assert env["LOG_LEVEL"] == "INFO"
        logging = props["LoggingConfig"]
        assert logging["LogFormat"] == "JSON"
        assert logging["ApplicationLogLevel"] == "INFO"
        assert "LogGroup" in logging
    assert set(commands) == {
        PREPARE_HANDLER,
        COPY_BATCH_HANDLER,
        SUMMARISE_HANDLER,
        NOTIFY_HANDLER,
        DESTINATION_HANDLER,
    }
    # one image for all of them (and for the task): the same asset
    images = {
        str(f["Properties"]["Code"]["ImageUri"])
        for f in functions.values()
        if f["Properties"].get("PackageType") == "Image"
    }
    _, task = synth.one("AWS::ECS::TaskDefinition")
    task_image = str(task["Properties"]["ContainerDefinitions"][0]["Image"])
    hashes = {h for text in [*images, task_image] for h in _asset_hashes(text)}
    assert len(hashes) == 1


def _asset_hashes(text: str) -> set[str]:
    return set(re.findall(r"[0-9a-f]{64}", text))


def test_prepare_and_notify_get_their_environment(synth: Synth) -> None:
    inbox_id, _ = synth.one("AWS::S3::Bucket")
    topic_id, _ = synth.one("AWS::SNS::Topic")
    _, prepare = synth.one("AWS::Lambda::Function", "StepsS3CopyPrepareFunction")
    env = prepare["Properties"]["Environment"]["Variables"]
    assert env["WORK_BUCKET"] == {"Ref": inbox_id}
    assert env["WORK_PREFIX"] == "work/"
    assert env["JOBS_PREFIX"] == "jobs/"
    assert env["LANE_CUTOFF_BYTES"] == str(1024**3)
    assert env["REPORTS_PREFIX"] == "reports/"
    # what Prepare checks a job against: exactly what the roles are granted
    assert env["SOURCE_BUCKETS"] == SOURCE_BUCKET
    assert env["DESTINATION_BUCKETS"] == DESTINATION_BUCKET
    assert env["KMS_KEYS"] == ""  # buckets named, no key: no job may name a key
    assert env["STATE_MACHINE_TIMEOUT_SECONDS"] == str(7 * 24 * 3600)
    _, summarise = synth.one("AWS::Lambda::Function", "StepsS3CopySummariseFunction")
    summarise_env = summarise["Properties"]["Environment"]["Variables"]
    assert {k: summarise_env[k] for k in ("WORK_BUCKET", "WORK_PREFIX", "JOBS_PREFIX")} == {
        k: env[k] for k in ("WORK_BUCKET", "WORK_PREFIX", "JOBS_PREFIX")
    }
    _, notify = synth.one("AWS::Lambda::Function", "StepsS3CopyNotifyFunction")
    notify_env = notify["Properties"]["Environment"]["Variables"]
    assert notify_env["TOPIC_ARN"] == {"Ref": topic_id}
    assert notify_env["WORK_PREFIX"] == "work/"


def test_the_destination_function(synth: Synth) -> None:
    """The destination check (CheckDestination) and the end-of-run clean-up (Finish)."""
    _, function = synth.one("AWS::Lambda::Function", "StepsS3CopyDestinationFunction")
    props = function["Properties"]
    assert props["ImageConfig"]["Command"] == [DESTINATION_HANDLER]
    assert props["MemorySize"] == 512
    assert props["Timeout"] == 900
    env = props["Environment"]["Variables"]
    assert {k: env[k] for k in ("WORK_PREFIX", "REPORTS_PREFIX")} == {
        "WORK_PREFIX": "work/",
        "REPORTS_PREFIX": "reports/",
    }


def test_summarise_gets_at_least_one_vcpu(synth: Synth) -> None:
    memory = {
        name: synth.one("AWS::Lambda::Function", f"StepsS3Copy{name}Function")[1]["Properties"][
            "MemorySize"
        ]
        for name in ("Prepare", "CopyBatch", "Summarise")
    }
    assert memory == {"Prepare": 1024, "CopyBatch": 1024, "Summarise": 1769}


def test_state_machine_is_standard_traced_logged_with_a_timeout(synth: Synth) -> None:
    _, machine = synth.one("AWS::StepFunctions::StateMachine")
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is True
    assert '"TimeoutSeconds":604800' in str(props["DefinitionString"])


def test_the_state_machine_logs_to_a_vended_logs_group(synth: Synth) -> None:
    """CreateStateMachine with logging edits the account's CloudWatch Logs resource policy
    (5,120 characters at most) unless the group is under /aws/vendedlogs/ (bp-cwl.html)."""
    group_id, group = synth.one("AWS::Logs::LogGroup", "StepsS3CopyStateMachineLogs")
    name = group["Properties"]["LogGroupName"]
    assert re.fullmatch(r"/aws/vendedlogs/states/StepsS3Copy-[0-9A-F]{8}", name), name
    _, machine = synth.one("AWS::StepFunctions::StateMachine")
    (destination,) = machine["Properties"]["LoggingConfiguration"]["Destinations"]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {"Fn::GetAtt": [group_id, "Arn"]}


def test_the_state_machine_log_group_is_unique_per_stack(tmp_path: Path) -> None:
    names = set()
    for stack_name in ("One", "Two"):
        app = cdk.App(context={"aws:cdk:bundling-stacks": []})
        stack = cdk.Stack(app, stack_name)
        (tmp_path / "Dockerfile").write_text("FROM scratch\n")
        copy = StepsS3Copy(stack, "Copy", image_directory=tmp_path, **named_buckets(stack, NAMED))
        resource = copy.state_machine_log_group.node.default_child
        assert isinstance(resource, cdk.aws_logs.CfnLogGroup)
        names.add(str(resource.log_group_name))
    assert len(names) == 2
    assert all(n.startswith("/aws/vendedlogs/states/") for n in names)


def test_one_single_platform_image_is_built_for_lambda_and_the_task(synth: Synth) -> None:
    """Lambda takes one image manifest (linux/arm64 here), not an image index: the asset
    is built for one platform and loaded as one image (docs/deploy.md, "The image")."""
    (manifest,) = synth.outdir.glob("*.assets.json")
    images = json.loads(manifest.read_text())["dockerImages"]
    assert len(images) == 1  # the functions and the task share the one asset
    ((_, image),) = images.items()
    assert image["source"]["platform"] == "linux/arm64"
    assert image["source"]["dockerOutputs"] == ["type=docker"]
    assert list(IMAGE_OUTPUTS) == ["type=docker"]
    assert IMAGE_PLATFORM.platform == Platform.LINUX_ARM64.platform == "linux/arm64"


def test_runtask_may_tag_the_tasks_it_starts_and_only_then(synth: Synth) -> None:
    """PropagateTags needs ecs:TagResource once the task definition has tags; granted on this
    cluster's tasks, only while RunTask creates them (ecs:CreateAction)."""
    cluster_id, _ = synth.one("AWS::ECS::Cluster")
    role_id, _ = synth.one("AWS::IAM::Role", "StepsS3CopyStateMachineRole")
    statements = [
        s
        for p in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (tag,) = [s for s in statements if "ecs:TagResource" in _as_list(s["Action"])]
    assert tag["Action"] == "ecs:TagResource"
    assert tag["Condition"] == {"StringEquals": {"ecs:CreateAction": "RunTask"}}
    assert _joined(tag["Resource"]).endswith(f":task/<{cluster_id}>/*")
    assert ":ecs:" in _joined(tag["Resource"])
    states = all_states(definition_of(synth.template))
    run_tasks = [
        s for s in states.values() if s.get("Resource") == "arn:aws:states:::ecs:runTask.sync"
    ]
    assert len(run_tasks) == 2
    assert {s["Parameters"]["PropagateTags"] for s in run_tasks} == {"TASK_DEFINITION"}


def test_copy_batch_has_reserved_concurrency_and_prepare_knows_it(
    synth: Synth, synth_scoped: Synth
) -> None:
    _, copy = synth.one("AWS::Lambda::Function", "StepsS3CopyCopyBatchFunction")
    assert copy["Properties"]["ReservedConcurrentExecutions"] == 25
    _, prepare = synth.one("AWS::Lambda::Function", "StepsS3CopyPrepareFunction")
    assert prepare["Properties"]["Environment"]["Variables"]["COPY_CONCURRENCY_LIMIT"] == "25"
    for name, function in synth.resources("AWS::Lambda::Function").items():
        if not name.startswith("StepsS3CopyCopyBatchFunction"):
            assert "ReservedConcurrentExecutions" not in function["Properties"], name
    # none reserved (copy_reserved_concurrency=None): no limit for Prepare either
    _, copy = synth_scoped.one("AWS::Lambda::Function", "StepsS3CopyCopyBatchFunction")
    assert "ReservedConcurrentExecutions" not in copy["Properties"]
    _, prepare = synth_scoped.one("AWS::Lambda::Function", "StepsS3CopyPrepareFunction")
    assert "COPY_CONCURRENCY_LIMIT" not in prepare["Properties"]["Environment"]["Variables"]


def test_prepare_knows_the_execution_timeout_the_definition_has(synth: Synth) -> None:
    _, prepare = synth.one("AWS::Lambda::Function", "StepsS3CopyPrepareFunction")
    env = prepare["Properties"]["Environment"]["Variables"]
    definition = definition_of(synth.template)
    assert int(env["STATE_MACHINE_TIMEOUT_SECONDS"]) == definition["TimeoutSeconds"]


def test_log_groups_have_retention(synth: Synth) -> None:
    groups = synth.resources("AWS::Logs::LogGroup")
    assert len(groups) >= 6
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {30}


# --- who may do what (docs/architecture.md, "Who may do what (IAM)") -------------------

ROLES = ("Prepare", "Writer", "Summarise", "Notify")
INBOX_WRITES = {"s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:AbortMultipartUpload"}


def _role_statements(synth: Synth, role: str) -> list[dict[str, Any]]:
    """Every statement of every policy attached to ``<role>Role``."""
    role_id, _ = synth.one("AWS::IAM::Role", f"StepsS3Copy{role}Role")
    found: list[dict[str, Any]] = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _joined(value: Any) -> str:
    """A resource as one string: ``Fn::Join`` pieces joined, references as ``<id.attr>``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return str(delimiter).join(_joined(p) for p in parts)
    if "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"<{logical_id}.{attribute}>"
    if "Ref" in value:
        return f"<{value['Ref']}>"
    raise AssertionError(value)


def _resources(statement: dict[str, Any], key: str = "Resource") -> list[str]:
    return sorted(_joined(r) for r in _as_list(statement[key]))


def _inbox(synth: Synth) -> str:
    inbox_id, _ = synth.one("AWS::S3::Bucket")
    return f"<{inbox_id}.Arn>"


def _bucket(name: str) -> list[str]:
    return [f"arn:<AWS::Partition>:s3:::{name}", f"arn:<AWS::Partition>:s3:::{name}/*"]


def _allowed(statements: list[dict[str, Any]], actions: set[str]) -> set[str]:
    """The resources of the Allow statements granting any of ``actions``."""
    return {
        r
        for s in statements
        if s["Effect"] == "Allow" and actions & set(_as_list(s["Action"]))
        for r in _resources(s)
    }


def test_each_function_and_the_task_run_as_the_role_of_their_step(synth: Synth) -> None:
    role_ids = {role: synth.one("AWS::IAM::Role", f"StepsS3Copy{role}Role")[0] for role in ROLES}
    expected = {
        "Prepare": "Prepare",
        "CopyBatch": "Writer",
        "Destination": "Writer",
        "Summarise": "Summarise",
        "Notify": "Notify",
    }
    for function, role in expected.items():
        _, resource = synth.one("AWS::Lambda::Function", f"StepsS3Copy{function}Function")
        assert resource["Properties"]["Role"] == {"Fn::GetAtt": [role_ids[role], "Arn"]}, function
    _, task = synth.one("AWS::ECS::TaskDefinition")
    assert task["Properties"]["TaskRoleArn"] == {"Fn::GetAtt": [role_ids["Writer"], "Arn"]}
    principals = {
        role: {
            s["Principal"]["Service"]
            for s in synth.one("AWS::IAM::Role", f"StepsS3Copy{role}Role")[1]["Properties"][
                "AssumeRolePolicyDocument"
            ]["Statement"]
        }
        for role in ROLES
    }
    assert principals == {
        "Prepare": {"lambda.amazonaws.com"},
        "Writer": {"lambda.amazonaws.com", "ecs-tasks.amazonaws.com"},
        "Summarise": {"lambda.amazonaws.com"},
        "Notify": {"lambda.amazonaws.com"},
    }
    for role in ROLES:
        props = synth.one("AWS::IAM::Role", f"StepsS3Copy{role}Role")[1]["Properties"]
        assert "ManagedPolicyArns" not in props
    assert "RoleName" not in synth.one("AWS::IAM::Role", "StepsS3CopyWriterRole")[1]["Properties"]


def test_no_role_has_an_action_wildcard_or_kms_on_any_key(synth: Synth, synth_open: Synth) -> None:
    """KMS only through S3, or, to sign receipts, Summarise's Sign and DescribeKey on exactly
    the keys named at deploy."""
    for s in (synth, synth_open):
        for role in ROLES:
            for statement in _role_statements(s, role):
                actions = _as_list(statement["Action"])
                assert not [a for a in actions if "*" in a], statement
                if not any(a.startswith("kms:") for a in actions):
                    continue
                if statement.get("Sid") == "SignReceiptsWithNamedKeys":
                    assert role == "Summarise"
                    assert actions == ["kms:Sign"]
                    assert _as_list(statement["Resource"]) == [KMS_KEY]
                    assert statement["Condition"] == {"StringEquals": {"kms:MessageType": "DIGEST"}}
                    continue
                if statement.get("Sid") == "DescribeReceiptKeys":
                    assert role == "Summarise"
                    assert actions == ["kms:DescribeKey"]
                    assert _as_list(statement["Resource"]) == [KMS_KEY]
                    continue
                assert statement["Condition"]["StringEquals"]["kms:ViaService"] == (
                    f"s3.{REGION}.amazonaws.com"
                )


def test_the_writer_reads_and_writes_only_the_named_buckets(synth: Synth) -> None:
    inbox = _inbox(synth)
    statements = _role_statements(synth, "Writer")
    assert _resources(_by_sid(statements, "ReadSources")) == [_bucket(SOURCE_BUCKET)[1]]
    assert _resources(_by_sid(statements, "ListSources")) == [_bucket(SOURCE_BUCKET)[0]]
    assert _resources(_by_sid(statements, "WriteDestinations")) == [_bucket(DESTINATION_BUCKET)[1]]
    assert _resources(_by_sid(statements, "ListDestinations")) == [_bucket(DESTINATION_BUCKET)[0]]
    write = _by_sid(statements, "WriteDestinations")
    assert {"s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"} <= set(
        write["Action"]
    )
    assert "s3:DeleteObject" not in write["Action"]
    # the inbox: reads of the run's files and reports, writes of the batch results only
    assert _resources(_by_sid(statements, "ReadWorkAndReports")) == [
        f"{inbox}/reports/*",
        f"{inbox}/work/*",
    ]
    assert _allowed(statements, INBOX_WRITES) == {
        f"{inbox}/work/*/results/*",
        _bucket(DESTINATION_BUCKET)[1],
    }
    assert not [r for r in _allowed(statements, {"s3:GetObject"}) if "/jobs/" in r]
    assert "s3:::*" not in json.dumps(statements)
    # nothing of this account is written but the results, named or not
    deny = _by_sid(statements, "DenyWritesIntoInstalledAccount")
    assert deny["Effect"] == "Deny"
    assert set(deny["Action"]) >= INBOX_WRITES
    assert deny["Condition"] == {"StringEquals": {"s3:ResourceAccount": ACCOUNT}}
    assert _resources(deny, "NotResource") == [f"{inbox}/work/*/results/*"]
    assert not [s for s in statements if str(s.get("Sid", "")).startswith("DenyUnnamed")]
    # SSE-KMS: through S3, for the named buckets' objects (and their Bucket Keys) only
    kms = _by_sid(statements, "KmsThroughS3ForTheBuckets")
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Resource"] == "*"
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    contexts = kms["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
    assert sorted(_joined(c) for c in contexts) == sorted(
        [*_bucket(SOURCE_BUCKET), *_bucket(DESTINATION_BUCKET)]
    )
    assert not [s for s in statements if s.get("Sid") == "KmsNamedKeysThroughS3"]


def test_prepare_reads_jobs_writes_the_work_area_and_only_sizes_sources(synth: Synth) -> None:
    inbox = _inbox(synth)
    statements = _role_statements(synth, "Prepare")
    assert _resources(_by_sid(statements, "ReadJobs")) == [f"{inbox}/jobs/*"]
    assert _allowed(statements, INBOX_WRITES) == {f"{inbox}/work/*", f"{inbox}/work/*/lock.json"}
    takeover = _by_sid(statements, "TakeOverJobLock")
    assert (takeover["Action"], _resources(takeover)) == (
        "s3:DeleteObject",
        [f"{inbox}/work/*/lock.json"],
    )
    size = _by_sid(statements, "SizeSources")
    assert sorted(size["Action"]) == ["s3:GetObject", "s3:GetObjectVersion"]
    assert _resources(size) == [_bucket(SOURCE_BUCKET)[1]]
    assert DESTINATION_BUCKET not in json.dumps(statements)
    assert "kms:" not in json.dumps(statements)


def test_prepare_describes_its_own_executions_from_a_policy_of_its_own(synth: Synth) -> None:
    """The job lock: DescribeExecution on this state machine's executions, in a separate
    policy (in the role's default policy it would be a dependency cycle)."""
    machine_id, _ = synth.one("AWS::StepFunctions::StateMachine")
    role_id, _ = synth.one("AWS::IAM::Role", "StepsS3CopyPrepareRole")
    _, lock = synth.one("AWS::IAM::Policy", "StepsS3CopyPrepareJobLockPolicy")
    assert lock["Properties"]["Roles"] == [{"Ref": role_id}]
    (statement,) = lock["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "states:DescribeExecution"
    assert _joined(statement["Resource"]) == (
        f"arn:<AWS::Partition>:states:{REGION}:{ACCOUNT}:execution:<{machine_id}.Name>:*"
    )
    _, default = synth.one("AWS::IAM::Policy", "StepsS3CopyPrepareRoleDefaultPolicy")
    assert machine_id not in json.dumps(default)
    _, prepare = synth.one("AWS::Lambda::Function", "StepsS3CopyPrepareFunction")
    assert lock_id(synth) not in json.dumps(prepare.get("DependsOn", []))


def lock_id(synth: Synth) -> str:
    return synth.one("AWS::IAM::Policy", "StepsS3CopyPrepareJobLockPolicy")[0]


def test_summarise_writes_only_the_summary_and_the_reports(synth: Synth) -> None:
    inbox = _inbox(synth)
    statements = _role_statements(synth, "Summarise")
    assert _allowed(statements, INBOX_WRITES) == {
        f"{inbox}/work/*/summary.json",
        f"{inbox}/reports/*",
    }
    assert _allowed(statements, {"s3:GetObject"}) == {f"{inbox}/work/*"}
    assert SOURCE_BUCKET not in json.dumps(statements)
    assert DESTINATION_BUCKET not in json.dumps(statements)


def test_notify_role_only_publishes_keeps_its_marker_and_releases_the_lock(
    synth: Synth,
) -> None:
    inbox = _inbox(synth)
    topic_id, _ = synth.one("AWS::SNS::Topic")
    statements = _role_statements(synth, "Notify")
    publish = [s for s in statements if s["Action"] == "sns:Publish"]
    assert publish == [{"Action": "sns:Publish", "Effect": "Allow", "Resource": {"Ref": topic_id}}]
    assert _allowed(statements, INBOX_WRITES) == {
        f"{inbox}/work/*/notice.json",
        f"{inbox}/work/*/lock.json",
    }
    lock = _by_sid(statements, "ReleaseJobLock")
    assert sorted(lock["Action"]) == ["s3:DeleteObject", "s3:GetObject"]
    s3_actions = {a for s in statements for a in _as_list(s["Action"]) if a.startswith("s3:")}
    assert s3_actions == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}


def test_no_role_but_prepare_reads_the_jobs_prefix(synth: Synth, synth_open: Synth) -> None:
    for s in (synth, synth_open):
        inbox = _inbox(s)
        for role in ("Writer", "Summarise", "Notify"):
            granted = _allowed(_role_statements(s, role), {"s3:GetObject"})
            assert f"{inbox}/jobs/*" not in granted, role
            assert f"{inbox}/*" not in granted, role


def test_the_inbox_denies_jobs_to_principals_outside_the_account_by_default(
    synth: Synth,
) -> None:
    inbox = _inbox(synth)
    _, policy = synth.one("AWS::S3::BucketPolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    deny = _by_sid(statements, "DenyJobsFromOthers")
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == "s3:PutObject"
    assert _resources(deny) == [f"{inbox}/jobs/*"]
    arns = deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert sorted(_joined(a) for a in arns) == [
        f"arn:<AWS::Partition>:iam::{ACCOUNT}:*",
        f"arn:<AWS::Partition>:sts::{ACCOUNT}:*",
    ]
    assert not [s for s in statements if s["Effect"] == "Allow"]


def test_named_buckets_scope_the_writer_role(synth_scoped: Synth) -> None:
    """allow_write_to_installed_account with every destination named: no Deny is needed,
    the Allow statements name exactly the buckets."""
    statements = _statements(synth_scoped, "StepsS3CopyWriterRoleDefaultPolicy")
    assert not [s for s in statements if s.get("Sid") == "DenyWritesIntoInstalledAccount"]
    read = _by_sid(statements, "ReadSources")
    text = str(read["Resource"])
    assert "source-a/*" in text
    assert "source-b/*" in text
    assert "destination-x" not in text
    write = _by_sid(statements, "WriteDestinations")
    assert "destination-x/*" in str(write["Resource"])
    assert "source-a" not in str(write["Resource"])
    assert "s3:::*" not in str(statements)
    _, role = synth_scoped.one("AWS::IAM::Role", "StepsS3CopyWriterRole")
    assert role["Properties"]["RoleName"] == "steps-s3-copy-writer"
    _, task = synth_scoped.one("AWS::ECS::TaskDefinition")
    assert (task["Properties"]["Cpu"], task["Properties"]["Memory"]) == ("2048", "8192")
    _, prepare = synth_scoped.one("AWS::Lambda::Function", "StepsS3CopyPrepareFunction")
    env = prepare["Properties"]["Environment"]["Variables"]
    assert (env["SOURCE_BUCKETS"], env["DESTINATION_BUCKETS"]) == (
        "source-a,source-b",
        "destination-x",
    )


# --- the opt-in deployment: any bucket outside this account ------------------------------


def test_opted_in_the_writer_may_use_any_bucket_but_this_accounts_unnamed_ones(
    synth_open: Synth,
) -> None:
    inbox = _inbox(synth_open)
    statements = _role_statements(synth_open, "Writer")
    any_bucket = ["arn:<AWS::Partition>:s3:::*", "arn:<AWS::Partition>:s3:::*/*"]
    assert _resources(_by_sid(statements, "ReadSources")) == [any_bucket[1]]
    assert _resources(_by_sid(statements, "ListSources")) == [any_bucket[0]]
    assert _resources(_by_sid(statements, "WriteDestinations")) == [any_bucket[1]]
    # reads of this account: only the named buckets and the run's own files
    deny = _by_sid(statements, "DenyUnnamedBucketsInInstalledAccount")
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"StringEquals": {"s3:ResourceAccount": ACCOUNT}}
    assert {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"} <= set(deny["Action"])
    assert not INBOX_WRITES & set(deny["Action"])
    assert _resources(deny, "NotResource") == sorted(
        [
            *_bucket("our-own-runs"),
            *_bucket("our-own-landing"),
            inbox,
            f"{inbox}/work/*",
            f"{inbox}/reports/*",
        ]
    )
    # writes into this account: the results and (allow_write_to_installed_account) the
    # named destination of this account, nothing else
    writes = _by_sid(statements, "DenyWritesIntoInstalledAccount")
    assert writes["Condition"] == {"StringEquals": {"s3:ResourceAccount": ACCOUNT}}
    assert _resources(writes, "NotResource") == sorted(
        [f"{inbox}/work/*/results/*", _bucket("our-own-landing")[1]]
    )
    kms = _by_sid(statements, "KmsThroughS3ForTheBuckets")
    contexts = sorted(
        _joined(c) for c in kms["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
    )
    assert "arn:<AWS::Partition>:s3:::*" in contexts
    keys = _by_sid(statements, "KmsNamedKeysThroughS3")
    assert keys["Resource"] == KMS_KEY
    assert keys["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}


def test_opted_in_prepare_sizes_any_source_but_this_accounts_unnamed_ones(
    synth_open: Synth,
) -> None:
    inbox = _inbox(synth_open)
    statements = _role_statements(synth_open, "Prepare")
    assert _resources(_by_sid(statements, "SizeSources")) == ["arn:<AWS::Partition>:s3:::*/*"]
    deny = _by_sid(statements, "DenyUnnamedSourcesInInstalledAccount")
    assert deny["Condition"] == {"StringEquals": {"s3:ResourceAccount": ACCOUNT}}
    assert sorted(deny["Action"]) == sorted(
        ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:GetBucketLocation"]
    )
    assert _resources(deny, "NotResource") == sorted(
        [*_bucket("our-own-runs"), inbox, f"{inbox}/jobs/*", f"{inbox}/work/*"]
    )


def test_opted_in_prepare_gets_no_bucket_lists_but_the_named_keys(synth_open: Synth) -> None:
    _, prepare = synth_open.one("AWS::Lambda::Function", "StepsS3CopyPrepareFunction")
    env = prepare["Properties"]["Environment"]["Variables"]
    assert "SOURCE_BUCKETS" not in env
    assert "DESTINATION_BUCKETS" not in env
    assert env["KMS_KEYS"] == KMS_KEY


def test_named_submitters_are_the_only_ones_who_may_put_jobs(synth_open: Synth) -> None:
    inbox = _inbox(synth_open)
    _, policy = synth_open.one("AWS::S3::BucketPolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    deny = _by_sid(statements, "DenyJobsFromOthers")
    assert deny["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [SUBMITTER]}}
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"AWS": SUBMITTER}
    assert sorted(allow["Action"]) == ["s3:AbortMultipartUpload", "s3:PutObject"]
    assert _resources(allow) == [f"{inbox}/jobs/*"]


def test_outputs(synth: Synth) -> None:
    assert set(synth.template["Outputs"]) == {
        "InboxBucketName",
        "TopicArn",
        "StateMachineArn",
        "WriterRoleArn",
        "DashboardName",
    }
    (dashboard_id,) = synth.resources("AWS::CloudWatch::Dashboard")
    assert synth.template["Outputs"]["DashboardName"]["Value"] == {"Ref": dashboard_id}


# --- issue 12: restores, receipts, the reports delivered to the destination ---------------


def test_the_writer_may_restore_archived_objects_of_the_named_sources_only(
    synth: Synth, synth_open: Synth
) -> None:
    statements = _role_statements(synth, "Writer")
    restore = _by_sid(statements, "RestoreArchivedSources")
    assert restore["Action"] == "s3:RestoreObject"
    assert _resources(restore) == [_bucket(SOURCE_BUCKET)[1]]  # objects of the sources only
    assert _allowed(statements, {"s3:RestoreObject"}) == {_bucket(SOURCE_BUCKET)[1]}
    # opted in: any source outside this account; of this account the named ones only
    opened = _role_statements(synth_open, "Writer")
    assert _resources(_by_sid(opened, "RestoreArchivedSources")) == [
        "arn:<AWS::Partition>:s3:::*/*"
    ]
    deny = _by_sid(opened, "DenyUnnamedBucketsInInstalledAccount")
    assert "s3:RestoreObject" in deny["Action"]
    # nobody else restores
    for role in ("Prepare", "Summarise", "Notify"):
        assert not _allowed(_role_statements(synth_open, role), {"s3:RestoreObject"}), role


def test_summarise_signs_receipts_with_the_named_keys_and_no_other(
    synth: Synth, synth_open: Synth
) -> None:
    # no key named: no KMS at all for Summarise
    assert "kms:" not in json.dumps(_role_statements(synth, "Summarise"))
    statements = _role_statements(synth_open, "Summarise")
    sign = _by_sid(statements, "SignReceiptsWithNamedKeys")
    assert sign["Action"] == "kms:Sign"
    assert sign["Resource"] == KMS_KEY
    # a digest only: never an arbitrary raw message signed with a receipt key
    assert sign["Condition"] == {"StringEquals": {"kms:MessageType": "DIGEST"}}
    describe = _by_sid(statements, "DescribeReceiptKeys")
    assert describe["Action"] == "kms:DescribeKey"
    assert describe["Resource"] == KMS_KEY
    assert "Condition" not in describe
    kms = [s for s in statements if "kms:" in json.dumps(s["Action"])]
    assert kms == [sign, describe]
    # ... and Prepare is told the same keys: a sidecar's receiptSigningKeyId must be one
    _, prepare = synth_open.one("AWS::Lambda::Function", "StepsS3CopyPrepareFunction")
    assert prepare["Properties"]["Environment"]["Variables"]["KMS_KEYS"] == KMS_KEY


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _permits(statements: list[dict[str, Any]], action: str, arn: str, *, account: str) -> bool:
    """Whether ``statements`` let ``action`` on ``arn`` (a resource of ``account``) through:
    an Allow names both (IAM wildcards), and no Deny does (a Deny's ``NotResource`` exempts,
    its only condition here being the resource's account)."""
    allowed = any(
        s["Effect"] == "Allow"
        and "Condition" not in s
        and any(_matches(a, action) for a in _as_list(s["Action"]))
        and any(_matches(r, arn) for r in _resources(s))
        for s in statements
    )
    for s in statements:
        if s["Effect"] != "Deny" or not any(_matches(a, action) for a in _as_list(s["Action"])):
            continue
        if s.get("Condition") != {"StringEquals": {"s3:ResourceAccount": ACCOUNT}}:
            raise AssertionError(f"a Deny this check does not understand: {s}")
        exempt = any(_matches(r, arn) for r in _resources(s, "NotResource"))
        if account == ACCOUNT and not exempt:
            return False
    return allowed


def test_the_writer_may_deliver_the_reports_into_the_destination(
    synth: Synth, synth_scoped: Synth
) -> None:
    """Finish copies report.csv, report.html and receipt.jsonl (CopyObject) from the inbox's
    reports/ to <destinationPrefix>.steps-s3-copy/runs/... in the destination: GetObject on
    the source, PutObject on the target. What the checker reads from the policies it is
    given is checked first (it must be able to say no)."""
    inbox = _inbox(synth)
    statements = _role_statements(synth, "Writer")
    run = "job/2024-06-01T00-00-00Z"
    for name in ("report.csv", "report.html", "receipt.jsonl"):
        source = f"{inbox}/reports/{run}/{name}"
        target = f"{_bucket(DESTINATION_BUCKET)[0]}/copied/.steps-s3-copy/runs/{run}/{name}"
        assert _permits(statements, "s3:GetObject", source, account=ACCOUNT)
        assert _permits(statements, "s3:PutObject", target, account="222222222222")
        # the checker says no where the policies do: the inbox's reports are not writable,
        # and, by default, nothing of this account is written but the batch results
        assert not _permits(statements, "s3:PutObject", source, account=ACCOUNT)
        assert not _permits(statements, "s3:PutObject", target, account=ACCOUNT)
        assert not _permits(
            statements,
            "s3:PutObject",
            target.replace(DESTINATION_BUCKET, "elsewhere"),
            account="222222222222",
        )
    # a named destination of this account, with allow_write_to_installed_account
    scoped = _role_statements(synth_scoped, "Writer")
    target = f"arn:<AWS::Partition>:s3:::destination-x/.steps-s3-copy/runs/{run}/report.csv"
    assert _permits(scoped, "s3:PutObject", target, account=ACCOUNT)
