"""RLEF episode rules with scripted answers: code extraction, feedback bytes, turns, rewards (no model)."""

from __future__ import annotations

import pytest

from rlpr.tasks import make_task
from rlpr.tasks.code import Problem, load_humaneval
from rlpr.tasks.code.rlef import (
    PROMPT,
    RlefConfig,
    RlefTask,
    TestResult,
    extract_code,
    format_feedback,
    problem_limits,
)

INSTRUCTION = (
    "Your code should be enclosed in triple backticks like so: ```python YOUR CODE HERE ```. "
    "Use the backticks for your code only."
)
DOUBLE = "print(2 * int(input()))\n"
# Right on 1, wrong on 2, crashes on 3, loops on 4, exhausts memory on 5.
MIXED = """n = int(input())
if n == 2:
    print(5)
elif n == 3:
    raise SystemExit("bad input 3")
elif n == 4:
    while True:
        pass
elif n == 5:
    x = bytearray(2**31)
else:
    print(2 * n)
"""


def py(code: str, before: str = "Here is my answer.\n") -> str:
    return f"{before}```python\n{code}```\n"


@pytest.fixture(scope="module")
def doubling():
    """A stdin problem: print twice the number. Public: 1..5; private: 6, 7."""
    return Problem(
        name="double",
        description="Read n and print 2n.\n",
        public_tests={"input": ["1\n"], "output": ["2\n"]},
        private_tests={"input": ["6\n", "7\n"], "output": ["12\n", "14\n"]},
        time_limit=1.0,
        memory_limit_bytes=256 * 2**20,
    )


@pytest.fixture(scope="module")
def mixed_problem():
    return Problem(
        name="mixed",
        description="Read n; print n doubled.",
        public_tests={"input": ["1\n", "2\n", "3\n", "4\n", "5\n"], "output": ["2\n", "4\n", "6\n", "8\n", "10\n"]},
        private_tests={"input": ["6\n"], "output": ["12\n"]},
        time_limit=1.0,
        memory_limit_bytes=256 * 2**20,
    )


@pytest.fixture(scope="module")
def task(doubling, mixed_problem):
    t = RlefTask(RlefConfig(workers=2, max_failures=5), problems=[doubling, mixed_problem])
    yield t
    t.close()


def chat(prompt: str, *turns: str) -> list[dict]:
    """user prompt, then alternating assistant answers and user feedback as given."""
    messages = [{"role": "user", "content": prompt}]
    for i, text in enumerate(turns):
        messages.append({"role": "assistant" if i % 2 == 0 else "user", "content": text})
    return messages


def play(task: RlefTask, prompt: str, answers: list[str]) -> tuple[list[dict], list[str | None]]:
    """Run an episode with scripted answers until `step` says it is over; returns the chat and each step's reply."""
    messages, replies = [{"role": "user", "content": prompt}], []
    for answer in answers:
        messages.append({"role": "assistant", "content": answer})
        reply = task.step(messages)
        replies.append(reply)
        if reply is None:
            break
        messages.append({"role": "user", "content": reply})
    return messages, replies


# ---------------------------------------------------------------- prompt and code extraction


def test_turn_one_prompt_text(doubling):
    assert RlefTask.prompt(doubling) == (
        "Provide a Python solution for the following competitive programming question: Read n and print 2n.. "
        + INSTRUCTION
    )
    assert PROMPT.endswith(INSTRUCTION)


def test_code_is_the_last_python_block():
    text = "```python\nprint(1)\n```\nor better\n```py\nprint(2)\n```\nexample:\n```\n>>> 3\n```\n```text\nout\n```"
    assert extract_code(text).code == "print(2)\n"  # tagged blocks win over a later untagged one
    assert extract_code("```\nprint(3)\n```").code == "print(3)\n"  # untagged only when nothing is tagged
    indented = extract_code("1. do it:\n   ```Python\n   x = 1\n   print(x)\n   ```")
    assert indented.code == "x = 1\nprint(x)\n" and indented.valid


def test_valid_code_needs_a_closed_block_that_parses():
    assert extract_code(py("print(1)\n")).valid
    unclosed = extract_code("```python\nprint(1)\n")
    assert (unclosed.code, unclosed.closed_block, unclosed.valid) == ("", False, False)
    broken = extract_code(py("def f(:\n"))
    assert broken.closed_block and not broken.valid and broken.code == "def f(:\n"
    assert not extract_code("```python\n\n```").valid
    assert not extract_code("use ```python YOUR CODE HERE ``` as asked").closed_block  # the instruction echoed
    assert not extract_code("no code at all").closed_block


# ---------------------------------------------------------------- feedback bytes


def test_feedback_for_each_failure_kind(task, mixed_problem):
    prompt = task.prompt(mixed_problem)
    feedback = task.step(chat(prompt, py(MIXED)))
    assert feedback == (
        "Your code failed the following tests:\n"
        "\n"
        "- input '2' failed: Expected output '4' but got '5'\n"
        "- input '3' failed: bad input 3\n"
        "- input '4' failed: Execution took too long.\n"
        "- input '5' failed: Out of memory.\n"
        "\n"
        "Give it another try. " + INSTRUCTION
    )


