"""The README's one example of the construct, run as it is: it must synthesize.

The code block is taken from README.md (not copied here), executed with the CDK writing
into a temporary directory, and the template it produced is checked for what the example
asks for, so that the README cannot drift from the construct's API.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

README = Path(__file__).parents[2] / "README.md"


def _examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return [b for b in blocks if "StepsS3Copy(" in b]


def test_the_readme_has_exactly_one_example_of_the_construct() -> None:
    assert len(_examples()) == 1


def test_the_readme_example_synthesizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (example,) = _examples()

    class App(cdk.App):  # the example's App(), writing its cloud assembly to tmp_path
        def __init__(self, **args: Any) -> None:
            super().__init__(**{"outdir": str(tmp_path), **args})

    monkeypatch.setattr(cdk, "App", App)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(example, str(README), "exec"), namespace)

    template = json.loads((tmp_path / "DataHandover.template.json").read_text())
    resources = template["Resources"]
    types = [r["Type"] for r in resources.values()]
    assert types.count("AWS::StepFunctions::StateMachine") == 1
    assert types.count("AWS::CloudWatch::Dashboard") == 1
    # the construct's five alarms notify the topic the example gives, and its own alarm is there
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    ops = "arn:aws:sns:us-east-1:111111111111:ops"
    assert sum(a.get("AlarmActions") == [ops] for a in alarms) == 5
    (own,) = [a for a in alarms if "AlarmActions" not in a]
    assert (own["MetricName"], own["Dimensions"]) == (
        "Runs",
        [{"Name": "status", "Value": "FAILED"}],
    )
    # the buckets named through the helper are the ones granted
    text = json.dumps(template)
    assert "our-sequencing-runs" in text
    assert "partner-genomics-landing" in text
    roles = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    assert [r["RoleName"] for r in roles if "RoleName" in r] == ["steps-s3-copy-writer"]
    assert set(template["Outputs"]) == {"Inbox", "WriterRoleArn"}
