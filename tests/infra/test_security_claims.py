"""The security claims of README.md ("Security: who can start a copy, what each role can
touch", "The destination side of a cross-account copy"), docs/deploy.md ("Security: who
may do what", "The destination side", "The source side") and docs/architecture.md ("Who may
do what (IAM)"), checked against the synthesized policies.

Requests are decided by ``iam_eval`` (AWS's policy evaluation logic: explicit Deny first,
conditions, ``NotResource``, same-account vs cross-account), not by reading the JSON:

- the role table of both documents is the one here (``ROLE_TABLE``), and what each row says
  is what the evaluator finds, per role and per place (the inbox's areas, the named buckets
  in this account and in another, unnamed buckets of both), for the named-bucket deployment,
  more named buckets with writes into this account, the opt-in to any bucket outside this
  account with and without named buckets of this account;
- KMS: only through S3, only for the named buckets' objects (or the named keys); signing only
  with the named keys;
- the inbox's bucket policy: who may put jobs, TLS only;
- ``s3copy destination-policy``: together with the writer's own policy it lets the writer do
  in a destination of another account exactly what the writer's policy grants there, no
  more; the example policies in the documents are what the command prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from typer.testing import CliRunner

from steps_s3_copy.cli import app as cli_app
from steps_s3_copy.cli import policy as cli_policy
from steps_s3_copy.infra.app import build
from tests.infra.conftest import KMS_KEY, SUBMITTER
from tests.infra.helpers import ACCOUNT, CONTEXT, REGION, Synth, resolve, synthesize
from tests.infra.iam_eval import Decision, Request, condition_holds, evaluate
from tests.infra.test_policies import policy_resolver

ROOT = Path(__file__).resolve().parents[2]
OTHER = "222222222222"  # an account that is not the installing one
README = ROOT / "README.md"
DEPLOY = ROOT / "docs" / "deploy.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# --- the claims -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One row of the role table, as README.md and docs/deploy.md print it."""

    runs: str
    inbox: str
    sources: str
    destinations: str
    kms: str


#: the role table of README.md and docs/deploy.md, cell for cell (``test_the_documents_
#: print_this_role_table``); what each cell says is checked by ``EXPECTED`` below
ROLE_TABLE = {
    "PrepareRole": Row(
        "Prepare",
        "read `jobs/*`; read and write `work/*` (and delete a stale `work/*/lock.json`); list",
        "read (HEAD, any version) and list",
        "none",
        "none",
    ),
    "WriterRole": Row(
        "CopyBatch (and its Thaw), Destination (CheckDestination, Finish), the Fargate task",
        "read `work/*` and `reports/*`; write only `work/*/results/*`; list",
        "read (any version, tags, attributes) and list; restore archived objects",
        "write, tag, read back, list, abort and list multipart uploads (the delivered reports "
        "under `.steps-s3-copy/runs/` too); in the installing account only with "
        "`allowWriteToInstalledAccount`",
        "`kms:Decrypt`, `kms:GenerateDataKey` only through S3 in the stack's region, for the "
        "named buckets' objects; the keys named in `kmsKeys` through S3",
    ),
    "SummariseRole": Row(
        "Summarise",
        "read `work/*`; write `work/*/summary.json` and `reports/*`; list",
        "none",
        "none",
        "`kms:Sign` (of a digest only) and `kms:DescribeKey` on the keys named in `kmsKeys` "
        "only (receipts)",
    ),
    "NotifyRole": Row(
        "Notify (publishes the notice to the topic)",
        "read, write and delete `work/*/notice.json`; read and delete `work/*/lock.json`; list",
        "none",
        "none",
        "none",
    ),
    "state machine role": Row(
        "the Distributed Map (and every other state)",
        "read the batch index and write the Map Run results, only under `work/*`",
        "none",
        "none",
        "none",
    ),
}

