"""``s3copy plan``'s model: its arithmetic against a case computed by hand, the targets of
issue 10, the same batches as Prepare, and every figure printed with its source."""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from steps_s3_copy.cli import app, pricing
from steps_s3_copy.cli.exit_codes import ExitCode
from steps_s3_copy.cli.planner import plan_files
from steps_s3_copy.inbox import InboxLayout
from steps_s3_copy.manifest import ManifestRow
from steps_s3_copy.models import CopyOptions, GiB, Lane, MiB, TiB
from steps_s3_copy.prepare import PrepareSettings
from steps_s3_copy.sidecar import Sidecar
from steps_s3_copy.workarea import WorkArea
from steps_s3_copy.worker.evidence import plan_parts
from tests.conftest import client
from tests.core.conftest import run_prepare

#: CPU figures for the hand-computed case (a calibration file, as ./dev bench calibrate
#: writes one)
CALIBRATION = {
    "measured": {"at": "test", "command": "by hand", "server": "none", "machine": "none"},
    "figures": {
        "engineCpuSecondsPerCopiedObject": {"value": 0.001, "how": "by hand"},
        "engineCpuSecondsPerSourceHead": {"value": 0.0005, "how": "by hand"},
        "batchCpuSeconds": {"value": 0.02, "how": "by hand"},
        "prepareCpuSecondsPerRow": {"value": 0.00001, "how": "by hand"},
        "summariseCpuSecondsPerRow": {"value": 0.00001, "how": "by hand"},
        "finishCpuSecondsPerRow": {"value": 0.00001, "how": "by hand"},
    },
}


