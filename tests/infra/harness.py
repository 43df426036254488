"""Stand the synthesized stack up in moto and run jobs through it, as AWS would.

Everything comes from the template CDK produced: the EventBridge pattern of the rule, the
state machine definition (its ``Fn::Join`` resolved against the moto resources), the
Lambda functions' image CMD and environment, the task definition's family and container.
The only stand-in is the rule's target: moto's EventBridge does not start executions, so
the rule delivers to an SQS queue and the harness calls StartExecution with the event it
finds there, which is what the real target does. moto gives every S3 event the same
``sequencer`` (and a time in whole seconds), where S3 gives each write of a key its own, so
each event read from the queue gets a sequencer of its own (``distinct_writes``, as the
local pipeline does): a re-upload is a new event, and the same event started twice is a
duplicate delivery.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from steps_s3_copy.local.pipeline import distinct_writes
from tests.conftest import client, read_body
from tests.infra.helpers import definition_of, resolve

INBOX = "steps-s3-copy-inbox"
MOTO_ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class Run:
    """One finished execution: its description, history and the notice it published."""

    execution: dict[str, Any]
    notice: dict[str, Any]
    attributes: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    def states_entered(self) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history
            if "stateEnteredEventDetails" in e
        ]


class Deployment:
    """The stack's resources in moto, created from the synthesized template."""

    def __init__(self, endpoint: str, template: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.template = template
        self.s3 = client("s3", endpoint)
        self.sfn = client("stepfunctions", endpoint)
        self.sqs = client("sqs", endpoint)
        self.refs: dict[tuple[str, str | None], str] = {}
        self._enable_execution()
        self._create()

    # -- provisioning ---------------------------------------------------------------------
    def _enable_execution(self) -> None:
        body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/config", data=body, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status in (200, 201)

    def _of_type(self, type_name: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_name}

    def resolver(self, logical_id: str, attribute: str | None) -> str:
        try:
            return self.refs[(logical_id, attribute)]
        except KeyError:
            raise KeyError(f"no moto stand-in for {logical_id}.{attribute}") from None

    def _create(self) -> None:
        iam = client("iam", self.endpoint)
        role_arn = iam.create_role(
            RoleName="steps-s3-copy-test",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]

        # the inbox, sending its events to EventBridge
        (inbox_id,) = self._of_type("AWS::S3::Bucket")
        self.s3.create_bucket(Bucket=INBOX)
        self.s3.put_bucket_notification_configuration(
            Bucket=INBOX, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        self.refs[(inbox_id, None)] = INBOX
        self.refs[(inbox_id, "Arn")] = f"arn:aws:s3:::{INBOX}"

        # the topic, read back through an SQS subscription
        sns = client("sns", self.endpoint)
        (topic_id,) = self._of_type("AWS::SNS::Topic")
        topic_arn = sns.create_topic(Name="steps-s3-copy-notices")["TopicArn"]
        self.refs[(topic_id, None)] = topic_arn
        self.notices_url = self.sqs.create_queue(QueueName="notices")["QueueUrl"]
        sns.subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=self._queue_arn(self.notices_url)
        )

        # the rule, with the pattern CDK produced, delivering to a queue (see module doc)
        events = client("events", self.endpoint)
        (rule_id,) = self._of_type("AWS::Events::Rule")
        pattern = resolve(
            self.template["Resources"][rule_id]["Properties"]["EventPattern"], self.resolver
        )
        self.event_pattern = pattern
        self.events_url = self.sqs.create_queue(QueueName="job-events")["QueueUrl"]
        events.put_rule(Name="sidecar", EventPattern=json.dumps(pattern))
        events.put_targets(
            Rule="sidecar", Targets=[{"Id": "q", "Arn": self._queue_arn(self.events_url)}]
        )

        # the network and the cluster the definition names
        ec2 = client("ec2", self.endpoint)
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        for index, subnet_id in enumerate(sorted(self._of_type("AWS::EC2::Subnet"))):
            subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{index}.0/24")
            self.refs[(subnet_id, None)] = subnet["Subnet"]["SubnetId"]
        (group_id,) = self._of_type("AWS::EC2::SecurityGroup")
        group = ec2.create_security_group(GroupName="tasks", Description="t", VpcId=vpc_id)
        self.refs[(group_id, "GroupId")] = group["GroupId"]

        ecs = client("ecs", self.endpoint)
        (cluster_id,) = self._of_type("AWS::ECS::Cluster")
        cluster = ecs.create_cluster(
            clusterName=cluster_id, capacityProviders=["FARGATE", "FARGATE_SPOT"]
        )["cluster"]
        self.refs[(cluster_id, "Arn")] = cluster["clusterArn"]
        ((task_id, task),) = self._of_type("AWS::ECS::TaskDefinition").items()
        props = task["Properties"]
        (container,) = props["ContainerDefinitions"]
        ecs.register_task_definition(
            family=props["Family"],
            requiresCompatibilities=props["RequiresCompatibilities"],
            networkMode=props["NetworkMode"],
            cpu=props["Cpu"],
            memory=props["Memory"],
            runtimePlatform={
                "cpuArchitecture": props["RuntimePlatform"]["CpuArchitecture"],
                "operatingSystemFamily": props["RuntimePlatform"]["OperatingSystemFamily"],
            },
            containerDefinitions=[
                {
                    "name": container["Name"],
                    "image": "steps-s3-copy:test",
                    "entryPoint": container["EntryPoint"],
                    "memory": container["Memory"],
                    "essential": container["Essential"],
                    "stopTimeout": container["StopTimeout"],
                }
            ],
        )
        self.refs[(task_id, None)] = props["Family"]

        # the functions: image functions with the template's CMD and environment
        lambda_ = client("lambda", self.endpoint)
        for function_id, function in self._of_type("AWS::Lambda::Function").items():
            fprops = function["Properties"]
            if fprops.get("PackageType") != "Image":
                continue
            created = lambda_.create_function(
                FunctionName=function_id,
                PackageType="Image",
                Code={"ImageUri": f"{MOTO_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/s3copy:test"},
                ImageConfig=fprops["ImageConfig"],
                Role=role_arn,
                Timeout=fprops["Timeout"],
                MemorySize=fprops["MemorySize"],
                Architectures=fprops["Architectures"],
                Environment={
                    "Variables": resolve(fprops["Environment"]["Variables"], self.resolver)
                },
            )
            self.refs[(function_id, "Arn")] = created["FunctionArn"]

        self.definition = definition_of(self.template, self.resolver)
        self.state_machine_arn = self.sfn.create_state_machine(
            name="steps-s3-copy",
            definition=json.dumps(self.definition),
            roleArn=role_arn,
        )["stateMachineArn"]

    def _queue_arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        arn: str = attributes["Attributes"]["QueueArn"]
        return arn

    # -- running --------------------------------------------------------------------------
    def _receive(self, url: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1
            ).get("Messages", [])
            if messages:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
                body: dict[str, Any] = json.loads(messages[0]["Body"])
                return body
        raise AssertionError(f"nothing arrived on {url} within {timeout} s")

    def submit(self, name: str, manifest: str, sidecar: dict[str, Any]) -> dict[str, Any]:
        """Upload the manifest, then the sidecar; return the event the rule matched."""
        self.put_manifest(name, manifest)
        return self.submit_sidecar(name, sidecar)

    def put_manifest(self, name: str, manifest: str) -> None:
        self.s3.put_object(Bucket=INBOX, Key=f"jobs/{name}.csv", Body=manifest.encode())

    def submit_sidecar(self, name: str, sidecar: dict[str, Any]) -> dict[str, Any]:
        """Upload the sidecar alone; return the event the rule matched (a write of its own)."""
        self.s3.put_object(Bucket=INBOX, Key=f"jobs/{name}.json", Body=json.dumps(sidecar))
        return distinct_writes(self._receive(self.events_url, timeout=15))

    def no_more_events(self, wait: float = 2.0) -> bool:
        """True when the rule delivered nothing else (e.g. for the CSV or a working file)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.events_url, MaxNumberOfMessages=10, WaitTimeSeconds=int(wait)
        ).get("Messages", [])
        return not messages

    def no_more_notices(self, wait: float = 2.0) -> bool:
        """True when no (further) notice was published."""
        messages = self.sqs.receive_message(
            QueueUrl=self.notices_url, MaxNumberOfMessages=10, WaitTimeSeconds=int(wait)
        ).get("Messages", [])
        return not messages

    def start(
        self, execution_input: dict[str, Any], timeout: float = 180, *, notice: bool = True
    ) -> Run:
        """StartExecution (what the rule's target does) and wait for it to end, and for its
        notice unless ``notice`` is False (a run that publishes none)."""
        # AWS names an execution started without a name with a UUID; moto leaves
        # $$.Execution.Name empty then, so the harness names it the same way
        arn = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn,
            name=str(uuid.uuid4()),
            input=json.dumps(execution_input),
        )["executionArn"]
        deadline = time.monotonic() + timeout
        execution = self.sfn.describe_execution(executionArn=arn)
        while execution["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.25)
            execution = self.sfn.describe_execution(executionArn=arn)
        history = self.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        if execution["status"] == "RUNNING":
            raise AssertionError(f"execution still running after {timeout} s")
        if not notice:
            return Run(execution=execution, notice={}, attributes={}, history=history)
        envelope = self._receive(self.notices_url, timeout=10)
        return Run(
            execution=execution,
            notice=json.loads(envelope["Message"]),
            attributes=envelope.get("MessageAttributes", {}),
            history=history,
        )

    def objects(self, bucket: str) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                found[item["Key"]] = read_body(self.s3, bucket, item["Key"])
        return found