#: capability -> the actions it stands for; the first is the one a claim needs allowed
OBJECT_CAPABILITIES = {
    "read": (
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging",
        "s3:GetObjectAttributes",
        "s3:GetObjectVersionAttributes",
        "s3:ListMultipartUploadParts",
    ),
    "write": ("s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"),
    "delete": ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteObjectTagging"),
    "restore": ("s3:RestoreObject",),
    "acl": ("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
}
BUCKET_CAPABILITIES = {
    "list": (
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "s3:ListBucketMultipartUploads",
        "s3:GetBucketLocation",
    ),
    "admin": (
        "s3:PutBucketPolicy",
        "s3:DeleteBucket",
        "s3:PutBucketAcl",
        "s3:PutLifecycleConfiguration",
    ),
}

INBOX = "inbox"
SOURCE = "source"
DESTINATION = "destination"
#: where a role may or may not reach: (which bucket, key, the bucket's account)
PLACES: dict[str, tuple[str, str, str]] = {
    "jobs": (INBOX, "jobs/team-a.json", ACCOUNT),
    "work": (INBOX, "work/team-a/run-1/plan.jsonl", ACCOUNT),
    "results": (INBOX, "work/team-a/run-1/results/batch-1.jsonl", ACCOUNT),
    "summary": (INBOX, "work/team-a/run-1/summary.json", ACCOUNT),
    "notice": (INBOX, "work/team-a/run-1/notice.json", ACCOUNT),
    "lock": (INBOX, "work/team-a/lock.json", ACCOUNT),
    "map results": (INBOX, "work/map-results/run-1/SUCCEEDED_0.json", ACCOUNT),
    "reports": (INBOX, "reports/team-a/run-1/report.csv", ACCOUNT),
    "inbox elsewhere": (INBOX, "notes/readme.txt", ACCOUNT),
    "source here": (SOURCE, "runs/r1.fastq.gz", ACCOUNT),
    "source there": (SOURCE, "runs/r1.fastq.gz", OTHER),
    "destination here": (DESTINATION, "landing/r1.fastq.gz", ACCOUNT),
    "destination there": (DESTINATION, "landing/r1.fastq.gz", OTHER),
    "unnamed here": ("other-team-data", "secrets/db.csv", ACCOUNT),
    "unnamed there": ("partner-elsewhere", "drop/x.bin", OTHER),
}
INBOX_PLACES = [p for p, (bucket, _, _) in PLACES.items() if bucket == INBOX]


@dataclass(frozen=True)
class Deployment:
    """What a synthesized deployment was told: any bucket outside this account, writes into
    this account, KMS keys named."""

    any_bucket: bool
    write_here: bool
    keys: bool
    #: whether the "source here" and "destination here" buckets are named (with the opt-in
    #: alone they are not, and are what any unnamed bucket of this account is)
    named_here: bool = True


def expected(role: str, d: Deployment) -> dict[str, set[str]]:
    """What ``ROLE_TABLE`` (and the prose around it) says ``role`` may do, per place."""
    found = _named_expected(role, d)
    if not d.named_here:
        for place in ("source here", "destination here"):
            found[place] = set(found["unnamed here"])
    return found


def _named_expected(role: str, d: Deployment) -> dict[str, set[str]]:
    listed = {"list"}
    found: dict[str, set[str]]
    if role == "PrepareRole":
        work = {"read", "write", "list"}
        found = {place: set() for place in PLACES}
        found.update(
            {p: set(work) for p in ("work", "results", "summary", "notice", "map results")}
        )
        found.update(
            {
                "jobs": {"read", "list"},
                "lock": work | {"delete"},
                "reports": set(listed),
                "inbox elsewhere": set(listed),
                "source here": {"read", "list"},
                "source there": {"read", "list"},
            }
        )
        if d.any_bucket:  # any source outside this account
            found.update({p: {"read", "list"} for p in ("destination there", "unnamed there")})
        return found
    if role == "WriterRole":
        found = {place: set(listed) for place in INBOX_PLACES}
        found.update({p: {"read", "list"} for p in ("work", "summary", "notice", "lock")})
        found.update({"map results": {"read", "list"}, "reports": {"read", "list"}})
        found["results"] = {"read", "write", "list"}
        found.update({p: {"read", "restore", "list"} for p in ("source here", "source there")})
        found["destination there"] = {"read", "write", "list"}
        found["destination here"] = {"read", "list"} | ({"write"} if d.write_here else set())
        found["unnamed here"] = set()
        found["unnamed there"] = set()
        if d.any_bucket:
            # any bucket outside this account, for all of it; of this account the named
            # buckets and the run's own files (restore included: S3 refuses to restore an
            # object that is not archived, and the inbox holds none)
            everything = {"read", "write", "restore", "list"}
            found.update({p: set(everything) for p in ("source there", "destination there")})
            found["unnamed there"] = set(everything)
            found["destination here"] = everything - ({"write"} if not d.write_here else set())
            for place in ("work", "results", "summary", "notice", "lock", "map results", "reports"):
                found[place] |= {"restore"}
        return found
    if role == "SummariseRole":
        found = {place: set() for place in PLACES}
        found.update({place: {"read", "list"} for place in INBOX_PLACES})
        found.update(
            {
                "jobs": set(listed),
                "summary": {"read", "write", "list"},
                "reports": {"write", "list"},
                "inbox elsewhere": set(listed),
            }
        )
        return found
    if role == "NotifyRole":
        found = {place: set() for place in PLACES}
        found.update({place: set(listed) for place in INBOX_PLACES})
        found["notice"] = {"read", "write", "delete", "list"}
        found["lock"] = {"read", "delete", "list"}
        return found
    assert role == "state machine role"
    found = {place: set() for place in PLACES}
    for place in ("work", "results", "summary", "notice", "lock", "map results"):
        found[place] = {"read", "write"}
    return found


# --- the synthesized deployments, resolved ------------------------------------------------

ROLE_IDS = {
    "PrepareRole": "StepsS3CopyPrepareRole",
    "WriterRole": "StepsS3CopyWriterRole",
    "SummariseRole": "StepsS3CopySummariseRole",
    "NotifyRole": "StepsS3CopyNotifyRole",
    "state machine role": "StepsS3CopyStateMachineRole",
}


@dataclass
class World:
    """A synthesized deployment: every role's resolved identity policies, the inbox's
    bucket policy, and the names of its buckets."""

    deployment: Deployment
    inbox: str
    source: str
    destination: str
    roles: dict[str, str]  # role -> ARN
    identity: dict[str, list[dict[str, Any]]]
    inbox_policy: dict[str, Any]

    def bucket(self, name: str) -> str:
        return {INBOX: self.inbox, SOURCE: self.source, DESTINATION: self.destination}.get(
            name, name
        )

    def request(self, role: str, action: str, place: str, *, bucket_level: bool = False) -> Request:
        which, key, account = PLACES[place]
        arn = f"arn:aws:s3:::{self.bucket(which)}"
        return Request(self.roles[role], action, arn if bucket_level else f"{arn}/{key}", account)

    def decide(self, request: Request) -> Decision:
        """What the deployment lets ``request`` do: the role's policies, with the inbox's
        bucket policy; a bucket or key of another account is taken to let the role in (its
        owner's policy is the owner's to write; without one nothing is allowed across
        accounts, which ``test_another_accounts_bucket_needs_its_own_policy`` checks), so
        what is allowed there is what the role's own policies allow."""
        policy: dict[str, Any] | None = None
        if request.resource.startswith(f"arn:aws:s3:::{self.inbox}"):
            policy = self.inbox_policy
        elif request.resource_account != ACCOUNT:
            policy = owner_lets_in(request.principal)
        principal = next(r for r, arn in self.roles.items() if arn == request.principal)
        return evaluate(request, self.identity[principal], policy)

    def capabilities(self, role: str, place: str) -> dict[str, set[str]]:
        """capability -> the actions of it that ``role`` is allowed at ``place``."""
        found: dict[str, set[str]] = {}
        for capabilities, bucket_level in (
            (OBJECT_CAPABILITIES, False),
            (BUCKET_CAPABILITIES, True),
        ):
            for name, actions in capabilities.items():
                found[name] = {
                    action
                    for action in actions
                    if self.decide(
                        self.request(role, action, place, bucket_level=bucket_level)
                    ).allowed
                }
        return found


def owner_lets_in(principal: str) -> dict[str, Any]:
    """A resource policy of another account that lets ``principal`` do anything."""
    statement = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "*", "Resource": "*"}
    return {"Version": "2012-10-17", "Statement": [statement]}


