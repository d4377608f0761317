"""The shipped stdin/stdout problem set and the CodeContests record loaders."""

import json
import subprocess
import sys
import types
from concurrent.futures import ThreadPoolExecutor

import pytest

from rlpr.tasks.code.checker import outputs_match
from rlpr.tasks.code.problems import (
    Problem,
    ProblemFormatError,
    load_builtin_problems,
    load_codecontests,
    load_problems,
    problem_from_record,
    problem_split,
    problem_to_record,
    save_problems,
)

# Runs one program on many inputs in one interpreter: each run gets a fresh namespace, its own stdin
# (with a .buffer, as sys.stdin has) and captured stdout. Interpreter start-up dominates the cost of
# these small programs, so this is ~10x faster than a subprocess per test. Prints one output per input,
# null where the program raised or exited with a non-zero status.
_DRIVER = r"""
import contextlib, io, json, sys
job = json.loads(sys.stdin.read())
outputs = []
for test_input in job["inputs"]:
    out = io.StringIO()
    sys.stdin = io.TextIOWrapper(io.BytesIO(test_input.encode()))
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(job["program"], "<solution>", "exec"), {"__name__": "__main__"})
    except SystemExit as e:
        if e.code not in (None, 0):
            out = None
    except BaseException:
        out = None
    outputs.append(None if out is None else out.getvalue())
print(json.dumps(outputs))
"""


@pytest.fixture(scope="module")
def problems():
    return load_builtin_problems()


