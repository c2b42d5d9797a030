"""The stable command-line contracts of DESIGN.md: `assign solve` and `match solve`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from incubator.cli import assign_cli, match_cli

ASSIGN_EXAMPLE = {
    "reviewers": {"r1": {"max_load": 1}, "r2": {"max_load": 2, "min_load": 1}, "r3": {"max_load": 1}},
    "applications": {"x1": {"reviewers": 2}, "x2": {"reviewers": 1}},
    "affinity": {"r1": {"x1": 0.8, "x2": 0.9}, "r2": {"x1": 0.3, "x2": 0.95}, "r3": {"x1": 0.5}},
    "conflicts": [["r2", "x2"]],
}
MATCH_EXAMPLE = {
    "applicants": {"a1": ["s1", "s2"], "a2": ["s1"]},
    "slots": {"s1": {"capacity": 1, "ranking": ["a2", "a1"]}, "s2": {"capacity": 2, "ranking": ["a1"]}},
}


@pytest.fixture
def write(tmp_path: Path):
    def writer(content: str | dict) -> Path:
        path = tmp_path / "instance.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path
    return writer


def test_assign_solve_reproduces_the_design_example(write) -> None:
    result = CliRunner().invoke(assign_cli, ["solve", str(write(ASSIGN_EXAMPLE))])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"assignments": {"x1": ["r2", "r3"], "x2": ["r1"]},
                                         "total_affinity": 1.7, "unfilled": {}}


def test_match_solve_reproduces_the_design_example(write) -> None:
    result = CliRunner().invoke(match_cli, ["solve", str(write(MATCH_EXAMPLE))])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"matching": {"s1": ["a2"], "s2": ["a1"]}, "unmatched": []}


@pytest.mark.parametrize(("command", "content", "message"), [
    (assign_cli, "{not json", "malformed JSON"),
    (assign_cli, {**ASSIGN_EXAMPLE, "conflicts": [["r9", "x1"]]}, '"r9"'),
    (assign_cli, {**ASSIGN_EXAMPLE, "reviewers": {"r1": {"max_load": -1}}}, '"r1"'),
    (match_cli, "[1, 2", "malformed JSON"),
    (match_cli, {"applicants": {"a1": ["s9"]}, "slots": {}}, 'unknown slot "s9"'),
    (match_cli, {"applicants": {"a1": ["s1", "s1"]}, "slots": {"s1": {"capacity": 1, "ranking": ["a1"]}}}, '"s1"'),
    (match_cli, {"applicants": {"a1": ["s1"]}, "slots": {"s1": {"capacity": -2, "ranking": ["a1"]}}}, "capacity"),
])
def test_bad_instances_exit_non_zero_with_one_line(write, command, content, message: str) -> None:
    result = CliRunner().invoke(command, ["solve", str(write(content))])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.output
    assert "Traceback" not in result.output


def test_missing_file_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(match_cli, ["solve", str(tmp_path / "missing.json")])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot read")