def world(synth: Synth, deployment: Deployment, source: str, destination: str) -> World:
    template = synth.template
    resolver = policy_resolver(template)
    role_ids = {
        role: next(
            k
            for k, r in template["Resources"].items()
            if k.startswith(prefix) and r["Type"] == "AWS::IAM::Role"
        )
        for role, prefix in ROLE_IDS.items()
    }
    identity: dict[str, list[dict[str, Any]]] = {role: [] for role in role_ids}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        for role, logical_id in role_ids.items():
            if {"Ref": logical_id} in resource["Properties"]["Roles"]:
                identity[role].append(resolve(resource["Properties"]["PolicyDocument"], resolver))
    (inbox_id,) = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket"]
    (bucket_policy,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"
    ]
    return World(
        deployment=deployment,
        inbox=resolver(inbox_id, None),
        source=source,
        destination=destination,
        roles={role: resolver(logical_id, "Arn") for role, logical_id in role_ids.items()},
        identity=identity,
        inbox_policy=resolve(bucket_policy["Properties"]["PolicyDocument"], resolver),
    )


@pytest.fixture(scope="module")
def synth_any(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The opt-in alone: any bucket outside this account, none of this account named, no
    writes into this account."""
    return synthesize(
        tmp_path_factory.mktemp("cdk.out.any"),
        copy_args={"allow_any_bucket_outside_this_account": True},
        nag=False,
    )


def readme_deploy_context() -> dict[str, str]:
    """The ``-c name=value`` pairs of the README's deploy command (its "Deploy" section)."""
    (block,) = re.findall(r"```shell\n(.*?)```", _section(README, "Deploy"), re.DOTALL)[:1]
    return dict(re.findall(r"-c (\w+)=(\S+)", block))


@pytest.fixture(scope="module")
def synth_readme(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The ready app as the README's deploy command configures it, through the app's own
    context handling (``infra/app.py``), not the construct's arguments."""
    outdir = tmp_path_factory.mktemp("cdk.out.readme")
    app = cdk.App(outdir=str(outdir), context={**CONTEXT, **readme_deploy_context()})
    stack = build(app, cdk.Environment(account=ACCOUNT, region=REGION))
    app.synth()
    template = json.loads((outdir / f"{stack.stack_name}.template.json").read_text())
    return Synth(outdir, stack, template, 0.0, None)


def test_the_readme_deploy_command_names_the_buckets_its_world_uses() -> None:
    context = readme_deploy_context()
    _, _, source, destination = WORLDS["readme"]
    assert (context["sourceBuckets"], context["destinationBuckets"]) == (source, destination)
    assert context["writerRoleName"] == EXAMPLE_ROLE


WORLDS = {
    # the README's own deploy command, through the app's context values
    "readme": (
        "synth_readme",
        Deployment(False, False, False),
        "lab-a-raw",
        "partner-landing-bucket",
    ),
    # the named-bucket deployment (conftest.NAMED)
    "named": ("synth", Deployment(False, False, False), "source-bucket", "destination-bucket"),
    # more named buckets, writes into this account's named destinations allowed
    "scoped": ("synth_scoped", Deployment(False, True, False), "source-a", "destination-x"),
    # any bucket outside this account, two of this account named and writable, a key
    "open": ("synth_open", Deployment(True, True, True), "our-own-runs", "our-own-landing"),
    # any bucket outside this account and nothing else
    "any": (
        "synth_any",
        Deployment(True, False, False, named_here=False),
        "named-nowhere",
        "named-nowhere-either",
    ),
}


@pytest.fixture(scope="module", params=list(WORLDS))
def deployed(request: pytest.FixtureRequest) -> World:
    fixture, deployment, source, destination = WORLDS[request.param]
    return world(request.getfixturevalue(fixture), deployment, source, destination)


# --- the role table -------------------------------------------------------------------------


def _section(path: Path, heading: str) -> str:
    """The text of ``path`` from the heading that starts with ``heading`` to the next heading
    of the same or a higher level."""
    text = path.read_text()
    match = re.search(rf"^(#+) {re.escape(heading)}.*$", text, re.MULTILINE)
    assert match, f"{path.name}: no heading {heading!r}"
    level = len(match.group(1))
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def role_table(section: str) -> dict[str, Row]:
    """The table of ``section`` whose header starts with ``| role |``."""
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("|")]
    start = next(i for i, line in enumerate(lines) if line.startswith("| role |"))
    rows: dict[str, Row] = {}
    for line in lines[start + 2 :]:
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        if len(cells) != 6:
            break
        rows[cells[0]] = Row(*cells[1:])
    return rows


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        (README, "Security: who can start a copy"),
        (DEPLOY, "Security: who may do what"),
        (ARCHITECTURE, "Who may do what (IAM)"),
    ],
)
def test_the_documents_print_this_role_table(path: Path, heading: str) -> None:
    assert role_table(_section(path, heading)) == ROLE_TABLE


