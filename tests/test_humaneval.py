"""HumanEval as function-calling problems: docstring examples, harness programs, canonical solutions."""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from rlpr.tasks.code.humaneval import (
    load_humaneval,
    parse_docstring_tests,
    private_test_program,
    public_test_program,
    read_public_result,
)

# Runs many programs in one interpreter (each in a fresh namespace, stdout captured), so that checking
# all 164 problems costs ~20 interpreter starts instead of ~600 (interpreter start-up dominates).
_DRIVER = r"""
import contextlib, io, json, sys
results = []
for source in json.loads(sys.stdin.read()):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(source, "<program>", "exec"), {"__name__": "__main__"})
        results.append({"ok": True, "stdout": out.getvalue()})
    except BaseException as e:
        results.append({"ok": False, "stdout": out.getvalue(), "error": repr(e)[:300]})
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def problems():
    return load_humaneval()


def _run(program: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=30)


def test_all_problems_loaded(problems):
    assert len(problems) == 164
    for p in problems:
        assert p.is_function and p.entry_point and f"def {p.entry_point}(" in p.prompt
        assert "def check(candidate)" in p.test_code
        assert len(p.python_solutions()) == 1
    with_tests = sum(1 for p in problems if p.public_tests["input"])
    assert with_tests >= 150  # 151 at the time of writing
    assert sum(len(p.public_tests["input"]) for p in problems) >= 400


def _check_canonical(problems) -> dict[str, list[str]]:
    """Failures of the canonical solutions (private check and each parsed public test), in one run."""
    programs, owners = [], []
    for p in problems:
        solution = p.python_solutions()[0]
        programs.append(private_test_program(p, solution))
        owners.append((p, None))
        for i in range(len(p.public_tests["input"])):
            programs.append(public_test_program(p, solution, i))
            owners.append((p, i))
    run = subprocess.run(
        [sys.executable, "-c", _DRIVER],
        input=json.dumps(programs),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if run.returncode:
        return {"driver": [run.stderr[-300:]]}
    failures: dict[str, list[str]] = {}
    for (p, i), result in zip(owners, json.loads(run.stdout)):
        if i is None:
            if not result["ok"]:
                failures.setdefault(p.name, []).append(f"private check: {result['error']}")
            continue
        outcome = read_public_result(result["stdout"])
        if not result["ok"] or outcome is None or not outcome[0]:
            call, expected = p.public_tests["input"][i], p.public_tests["output"][i]
            failures.setdefault(p.name, []).append(f"{call}: expected {expected}, got {outcome or result}")
    return failures


def test_canonical_solutions_pass_private_and_public_tests(problems):
    """All 164 problems: eight problems per interpreter, two interpreters at a time."""
    chunks = [problems[i : i + 8] for i in range(0, len(problems), 8)]
    failures = {}
    with ThreadPoolExecutor(2) as pool:
        for found in pool.map(_check_canonical, chunks):
            failures.update(found)
    assert not failures


def test_programs_run_standalone(problems):
    problem = problems[0]  # has_close_elements, two docstring examples: False then True
    canonical = problem.python_solutions()[0]
    assert _run(private_test_program(problem, canonical)).returncode == 0
    run = _run(public_test_program(problem, canonical, 1))
    assert run.returncode == 0 and read_public_result(run.stdout) == (True, "True")

    wrong = "def has_close_elements(numbers, threshold):\n    print('debug output')\n    return False\n"
    assert _run(private_test_program(problem, wrong)).returncode != 0
    assert read_public_result(_run(public_test_program(problem, wrong, 0)).stdout) == (True, "False")
    assert read_public_result(_run(public_test_program(problem, wrong, 1)).stdout) == (False, "False")

    crashing = "def has_close_elements(numbers, threshold):\n    return numbers[100]\n"
    run = _run(public_test_program(problem, crashing, 0))
    assert run.returncode != 0 and read_public_result(run.stdout) is None and "IndexError" in run.stderr


def test_solution_may_rely_on_prompt_preamble(problems):
    """The prompt's imports and helpers are in the program even if the solution leaves them out."""
    problem = next(p for p in problems if p.name == "HumanEval/38")  # decode_cyclic needs encode_cyclic
    solution = "def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n"
    assert _run(private_test_program(problem, solution)).returncode == 0


PROMPT = '''from typing import List


def f(xs: List[int], k: int) -> List[int]:
    """Toy.
    >>> f([1, 2], 3)
    [4, 5]
    >>> f([], 0) == []
    >>> f([1,
    ...    2], 0)
    [1,
     2]
    f([7], 1) ➞ [8]
    f([8], 1) == [9].
    * f([9], 1) => [10]  # a comment
    f([1], 2) -> [3] (because 1 + 2 = 3)
    f([2], 2) should return [4]
    f(x, 1) == [5]
    f([3], 1) -> 1 + 3 = 4
    f([4], 1) ==> true
    Input: xs = [5], k = 1
    Output: [6]
    For xs = [6], k = 2 the output should be [8].
    """
'''


def test_parse_docstring_styles():
    assert parse_docstring_tests(PROMPT, "f") == [
        ("f([1, 2], 3)", [4, 5]),
        ("f([], 0)", []),
        ("f([1, 2], 0)", [1, 2]),
        ("f([7], 1)", [8]),
        ("f([8], 1)", [9]),
        ("f([9], 1)", [10]),
        ("f([1], 2)", [3]),
        ("f([2], 2)", [4]),
        ("f([4], 1)", True),
        ("f([5], 1)", [6]),
        ("f([6], 2)", [8]),
    ]


def test_parse_doctest_none_and_expressions():
    prompt = (
        'def g(x):\n    """\n    >>> g([])\n\n    >>> round(g(2), 1)\n    0.5\n    >>> g(1) [1]\n    """\n'
    )
    assert parse_docstring_tests(prompt, "g") == [("g([])", None), ("round(g(2), 1)", 0.5)]