def plan_json(runner: CliRunner, tmp_path: Path, csv: str, sidecar: dict[str, Any]) -> Any:
    manifest = tmp_path / "job.csv"
    manifest.write_text(csv, encoding="utf-8")
    side = tmp_path / "job.json"
    side.write_text(json.dumps(sidecar), encoding="utf-8")
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps(CALIBRATION), encoding="utf-8")
    result = runner.invoke(
        app, ["plan", str(manifest), str(side), "--calibration", str(calibration), "--json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_arithmetic_of_a_small_run_computed_by_hand(runner: CliRunner, tmp_path: Path) -> None:
    """Three small objects in one folder (the Lambda lane) and one of 6 GiB (the Fargate
    lane, a multipart copy), sizes from the manifest, two batches at a time. Every number
    below is worked out from the engine, the steps and the default figures by hand."""
    body = plan_json(
        runner,
        tmp_path,
        "bucket,key,size\n"
        "src-bucket,in/a.bin,1048576\n"
        "src-bucket,in/b.bin,3145728\n"
        "src-bucket,in/c.bin,1048576\n"
        "src-bucket,big/d.bin,6442450944\n",
        {"destinationBucket": "dst-bucket", "maxConcurrency": 2},
    )
    est = body["estimate"]
    assert est["objects"] == 4
    assert est["bytes"] == 5 * MiB + 6 * GiB
    assert est["batches"] == {"lambda": 1, "fargate": 1}
    assert est["objectsByLane"] == {"lambda": 3, "fargate": 1}
    assert est["multipartObjects"] == 1

    # Requests. Sizes come from the manifest, so no ETag is planned: the engine HEADs
    # every source (4). The small ones: a CopyObject each (3). The 6 GiB one: 256 MiB
    # parts -> 24 UploadPartCopy, ListMultipartUploads (an earlier attempt's leftovers),
    # Create, Complete, GetObjectTagging (tags are copied), a HeadObject to verify. Skip
    # checks: the Lambda batch has 3 keys of dst-bucket -> 1 listing request; the Fargate
    # batch 1 -> a HeadObject. Each batch reads run.json and its plan range (2 x 2)
    # and writes its results (2).
    req = est["requests"]
    assert req["headObjectSource"] == 4
    assert req["copyObject"] == 3
    assert req["uploadPartCopy"] == 24
    assert req["createMultipartUpload"] == req["completeMultipartUpload"] == 1
    assert req["getObjectTagging"] == 1
    assert req["listMultipartUploads"] == 1
    assert req["headObjectVerify"] == 1
    assert req["headObjectSourceParts"] == req["getObjectAttributes"] == 0
    assert req["listObjectsSkipCheck"] == 1
    assert req["headObjectSkipCheck"] == 1
    assert req["batchGetObject"] == 4
    assert req["batchPutObject"] == 2
    # Prepare: sidecar, manifest HEAD and GET, HeadBucket of src-bucket and dst-bucket, a
    # sample HEAD of the (fully sized) source bucket = 6, and CheckDestination's run.json
    # = 7; writes: event marker, lock, the plan (626 bytes: one PUT), run.json, index = 5
    assert req["prepareGetHead"] == 7
    assert req["preparePutList"] == 5
    assert req["checkDestinationPut"] == 1
    # Summarise: the index and 2 results files; report.csv (one PUT), report.html,
    # summary.json twice. Finish: run.json, the plan; a ListMultipartUploads. Notify: the
    # marker read twice, written twice.
    assert req["summariseGetObject"] == 3
    assert req["summarisePut"] == 4
    assert req["finishGetObject"] == 2
    assert req["finishList"] == 1
    assert req["notifyGet"] == req["notifyPut"] == 2
    put_class = 3 + 1 + 24 + 1 + 1 + 1 + 2 + 5 + 1 + 4 + 1 + 2
    get_class = 4 + 1 + 1 + 1 + 4 + 7 + 3 + 2 + 2
    assert req["putCopyPostListClass"] == put_class == 46
    assert req["getHeadOtherClass"] == get_class == 25

    # Time. CopyModel (0.05 s a request, 100 MiB/s): 1 MiB -> 0.06 s, 3 MiB -> 0.08 s;
    # the Lambda batch is its longest object (0.08 s > 0.20 s / 16), plus the 3 source
    # HEADs spread over 16 (0.009375 s). Its CPU, 0.02 + 3 x 0.001 + 3 x 0.0005 = 0.0245 s
    # on 1,024/1,769 of a vCPU (0.0423 s), is shorter. Plus run.json, plan, results and
    # one listing page (4 x 0.05) and the invocation (0.1): 0.389375 s; cold: + 2 s.
    lambda_batch = 0.08 + 3 * 0.05 / 16 + 4 * 0.05 + 0.1
    # The 6 GiB object: 24 parts in 3 waves of 8: 3 x 0.05 + 3 x (0.05 + 2.56) = 7.98 s,
    # plus its source HEAD over 16, three requests, the invocation, a task's 60 s start.
    fargate_batch = 7.98 + 0.05 / 16 + 3 * 0.05 + 0.1 + 60
    timing = est["timing"]
    assert timing["copyBatches"] == pytest.approx(max(lambda_batch + 2, fargate_batch), abs=0.05)
    assert timing["copyBoundBy"] == "batches"
    # S3's rates: 29 writes / 3,500 per second, 36 reads / 5,500: far below
    assert timing["copyS3Rate"] == pytest.approx(max(29 / 3500, 36 / 5500), abs=0.05)
    lambda_vcpu = 1024 / 1769
    prepare = 4 * 0.00001 / lambda_vcpu + (8 + 1 / 4) * 0.05
    summarise = max(4 * 0.00001 / 1.0, 2 * 0.05 / 32) + (1 / 4 + 4) * 0.05
    finish = 4 * 0.00001 / (512 / 1769) + (3 + 626 / (100 * MiB)) * 0.05
    total = prepare + 3 * 0.05 + fargate_batch + summarise + finish + 6 * 0.05 + 8 * 0.2
    assert timing["prepare"] == pytest.approx(prepare, abs=0.05)
    assert timing["summarise"] == pytest.approx(summarise, abs=0.05)
    assert timing["finish"] == pytest.approx(finish, abs=0.05)
    assert est["wallClockSeconds"] == pytest.approx(total, abs=0.1)

    # Compute: the Lambda batch (cold) at 1 GB, and Prepare 1 GB, CheckDestination and
    # Finish 0.5 GB, Summarise 1,769/1,024 GB, Notify 0.25 GB; the task billed 68.23 s.
    gb_seconds = (
        (lambda_batch + 2) * 1.0
        + prepare * 1.0
        + 3 * 0.05 * 0.5
        + summarise * 1769 / 1024
        + finish * 0.5
        + 6 * 0.05 * 0.25
    )
    assert est["lambdaGbSeconds"] == pytest.approx(gb_seconds, rel=1e-6)
    assert est["lambdaInvocations"] == 1 + 5
    assert est["fargateTasks"] == 1
    task_hours = fargate_batch / 3600
    assert est["fargateTaskHours"] == pytest.approx(task_hours, rel=1e-6)
    # transitions: the run path (8), the Lambda item (child execution, Archived, Lane,
    # task: 4), the Fargate item (child execution, Archived, Lane, the Parallel state, its
    # task: 5)
    assert est["stateTransitions"] == 8 + 4 + 5
    assert est["logBytes"] == 17 * 3000 + (6 + 1) * 2000

    cost = est["cost"]
    assert cost["s3PutCopyPostListRequests"] == pytest.approx(46 / 1000 * 0.005, abs=1e-6)
    assert cost["s3GetHeadOtherRequests"] == pytest.approx(25 / 1000 * 0.0004, abs=1e-6)
    assert cost["lambdaCompute"] == pytest.approx(gb_seconds * 0.0000133334, abs=1e-6)
    assert cost["lambdaRequests"] == pytest.approx(6 / 1e6 * 0.20, abs=1e-6)
    assert cost["fargate"] == pytest.approx(task_hours * (0.0097 + 2 * 0.0011), abs=1e-6)
    assert cost["fargatePublicIpv4"] == pytest.approx(task_hours * 0.005, abs=1e-6)
    assert cost["stepFunctions"] == pytest.approx(17 / 1000 * 0.025, abs=1e-6)
    assert cost["sns"] == pytest.approx(0.5 / 1e6, abs=1e-6)
    assert cost["cloudWatchLogs"] == pytest.approx(65_000 / GiB * 0.5, abs=1e-6)
    assert cost["xRay"] == pytest.approx(6 / 1e6 * 5.0, abs=1e-6)
    assert cost["kms"] == cost["interRegionTransfer"] == cost["s3RestoreRequests"] == 0
    assert est["totalCost"] == pytest.approx(sum(cost.values()), abs=1e-5)
    assert est["costPerTiB"] == pytest.approx(est["totalCost"] / (est["bytes"] / TiB), rel=1e-3)


def test_archived_sources_are_priced_by_tier_and_waited_for(
    runner: CliRunner, tmp_path: Path, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sized from S3: two GLACIER objects not restored, restored with Standard for 7
    days: a RestoreObject each at $0.05 per 1,000, $0.01 per GB retrieved, the restored
    copies' storage for 7 days, and Thaw polling each hour of the 5-hour wait."""
    s3 = client("s3", moto_server)
    s3.create_bucket(Bucket="cold-bucket")
    for name in ("x", "y"):
        s3.put_object(
            Bucket="cold-bucket", Key=f"old/{name}", Body=b"z" * MiB, StorageClass="GLACIER"
        )
    manifest = tmp_path / "cold.csv"
    manifest.write_text("bucket,key\ncold-bucket,old/*\n", encoding="utf-8")
    sidecar = tmp_path / "cold.json"
    sidecar.write_text(
        json.dumps({"destinationBucket": "dst-bucket", "restore": {"tier": "Standard", "days": 7}}),
        encoding="utf-8",
    )
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    result = runner.invoke(
        app,
        ["plan", str(manifest), str(sidecar), "--size-from-s3", "--endpoint-url", moto_server,
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    est = body["estimate"]
    assert est["archivedObjects"] == 2
    assert body["restore"]["expectedWaitHours"] == 5
    assert body["restore"]["tier"] == "Standard"
    # a listing says GLACIER; Prepare HEADs each such object for its restore state
    assert est["requests"]["sizingHeadObject"] == 2
    assert est["requests"]["restoreObject"] == 2
    polls = 1 + 5  # one at the start, then every hour of the 5-hour wait
    assert est["requests"]["thawHeadObject"] == 2 * polls
    cost = est["cost"]
    assert cost["s3RestoreRequests"] == pytest.approx(2 / 1000 * 0.05, abs=1e-9)
    assert cost["s3RestoreRetrieval"] == pytest.approx(2 * MiB / GiB * 0.01, abs=1e-9)
    assert cost["s3RestoredCopyStorage"] == pytest.approx(2 * MiB / GiB * 0.023 * 7 / 30, abs=1e-9)
    assert est["timing"]["restoreWait"] == 5 * 3600
    assert est["wallClockSeconds"] > 5 * 3600


def test_cross_region_sources_pay_inter_region_transfer(runner: CliRunner, tmp_path: Path) -> None:
    body = plan_json(
        runner,
        tmp_path,
        f"bucket,key,size\nfar-bucket,a,{2 * GiB}\nfar-bucket,b,{GiB}\n",
        {"destinationBucket": "dst-bucket", "allowCrossRegion": True},
    )
    assert body["estimate"]["cost"]["interRegionTransfer"] == pytest.approx(3 * 0.02)
    assert any("allowCrossRegion" in note for note in body["notes"])
    same = plan_json(
        runner,
        tmp_path,
        f"bucket,key,size\nfar-bucket,a,{2 * GiB}\nfar-bucket,b,{GiB}\n",
        {"destinationBucket": "dst-bucket"},
    )
    assert same["estimate"]["cost"]["interRegionTransfer"] == 0


def test_a_million_small_objects_meet_the_target() -> None:
    """Issue 10: 1,000,000 objects of 64 KiB, sizes given, the default sidecar, with the
    calibration shipped in the package: at most 15 minutes and $8 all-in."""
    rows = [
        ManifestRow(row=n + 2, bucket="src-bucket", key=f"data/part-{n:07d}.bin", size=64 * 1024)
        for n in range(1_000_000)
    ]
    planned = plan_files(rows, Sidecar(destination_bucket="dst-bucket"))
    est = planned.estimate
    assert est.objects == 1_000_000
    # the Lambda lane is sized by count (2,000 a batch), not by maxItemsPerBatch (10)
    assert est.batches == {"lambda": 500, "fargate": 0}
    assert est.requests.list_objects_skip_check == 1000  # one page per 1,000 objects
    assert est.timing.total <= 15 * 60
    assert est.total_cost <= 8.0
    # most of it is S3's own price for a million copies
    assert est.cost["s3PutCopyPostListRequests"] == pytest.approx(5.0, rel=0.01)


def test_a_hundred_tib_of_large_objects_meets_the_target(runner: CliRunner, tmp_path: Path) -> None:
    """Issue 10: 100,000 objects of 1 GiB (100 TiB), through ``s3copy plan --json`` with
    the shipped calibration: at most $0.05 per TiB and at most 2 hours."""
    manifest = tmp_path / "large.csv"
    manifest.write_text(
        "bucket,key,size\n"
        + "".join(f"src-bucket,data/part-{n:06d}.bin,{GiB}\n" for n in range(100_000)),
        encoding="utf-8",
    )
    sidecar = tmp_path / "large.json"
    sidecar.write_text('{"destinationBucket": "dst-bucket"}', encoding="utf-8")
    result = runner.invoke(app, ["plan", str(manifest), str(sidecar), "--json"])
    assert result.exit_code == 0, result.output
    est = json.loads(result.stdout)["estimate"]
    assert est["bytes"] == 100_000 * GiB  # "100 TiB": 97.7 TiB
    assert est["costPerTiB"] <= 0.05
    assert est["wallClockSeconds"] <= 2 * 3600


def test_every_price_and_assumption_is_in_the_json_with_its_source(
    runner: CliRunner, tmp_path: Path
) -> None:
    body = plan_json(
        runner, tmp_path, "bucket,key,size\nsrc-bucket,k,10\n", {"destinationBucket": "dst-bucket"}
    )
    printed = {**body["pricesAssumed"], **body["assumptions"], **body["calibration"]}
    expected: dict[str, Any] = {
        "price": pricing.Prices(),
        "assumption": pricing.Assumptions(),
        "calibrated": pricing.Calibration(),
    }
    for kind, figures in expected.items():
        for f in fields(figures):
            if f.metadata.get("skip"):
                continue
            name = pricing._camel(f.name)
            assert name in printed, name
            entry = printed[name]
            assert entry["source"], name
            assert entry["kind"] in (kind, "deployment"), name
            if kind != "calibrated":
                assert entry["value"] == getattr(figures, f.name), name
    # the calibration file's figures are the ones used, each saying how it was measured
    assert body["calibration"]["batchCpuSeconds"]["value"] == 0.02
    assert body["calibration"]["batchCpuSeconds"]["source"].startswith("measured: by hand")
    # and on a terminal every figure is printed by name with its source
    human = runner.invoke(
        app,
        ["plan", str(tmp_path / "job.csv"), str(tmp_path / "job.json"),
         "--calibration", str(tmp_path / "calibration.json")],
        env={"COLUMNS": "1000"},
    )  # fmt: skip
    assert human.exit_code == 0, human.output
    for name, entry in printed.items():
        unit = f" {entry['unit']}" if entry["unit"] else ""
        value = entry["value"]
        shown = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        assert f"{name} = {shown}{unit}  {entry['source']}" in human.stdout, name


def test_the_shipped_calibration_has_every_figure_measured() -> None:
    shipped = pricing.load_calibration()
    assert shipped.provenance.startswith("steps_s3_copy/cli/calibration.json: measured")
    for f in fields(shipped):
        if not f.metadata.get("skip"):
            assert f.name in shipped.how, f"{f.name} is not in calibration.json"


def test_a_calibration_file_with_an_unknown_figure_is_refused(
    runner: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"figures": {"warpFactor": {"value": 9}}}), encoding="utf-8")
    manifest = tmp_path / "m.csv"
    manifest.write_text("bucket,key,size\nsrc-bucket,k,10\n", encoding="utf-8")
    sidecar = tmp_path / "s.json"
    sidecar.write_text('{"destinationBucket": "dst-bucket"}', encoding="utf-8")
    result = runner.invoke(app, ["plan", str(manifest), str(sidecar), "--calibration", str(bad)])
    assert result.exit_code == ExitCode.INVALID
    assert "warpFactor" in result.stderr


def test_plan_makes_the_batches_prepare_makes(moto_server: str) -> None:
    """The same manifest planned by ``s3copy plan`` and by Prepare (in moto): the same
    batches, lane by lane, object for object."""
    s3 = client("s3", moto_server)
    for bucket in ("inbox", "src-bucket", "dst-bucket"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket="src-bucket", Key="small/0", Body=b"x")
    sizes = [1, 5 * MiB, 2 * GiB, 100, 3 * GiB, 7, 64 * 1024, 6 * GiB] * 700
    csv = "bucket,key,size\n" + "".join(
        f"src-bucket,small/{n},{size}\n" for n, size in enumerate(sizes)
    )
    s3.put_object(Bucket="inbox", Key="jobs/same.csv", Body=csv.encode())
    sidecar = {"destinationBucket": "dst-bucket", "maxItemsPerBatch": 4}
    s3.put_object(Bucket="inbox", Key="jobs/same.json", Body=json.dumps(sidecar).encode())
    settings = PrepareSettings(layout=InboxLayout("inbox"))
    prepared = run_prepare(
        {"sourceFilesCsvBucket": "inbox", "sourceFilesCsvKey": "jobs/same.csv", **sidecar},
        run_id="same-1",
        s3=s3,
        settings=settings,
    )
    index = WorkArea(s3, prepared.work).read_index()
    rows = [
        ManifestRow(row=n + 2, bucket="src-bucket", key=f"small/{n}", size=size)
        for n, size in enumerate(sizes)
    ]
    planned = plan_files(rows, Sidecar.model_validate(sidecar))
    est = planned.estimate
    assert est.batches == prepared.batches
    for lane in Lane:
        ours = [b for b in index if b.lane is lane]
        assert est.objects_by_lane[lane.value] == sum(b.objects for b in ours)
        assert est.bytes_by_lane[lane.value] == sum(b.bytes for b in ours)
    # the Lambda lane's batches are sized by count, bytes and time, never above 2,000
    assert max(b.objects for b in index if b.lane is Lane.LAMBDA) <= 2000
    assert math.isclose(est.objects, len(sizes))


@pytest.mark.parametrize(
    "size", [1, 5 * MiB, 6 * GiB, 2 * TiB + 1, 5 * TiB - 7, 4096 * 10_000 * MiB // 7]
)
def test_part_counts_are_the_engines(size: int) -> None:
    options = CopyOptions()
    assert pricing.part_count(size, options) == len(plan_parts(size, options.part_size))