def test_each_role_may_do_what_the_table_says_and_nothing_more(deployed: World) -> None:
    """Per role and place: each claimed capability has its key action allowed; a capability
    not claimed has none of its actions allowed (an ACL or a bucket's policy never)."""
    wrong = []
    for role in ROLE_TABLE:
        claims = expected(role, deployed.deployment)
        for place in PLACES:
            allowed = deployed.capabilities(role, place)
            for capability, actions in {**OBJECT_CAPABILITIES, **BUCKET_CAPABILITIES}.items():
                if capability in claims[place] and actions[0] not in allowed[capability]:
                    wrong.append(f"{role} may not {capability} {place}")
                if capability not in claims[place] and allowed[capability]:
                    wrong.append(f"{role} may {sorted(allowed[capability])} {place}")
    assert wrong == []


def test_the_writer_writes_nothing_of_this_account_but_the_batch_results(
    deployed: World,
) -> None:
    """README: "Nothing of the installing account is written but the batch results, unless
    `-c allowWriteToInstalledAccount=true` (then its named destinations may be)"."""
    written = {
        place
        for place, (_, _, account) in PLACES.items()
        if account == ACCOUNT
        and any(
            deployed.decide(deployed.request("WriterRole", action, place)).allowed
            for action in (*OBJECT_CAPABILITIES["write"], *OBJECT_CAPABILITIES["delete"])
        )
    }
    named_here = {"destination here"} if deployed.deployment.write_here else set()
    assert written == {"results"} | named_here