def test_feedback_truncation():
    long = TestResult("x" * 500, "y" * 300, "wrong_answer", observed="z" * 201)
    trace = "\n".join(f"line {i}" for i in range(200)) + "\nValueError: boom"
    crash = TestResult("1 2", "3", "runtime_error", trace=trace)
    text = format_feedback([long, crash, crash, crash, crash], field_chars=200, trace_chars=60, max_failures=3)
    lines = text.split("\n")
    assert lines[2] == f"- input '{'x' * 200}...' failed: Expected output '{'y' * 200}...' but got '{'z' * 200}...'"
    assert lines[3] == "- input '1 2' failed: ..."  # the trace keeps its tail, from a line start
    # 60 characters: "ValueError: boom" (16 + 1) and four whole "line 19N" lines (9 each); the cut line is dropped
    assert lines[4:9] == ["line 196", "line 197", "line 198", "line 199", "ValueError: boom"]
    assert text.count("- input '1 2' failed") == 2
    assert "- 2 more failing tests not shown." in lines
    assert lines[-1] == "Give it another try. " + INSTRUCTION


def test_humaneval_feedback_uses_calls_and_values():
    problem = load_humaneval()[0]  # has_close_elements
    task = RlefTask(RlefConfig(workers=2), problems=[problem])
    try:
        wrong = "def has_close_elements(numbers, threshold):\n    return True\n"
        feedback = task.step(chat(task.prompt(problem), py(wrong)))
        assert feedback.split("\n")[2] == (
            "- input 'has_close_elements([1.0, 2.0, 3.0], 0.5)' failed: Expected output 'False' but got 'True'"
        )
        right = problem.python_solutions()[0]
        assert task.step(chat(task.prompt(problem), py(wrong), feedback, py(right))) is None
        assert task.reward([task.prompt(problem)], [chat(task.prompt(problem), py(wrong), feedback, py(right))]) == [1.0]
        assert task.reward([task.prompt(problem)], [py(wrong)]) == [-1.0]
    finally:
        task.close()


# ---------------------------------------------------------------- turns and rewards


def test_episode_stops_early_when_public_tests_pass(task, doubling):
    messages, replies = play(task, task.prompt(doubling), [py(DOUBLE), py("print(0)\n")])
    assert replies == [None] and len(messages) == 2
    outcome = task.outcome(messages)
    assert (outcome.end, outcome.private_passed, outcome.rewards) == ("passed", True, [1.0])


def test_passing_public_but_failing_private_scores_minus_one(task, doubling):
    messages, replies = play(task, task.prompt(doubling), [py("print(2)\n")])  # hard-codes the public answer
    assert replies == [None]
    assert task.outcome(messages).rewards == [-1.0]


def test_episode_ends_after_three_turns(task, doubling):
    messages, replies = play(task, task.prompt(doubling), [py("print(0)\n")] * 5)
    assert len(replies) == 3 and replies[2] is None and all(r.startswith("Your code failed") for r in replies[:2])
    outcome = task.outcome(messages)
    assert (outcome.end, outcome.private_passed, outcome.rewards) == ("max_turns", False, [0.0, 0.0, -1.0])
    assert outcome.total == -1.0


def test_turn_without_valid_code_costs_0_2(task, doubling):
    prompt = task.prompt(doubling)
    messages, _ = play(task, prompt, ["I cannot do it.", py("print(0)\n"), py(DOUBLE)])
    outcome = task.outcome(messages)
    assert [t.valid for t in outcome.turns] == [False, True, True]
    assert outcome.rewards == [-0.2, 0.0, 1.0]
    assert task.reward([prompt], [messages]) == [pytest.approx(0.8)]
    messages, _ = play(task, prompt, ["```python\nprint(2 *\n```", "no code", "```python\nprint(1)"])
    assert task.outcome(messages).rewards == [-0.2, -0.2, pytest.approx(-1.2)]


def test_a_turn_without_code_gets_feedback_on_the_empty_program(task, doubling):
    feedback = task.step(chat(task.prompt(doubling), "no code here"))
    assert "- input '1' failed: Expected output '2' but got ''" in feedback


def test_single_answers_are_scored_as_finished_episodes(task, doubling):
    prompt = task.prompt(doubling)
    assert task.reward([prompt, prompt, prompt], [py(DOUBLE), py("print(0)\n"), "nothing"]) == [1.0, -1.0, -1.2]
    metrics = task.metrics([prompt, prompt], [py(DOUBLE), "nothing"], [1.0, -1.2])
    assert metrics["solve_rate"] == 0.5 and metrics["valid_code_share"] == 0.5


def test_running_episode_has_no_final_reward(task, doubling):
    outcome = task.outcome(chat(task.prompt(doubling), py("print(0)\n")))
    assert (outcome.end, outcome.private_passed, outcome.rewards) == ("running", None, [0.0])


def test_step_needs_an_answer_last(task, doubling):
    with pytest.raises(ValueError):
        task.step([{"role": "user", "content": task.prompt(doubling)}])


def test_limits_and_registry(doubling):
    assert (problem_limits(doubling).wall_s, problem_limits(doubling).memory_mb) == (1.0, 256)
    default = problem_limits(Problem(name="x", description="y"))
    assert (default.wall_s, default.memory_mb) == (10.0, 1024)
    task = make_task("rlef", {"dataset": "builtin", "max_turns": 2})
    assert isinstance(task, RlefTask) and task.config.max_turns == 2
    prompts = task.prompts("test")
    assert len(prompts) == 24 and task.problem(prompts[0]).public_tests["input"]
    assert len(task.prompts("train")) == 38
