"""Where the Fargate tasks run: the VPC (given, or a public-subnet one with an S3 gateway
endpoint and no NAT gateway), the tasks' security group (HTTPS out, nothing in) and the
cluster with the Fargate and Fargate Spot capacity providers.

Everything is created directly in ``scope`` (the ``StepsS3Copy`` construct), so the
template's logical IDs are those of the construct's own children.
"""

from __future__ import annotations

from typing import NamedTuple

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from constructs import Construct

from steps_s3_copy.infra.log_groups import log_group
from steps_s3_copy.infra.props import StepsS3CopyProps


class Network(NamedTuple):
    """The VPC, the tasks' security group and the ECS cluster."""

    vpc: ec2.IVpc
    security_group: ec2.SecurityGroup
    cluster: ecs.Cluster

    @classmethod
    def create(cls, scope: Construct, props: StepsS3CopyProps) -> Network:
        """Use the given VPC or make one; add the security group and the cluster to it."""
        vpc = props.vpc or _create_vpc(scope, props.log_retention)
        security_group = ec2.SecurityGroup(
            scope,
            "TaskSecurityGroup",
            vpc=vpc,
            description="steps-s3-copy Fargate tasks: HTTPS out only, nothing in",
            allow_all_outbound=False,
        )
        security_group.add_egress_rule(
            ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to S3, ECR and CloudWatch Logs"
        )
        cluster = ecs.Cluster(scope, "Cluster", vpc=vpc, enable_fargate_capacity_providers=True)
        return cls(vpc, security_group, cluster)


def _create_vpc(scope: Construct, log_retention: logs.RetentionDays) -> ec2.Vpc:
    """Two AZs of public subnets, an S3 gateway endpoint, rejected traffic logged."""
    vpc = ec2.Vpc(
        scope,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=20)
        ],
        gateway_endpoints={
            "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
        },
    )
    flow_logs = log_group(scope, "FlowLogs", log_retention)
    vpc.add_flow_log(
        "FlowLog",
        destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
        traffic_type=ec2.FlowLogTrafficType.REJECT,
    )
    return vpc