def test_the_jobs_prefix_is_read_by_prepare_alone_and_written_by_no_role(deployed: World) -> None:
    """The inbox is never a source: no role but Prepare reads `jobs/`, none writes there."""
    for role in ROLE_TABLE:
        read = deployed.decide(deployed.request(role, "s3:GetObject", "jobs")).allowed
        assert read == (role == "PrepareRole"), role
        for action in (*OBJECT_CAPABILITIES["write"], *OBJECT_CAPABILITIES["delete"]):
            assert not deployed.decide(deployed.request(role, action, "jobs")).allowed, role


# --- KMS ------------------------------------------------------------------------------------

BUCKET_KEY = f"arn:aws:kms:{REGION}:{OTHER}:key/0000aaaa-1111-2222-3333-444455556666"
VIA_S3 = f"s3.{REGION}.amazonaws.com"


def _kms(world: World, role: str, action: str, key: str, **context: str) -> bool:
    request = Request(world.roles[role], action, key, key.split(":")[4], context)
    return world.decide(request).allowed


def _object(world: World, place: str) -> str:
    which, key, _ = PLACES[place]
    return f"arn:aws:s3:::{world.bucket(which)}/{key}"


def test_the_writer_uses_keys_only_through_s3_for_the_buckets_it_may_use(deployed: World) -> None:
    context = "kms:EncryptionContext:aws:s3:arn"
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        for place in ("source there", "destination there"):
            # an object of a named bucket, and the bucket itself (an S3 Bucket Key)
            for arn in (_object(deployed, place), _object(deployed, place).split("/")[0]):
                assert _kms(
                    deployed,
                    "WriterRole",
                    action,
                    BUCKET_KEY,
                    **{"kms:ViaService": VIA_S3, context: arn},
                )
        unnamed = _object(deployed, "unnamed there")
        assert (
            _kms(
                deployed,
                "WriterRole",
                action,
                BUCKET_KEY,
                **{"kms:ViaService": VIA_S3, context: unnamed},
            )
            == deployed.deployment.any_bucket
        )
        # not through S3, or through S3 of another region: never
        source = _object(deployed, "source there")
        assert not _kms(deployed, "WriterRole", action, BUCKET_KEY, **{context: source})
        assert not _kms(
            deployed,
            "WriterRole",
            action,
            BUCKET_KEY,
            **{"kms:ViaService": "s3.eu-west-1.amazonaws.com", context: source},
        )
        # the keys named at deploy: for any object, through S3 only (with the opt-in any
        # key already is, for any S3 object)
        assert _kms(
            deployed,
            "WriterRole",
            action,
            KMS_KEY,
            **{"kms:ViaService": VIA_S3, context: unnamed},
        ) == (deployed.deployment.keys or deployed.deployment.any_bucket)
        assert not _kms(deployed, "WriterRole", action, KMS_KEY)
    for action in (
        "kms:Encrypt",
        "kms:ReEncryptFrom",
        "kms:CreateGrant",
        "kms:Sign",
        "kms:ScheduleKeyDeletion",
    ):
        assert not _kms(deployed, "WriterRole", action, KMS_KEY, **{"kms:ViaService": VIA_S3})