def _failing_tests(job: tuple[str, list[tuple[str, str]]]) -> list[int]:
    """Indices of the (input, expected output) tests that `program` fails under the checker."""
    program, tests = job
    payload = json.dumps({"program": program, "inputs": [i for i, _ in tests]})
    run = subprocess.run(
        [sys.executable, "-c", _DRIVER], input=payload, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr[-500:]
    outputs = json.loads(run.stdout)
    return [
        k
        for k, (out, (_, want)) in enumerate(zip(outputs, tests))
        if out is None or not outputs_match(out, want)
    ]


def _pairs(tests: dict) -> list[tuple[str, str]]:
    return list(zip(tests["input"], tests["output"]))


def test_shipped_set_shape(problems):
    assert len(problems) >= 48
    names = [p.name for p in problems]
    assert len(set(names)) == len(names)
    for p in problems:
        assert 1 <= len(p.public_tests["input"]) <= 3, p.name
        assert 5 <= len(p.private_tests["input"]) <= 10, p.name
        assert len(p.python_solutions()) == 1, p.name
        assert "Input" in p.description and "Output" in p.description, p.name
        assert p.public_tests["input"][0].strip() in p.description, p.name  # the example is shown
        assert p.time_limit == 2.0 and p.memory_limit_bytes == 256 * 2**20
        assert not p.is_function


def test_splits_are_stable_and_about_two_thirds_train(problems):
    train, test = load_builtin_problems("train"), load_builtin_problems("test")
    assert len(train) + len(test) == len(problems)
    assert {p.name for p in train}.isdisjoint(p.name for p in test)
    assert 0.5 <= len(train) / len(problems) <= 0.8
    assert all(problem_split(p.name) == "test" for p in test)
    assert problem_split("Sum of an Array") == "train"  # pinned: a changed hash would reshuffle the splits
    with pytest.raises(ValueError, match="split"):
        load_builtin_problems("valid")


def test_reference_solutions_pass_every_test(problems):
    jobs = [(p.python_solutions()[0], _pairs(p.public_tests) + _pairs(p.private_tests)) for p in problems]
    with ThreadPoolExecutor(2) as pool:
        failures = {p.name: f for p, f in zip(problems, pool.map(_failing_tests, jobs)) if f}
    assert not failures


def test_reference_solutions_run_standalone(problems):
    """Spot check outside the driver: a plain interpreter reading the real stdin."""
    for p in problems[::10]:
        run = subprocess.run(
            [sys.executable, "-c", p.python_solutions()[0]],
            input=p.public_tests["input"][0],
            capture_output=True,
            text=True,
            timeout=10,
        )
        assert run.returncode == 0 and outputs_match(run.stdout, p.public_tests["output"][0]), p.name


def test_incorrect_solutions_fail_a_private_test(problems):
    with_incorrect = [p for p in problems if p.python_solutions(correct=False)]
    assert len(with_incorrect) >= len(problems) * 0.9
    jobs = [(p.python_solutions(correct=False)[0], _pairs(p.private_tests)) for p in with_incorrect]
    with ThreadPoolExecutor(2) as pool:
        passing = [p.name for p, f in zip(with_incorrect, pool.map(_failing_tests, jobs)) if not f]
    assert not passing


def _record(**changes) -> dict:
    record = {
        "name": "toy",
        "description": "Print the sum of two integers.",
        "public_tests": {"input": ["1 2\n"], "output": ["3\n"]},
        "private_tests": {"input": ["5 5\n", "0 0\n"], "output": ["10\n", "0\n"]},
        "generated_tests": {"input": [], "output": []},
        "solutions": {"language": [3], "solution": ["print(sum(map(int, input().split())))"]},
        "incorrect_solutions": {"language": [], "solution": []},
        "time_limit": {"seconds": 1, "nanos": 500000000},
        "memory_limit_bytes": 268435456,
        "difficulty": 7,
        "cf_rating": 800,
        "cf_tags": ["math"],
        "source": 2,
        "cf_contest_id": 1,  # CodeContests fields we do not keep are ignored
    }
    record.update(changes)
    return record


def test_record_conversion():
    problem = problem_from_record(_record())
    assert problem.time_limit == 1.5
    assert problem.python_solutions() == ["print(sum(map(int, input().split())))"]
    record = problem_to_record(problem)
    assert record["time_limit"] == {"seconds": 1, "nanos": 500000000}
    assert "entry_point" not in record and "cf_contest_id" not in record
    assert problem_from_record(record) == problem
    assert problem_from_record(_record(time_limit=None)).time_limit is None
    assert problem_from_record(_record(time_limit=2)).time_limit == 2.0


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_files_round_trip(tmp_path, problems, suffix):
    function_problem = Problem(name="f", description="d", entry_point="f", prompt="def f():\n", test_code="x")
    chosen = problems[:5] + [function_problem]
    path = str(tmp_path / f"problems{suffix}")
    save_problems(chosen, path)
    assert load_problems(path) == chosen
    assert load_problems(str(tmp_path)) == chosen  # a directory loads every file in it


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"public_tests": {"input": ["1\n"], "output": []}}, "public_tests"),
        ({"private_tests": {"input": [1], "output": ["1"]}}, "private_tests"),
        ({"private_tests": ["1 2"]}, "private_tests"),
        ({"name": None}, "name"),
        ({"time_limit": "2s"}, "time_limit"),
        ({"solutions": {"language": [3, 3], "solution": ["x"]}}, "solutions"),
        ({"cf_rating": "hard"}, "cf_rating"),
    ],
)
def test_bad_record_names_file_line_and_field(tmp_path, changes, field):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(_record()) + "\n\n" + json.dumps(_record(**changes)) + "\n")
    with pytest.raises(ProblemFormatError, match=rf"bad\.jsonl: line 3: field '{field}'"):
        load_problems(str(path))


def test_bad_parquet_row_names_row_and_field(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_record(), _record(public_tests={"input": ["1\n", "2\n"], "output": ["1\n"]})]
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(rows), str(path))
    with pytest.raises(ProblemFormatError, match=r"bad\.parquet: row 1: field 'public_tests'"):
        load_problems(str(path))


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(_record()) + "\n{not json\n")
    with pytest.raises(ProblemFormatError, match=r"broken\.jsonl: line 2"):
        load_problems(str(path))


def test_load_codecontests_maps_dataset_rows(monkeypatch):
    """No network: a stand-in `datasets` module returns two rows in the Hugging Face schema."""
    calls = []

    def load_dataset(name, split):
        calls.append((name, split))
        return [_record(), _record(name="second", time_limit=None)]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    problems = load_codecontests("valid")
    assert calls == [("deepmind/code_contests", "valid")]
    assert [p.name for p in problems] == ["toy", "second"] and problems[1].time_limit is None
