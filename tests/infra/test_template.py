"""Fine-grained assertions on the synthesized template of the ready app."""

from __future__ import annotations

import re
from typing import Any

from aws_cdk.assertions import Match, Template

from steps_s3_copy.infra.compute import (
    COPY_BATCH_HANDLER,
    NOTIFY_HANDLER,
    PREPARE_HANDLER,
    SUMMARISE_HANDLER,
)
from tests.infra.helpers import ACCOUNT, Synth


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
    _, summarise = synth.one("AWS::Lambda::Function", "StepsS3CopySummariseFunction")
    summarise_env = summarise["Properties"]["Environment"]["Variables"]
    assert {k: summarise_env[k] for k in ("WORK_BUCKET", "WORK_PREFIX", "JOBS_PREFIX")} == {
        k: env[k] for k in ("WORK_BUCKET", "WORK_PREFIX", "JOBS_PREFIX")
    }
    _, notify = synth.one("AWS::Lambda::Function", "StepsS3CopyNotifyFunction")
    assert notify["Properties"]["Environment"]["Variables"]["TOPIC_ARN"] == {"Ref": topic_id}


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


def test_log_groups_have_retention(synth: Synth) -> None:
    groups = synth.resources("AWS::Logs::LogGroup")
    assert len(groups) >= 6
    assert {g["Properties"]["RetentionInDays"] for g in groups.values()} == {30}


def test_writer_role_reads_any_source_and_writes_only_outside_this_account(
    synth: Synth,
) -> None:
    inbox_id, _ = synth.one("AWS::S3::Bucket")
    statements = _statements(synth, "StepsS3CopyWriterRoleDefaultPolicy")
    deny = _by_sid(statements, "DenyWritesIntoInstalledAccount")
    assert deny["Effect"] == "Deny"
    assert "s3:PutObject" in deny["Action"]
    assert deny["Condition"] == {"StringEquals": {"s3:ResourceAccount": ACCOUNT}}
    assert deny["NotResource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [inbox_id, "Arn"]}, "/*"]]}
    write = _by_sid(statements, "WriteDestinations")
    assert set(write["Action"]) >= {
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    }
    assert write["Resource"] == {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::*/*"]]}
    read = _by_sid(statements, "ReadSources")
    assert {"s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectAttributes"} <= set(read["Action"])
    kms = _by_sid(statements, "KmsThroughS3")
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
    # no action wildcards anywhere in the role's policy
    for statement in statements:
        assert not [a for a in _as_list(statement["Action"]) if "*" in a], statement


def test_writer_role_is_shared_by_the_data_lambdas_and_the_task(synth: Synth) -> None:
    writer_id, _ = synth.one("AWS::IAM::Role", "StepsS3CopyWriterRole")
    roles = {
        logical_id: f["Properties"]["Role"]
        for logical_id, f in synth.resources("AWS::Lambda::Function").items()
        if f["Properties"].get("PackageType") == "Image"
    }
    shared = {k for k, v in roles.items() if v == {"Fn::GetAtt": [writer_id, "Arn"]}}
    assert {k.split("Function")[0] for k in shared} == {
        "StepsS3CopyPrepare",
        "StepsS3CopyCopyBatch",
        "StepsS3CopySummarise",
    }
    _, role = synth.one("AWS::IAM::Role", "StepsS3CopyWriterRole")
    principals = {
        s["Principal"]["Service"]
        for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    }
    assert principals == {"lambda.amazonaws.com", "ecs-tasks.amazonaws.com"}
    assert "RoleName" not in role["Properties"]
    assert "ManagedPolicyArns" not in role["Properties"]


def test_named_buckets_scope_the_writer_role(synth_scoped: Synth) -> None:
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


def test_notify_role_only_publishes_and_keeps_its_marker(synth: Synth) -> None:
    topic_id, _ = synth.one("AWS::SNS::Topic")
    statements = _statements(synth, "StepsS3CopyNotifyRoleDefaultPolicy")
    publish = [s for s in statements if s["Action"] == "sns:Publish"]
    assert publish == [{"Action": "sns:Publish", "Effect": "Allow", "Resource": {"Ref": topic_id}}]
    s3_actions = {a for s in statements for a in _as_list(s["Action"]) if a.startswith("s3:")}
    assert s3_actions == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}


def test_outputs(synth: Synth) -> None:
    assert set(synth.template["Outputs"]) == {
        "InboxBucketName",
        "TopicArn",
        "StateMachineArn",
        "WriterRoleArn",
    }