def test_receipts_are_signed_with_the_named_keys_only(deployed: World) -> None:
    """Summarise signs a receipt's digest: Sign with the named keys, of a DIGEST only (a raw
    message, or a Sign request without MessageType, is refused); DescribeKey of those keys."""
    digest = {"kms:MessageType": "DIGEST"}
    for action in ("kms:Sign", "kms:DescribeKey"):
        assert (
            _kms(deployed, "SummariseRole", action, KMS_KEY, **digest) == deployed.deployment.keys
        )
        assert not _kms(deployed, "SummariseRole", action, BUCKET_KEY, **digest)
    assert not _kms(deployed, "SummariseRole", "kms:Sign", KMS_KEY, **{"kms:MessageType": "RAW"})
    assert not _kms(deployed, "SummariseRole", "kms:Sign", KMS_KEY)
    assert _kms(deployed, "SummariseRole", "kms:DescribeKey", KMS_KEY) == deployed.deployment.keys
    assert not _kms(deployed, "SummariseRole", "kms:Decrypt", KMS_KEY, **{"kms:ViaService": VIA_S3})


def test_prepare_notify_and_the_state_machine_use_no_key(deployed: World) -> None:
    for role in ("PrepareRole", "NotifyRole", "state machine role"):
        for key in (KMS_KEY, BUCKET_KEY):
            for action in ("kms:Decrypt", "kms:GenerateDataKey", "kms:Sign", "kms:DescribeKey"):
                assert not _kms(deployed, role, action, key, **{"kms:ViaService": VIA_S3}), role


# --- who may start a copy: the inbox's bucket policy ---------------------------------------

ADMIN = f"arn:aws:iam::{ACCOUNT}:role/account-admin"
OUTSIDER = f"arn:aws:iam::{OTHER}:role/outsider"
EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def _put_job(
    world: World, principal: str, identity: list[dict[str, Any]], **context: str
) -> Decision:
    request = Request(principal, "s3:PutObject", _object(world, "jobs"), ACCOUNT, context)
    return evaluate(request, identity, world.inbox_policy)


def test_who_may_start_a_copy(deployed: World) -> None:
    # principals outside the account: denied by the inbox's own policy, whatever they hold
    outsider = _put_job(deployed, OUTSIDER, [EVERYTHING])
    assert not outsider.allowed
    assert "DenyJobsFromOthers" in outsider.denied_by
    # anyone over plain HTTP: denied
    assert not _put_job(deployed, ADMIN, [EVERYTHING], **{"aws:SecureTransport": "false"}).allowed
    # a role of this account without a grant: IAM decides, and it has none
    assert not _put_job(deployed, ADMIN, []).allowed
    admin = _put_job(deployed, ADMIN, [EVERYTHING])
    if deployed.deployment.keys:  # the open deployment names a submitter: only it may
        assert not admin.allowed
        assert "DenyJobsFromOthers" in admin.denied_by
        assert _put_job(deployed, SUBMITTER, []).allowed  # the inbox's policy lets it in
        other_area = Request(SUBMITTER, "s3:PutObject", _object(deployed, "work"), ACCOUNT)
        assert not evaluate(other_area, [], deployed.inbox_policy).allowed
    else:  # none named: inside the account IAM decides
        assert admin.allowed
    # deploy.md: "A request without a principal ARN (anonymous, a service) is denied": the
    # Deny's condition (a negated operator) holds when the request has no aws:PrincipalArn
    (deny,) = [
        s for s in deployed.inbox_policy["Statement"] if s.get("Sid") == "DenyJobsFromOthers"
    ]
    assert deny["Effect"] == "Deny"
    assert condition_holds(deny["Condition"], {"aws:SecureTransport": "true"})


# --- the destination side: s3copy destination-policy --------------------------------------

DESTINATION_ACTIONS = sorted(
    {
        a
        for caps in (OBJECT_CAPABILITIES, BUCKET_CAPABILITIES)
        for acts in caps.values()
        for a in acts
    }
)


def _destination_requests(
    world: World, bucket: str, key: str, role: str = "WriterRole"
) -> Iterator[tuple[str, Request]]:
    for action in DESTINATION_ACTIONS:
        bucket_level = action in {a for acts in BUCKET_CAPABILITIES.values() for a in acts}
        arn = f"arn:aws:s3:::{bucket}" + ("" if bucket_level else f"/{key}")
        yield action, Request(world.roles[role], action, arn, OTHER)


def _granted(world: World, role: str, sids: set[str]) -> set[str]:
    """The actions of ``role``'s statements named ``sids``."""
    return {
        action
        for policy in world.identity[role]
        for statement in policy["Statement"]
        if statement.get("Sid") in sids
        for action in _as_list(statement["Action"])
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _actions(policy: Mapping[str, Any], principal: str) -> set[str]:
    return {
        action
        for statement in policy["Statement"]
        if statement["Principal"] == {"AWS": principal}
        for action in statement["Action"]
    }


def test_destination_policy_grants_exactly_what_the_writer_needs(deployed: World) -> None:
    """The printed bucket policy lists exactly the actions of the writer's destination
    statements, and with it the writer may do in a destination of another account exactly
    those (every action it needs there; nothing more)."""
    role = cli_policy.WriterRole.parse(deployed.roles["WriterRole"])
    printed = cli_policy.bucket_policy(role, deployed.destination)
    needs = _granted(deployed, "WriterRole", {"WriteDestinations", "ListDestinations"})
    assert _actions(printed, role.arn) == needs
    for action, request in _destination_requests(deployed, deployed.destination, "landing/k"):
        allowed = evaluate(request, deployed.identity["WriterRole"], printed).allowed
        assert allowed == (action in needs), action


def test_destination_policy_with_a_prefix_still_lets_the_run_find_its_uploads(
    synth: Synth,
) -> None:
    """Under ``--prefix`` the writer may write and list below it only, and may still list the
    bucket's incomplete uploads (Finish aborts them) and its location."""
    named = world(synth, WORLDS["named"][1], "source-bucket", "destination-bucket")
    role = cli_policy.WriterRole.parse(named.roles["WriterRole"])
    printed = cli_policy.bucket_policy(role, "destination-bucket", "incoming/")
    writer = named.identity["WriterRole"]
    bucket_arn = "arn:aws:s3:::destination-bucket"

    def allowed(action: str, resource: str, **context: str) -> bool:
        request = Request(role.arn, action, resource, OTHER, context)
        return evaluate(request, writer, printed).allowed

    assert allowed("s3:PutObject", f"{bucket_arn}/incoming/r1.fastq.gz")
    assert not allowed("s3:PutObject", f"{bucket_arn}/elsewhere/r1.fastq.gz")
    assert allowed("s3:ListBucket", bucket_arn, **{"s3:prefix": "incoming/runs/"})
    assert not allowed("s3:ListBucket", bucket_arn, **{"s3:prefix": "elsewhere/"})
    assert not allowed("s3:ListBucket", bucket_arn)
    assert allowed("s3:ListBucketMultipartUploads", bucket_arn)
    assert allowed("s3:GetBucketLocation", bucket_arn)


def _json_blocks(section: str) -> list[str]:
    return re.findall(r"```json\n(.*?)```", section, re.DOTALL)


def _filled(block: str, **values: str) -> Any:
    for name, value in values.items():
        block = block.replace(f"<{name}>", value)
    return json.loads(block)


#: the arguments the documents' example policies are printed for
EXAMPLE_ACCOUNT = "123456789012"
EXAMPLE_ROLE = "steps-s3-copy-writer"
EXAMPLE_BUCKET = "partner-landing"
EXAMPLE_KEY = "arn:aws:kms:eu-west-1:999999999999:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _printed(*extra: str) -> dict[str, Any]:
    """What ``s3copy destination-policy --json`` prints for the example's arguments."""
    result = CliRunner().invoke(
        cli_app,
        [
            "destination-policy",
            "--account",
            EXAMPLE_ACCOUNT,
            "--role-name",
            EXAMPLE_ROLE,
            "--bucket",
            EXAMPLE_BUCKET,
            "--json",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    printed: dict[str, Any] = json.loads(result.stdout)
    return printed


@pytest.mark.parametrize(
    ("path", "heading"),
    [(README, "The destination side of a cross-account copy"), (DEPLOY, "The destination side")],
)
def test_the_documents_example_policies_are_what_the_command_prints(
    path: Path, heading: str
) -> None:
    """The bucket policy the README and docs/deploy.md show (and deploy.md's key policy
    statement) is, placeholders filled in, what ``s3copy destination-policy`` prints for the
    same role and bucket (and key): the documents cannot drift from the command."""
    blocks = _json_blocks(_section(path, heading))
    names = {"copy-account": EXAMPLE_ACCOUNT, "destination-bucket": EXAMPLE_BUCKET}
    printed = _printed("--kms-key-arn", EXAMPLE_KEY)
    assert _filled(blocks[0], **names) == printed["bucketPolicy"]
    assert printed["writerRole"] == f"arn:aws:iam::{EXAMPLE_ACCOUNT}:role/{EXAMPLE_ROLE}"
    if path == DEPLOY:
        statement = _filled(blocks[1], **names, region="eu-west-1")
        assert statement == printed["kmsKeyPolicyStatement"]


def test_the_source_side_policy_of_the_documents_lets_the_roles_do_what_they_may(
    synth: Synth,
) -> None:
    """docs/deploy.md's policy for a source bucket of another account lists exactly what the
    writer's and Prepare's source statements grant, and with it they may do exactly that."""
    named = world(synth, WORLDS["named"][1], "source-bucket", "destination-bucket")
    (block,) = _json_blocks(_section(DEPLOY, "The source side"))
    printed = _filled(
        block,
        **{
            "source-bucket": "source-bucket",
            "writer-role-arn": named.roles["WriterRole"],
            "prepare-role-arn": named.roles["PrepareRole"],
        },
    )
    sids = {
        "WriterRole": {"ReadSources", "ListSources", "RestoreArchivedSources"},
        "PrepareRole": {"SizeSources", "ListSources"},
    }
    for role, statements in sids.items():
        needs = _granted(named, role, statements)
        assert _actions(printed, named.roles[role]) == needs, role
        for action, request in _destination_requests(named, "source-bucket", "runs/r1", role):
            allowed = evaluate(request, named.identity[role], printed).allowed
            assert allowed == (action in needs), (role, action)


def test_another_accounts_bucket_needs_its_own_policy(deployed: World) -> None:
    """README: "each still needs its own bucket policy to let the writer role in": across
    accounts the role's own grant alone lets nothing through."""
    for place in ("source there", "destination there", "unnamed there"):
        for action in ("s3:GetObject", "s3:PutObject"):
            request = deployed.request("WriterRole", action, place)
            assert not evaluate(request, deployed.identity["WriterRole"], None).allowed
