"""RLEF episodes (Gehring et al. 2024): write a program, see the failing public tests, try again, up to 3 turns.

Rules (DESIGN.md section 2, with the choices the paper leaves open marked "ours"):

- Turn 1 is the user message `PROMPT` with the problem's description (stripped of surrounding whitespace).
- The program of a turn is the last fenced Python block of the response: a block opened by a line starting
  with ```python / ```py / ```python3 (any case) and closed by ```; when there is no such block, the last
  closed block without a language tag (ours). A turn has *valid code* when it has that block, the block is
  not blank and `ast.parse` accepts it (ours). Without a block the program is the empty string; it is still
  run, so the feedback says what an empty program does.
- The program runs on the public tests in the sandbox pool, with the problem's time and memory limits when it
  states them, else 10 s wall / 1 GiB. If every public test passes, or the model has answered `max_turns`
  times, the episode ends; otherwise the feedback below is the next user message.
- Feedback: `Your code failed the following tests:`, a blank line, one line per failing test, a blank line,
  `Give it another try. ` and the backtick instruction of the first prompt:
      - input '{input}' failed: Expected output '{expected}' but got '{observed}'   (wrong answer)
      - input '{input}' failed: {stack trace}                                       (runtime error)
      - input '{input}' failed: Execution took too long.                            (time limit)
      - input '{input}' failed: Out of memory.                                      (memory limit)
  Passing tests are not shown. HumanEval problems: the input is the call, e.g. `add(2, 3)`, expected and
  observed are reprs of values.
- Truncation (ours): input, expected and observed lose trailing whitespace and keep their first
  `FIELD_CHARS` (200) characters, then "..."; a stack trace keeps its last `TRACE_CHARS` (600) characters,
  from a line start, after "...\\n"; at most `MAX_FAILURES` (3) failing tests are listed, then one line
  `- N more failing tests not shown.`. So a feedback message is at most about 2,300 characters (~700 tokens)
  and a 3-turn episode stays far inside SmolLM2's 8k-token context next to a long CodeContests statement and
  three 384-token answers. Why cut at all: on a CPU every token of context is paid again at each decoding step
  (46 KB of KV cache per token and row for SmolLM2-135M), a 135M model is easily distracted by long dumps, and
  what matters sits at the start of an input and at the end of a trace (the exception and the failing line).
- Reward: the last program runs on the private tests (plus generated tests; the public tests when a problem has
  neither; HumanEval: the package's `check`): +1 when all pass, -1 otherwise, given on the last turn. Every
  turn without valid code gets `NO_CODE_REWARD` (-0.2) on that turn, the last one included (so an episode
  returns between -1.6 and +1). Per-turn rewards are what a turn-level value trainer needs; `reward()` returns
  their sum.

Task interface (rlpr): `prompts(split)`, `reward(prompts, responses)`, `metrics(prompts, responses, rewards)`,
`step(conversation) -> next user message or None`; batched forms `step_many`, `check_turns`,
`private_passed` for the rollout code (`episodes.py`), and `outcome(conversation)` with the per-turn record.
"""

from __future__ import annotations

import ast
import math
import re
from collections import OrderedDict
from dataclasses import dataclass, field

from rlpr.sandbox import Job, Limits, SandboxPool
from rlpr.tasks.code.checker import outputs_match
from rlpr.tasks.code.humaneval import private_test_program, public_test_program, read_public_result
from rlpr.tasks.code.problems import Problem, load_builtin_problems, load_problems

INSTRUCTION = (
    "Your code should be enclosed in triple backticks like so: ```python YOUR CODE HERE ```. "
    "Use the backticks for your code only."
)
PROMPT = "Provide a Python solution for the following competitive programming question: {problem}. " + INSTRUCTION
FEEDBACK_HEADER = "Your code failed the following tests:"
RETRY = "Give it another try. " + INSTRUCTION
TIMEOUT_TEXT = "Execution took too long."
MEMORY_TEXT = "Out of memory."

FIELD_CHARS = 200
TRACE_CHARS = 600
MAX_FAILURES = 3
NO_CODE_REWARD = -0.2
DEFAULT_WALL_S = 10.0
DEFAULT_MEMORY_MB = 1024
SPLITS = ("train", "validation", "test")

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
_PYTHON_TAGS = {"python", "py", "python3"}


@dataclass
class RlefConfig:
    dataset: str = "builtin"  # builtin (shipped set: train / test split) | humaneval | path to CodeContests JSONL/Parquet
    max_turns: int = 3
    no_code_reward: float = NO_CODE_REWARD
    workers: int = 0  # sandbox processes at a time; 0 = the number of cores
    field_chars: int = FIELD_CHARS
    trace_chars: int = TRACE_CHARS
    max_failures: int = MAX_FAILURES


# ---------------------------------------------------------------- code in a response


@dataclass
class ExtractedCode:
    code: str  # the program to run ("" when there is no block)
    closed_block: bool  # the response has a closed Python (or untagged) block
    valid: bool  # ... that is not blank and parses


def extract_code(response: str) -> ExtractedCode:
    """The last fenced Python block of `response` (see the module docstring for the exact rule)."""
    tagged, untagged = [], []
    for match in _FENCE.finditer(response):
        tag = match.group(1).lower()
        if tag in _PYTHON_TAGS:
            tagged.append(match.group(2))
        elif not tag:
            untagged.append(match.group(2))
    blocks = tagged or untagged
    if not blocks:
        return ExtractedCode("", False, False)
    code = _dedent(blocks[-1])
    return ExtractedCode(code, True, bool(code.strip()) and _parses(code))


def _dedent(block: str) -> str:
    import textwrap

    return textwrap.dedent(block).strip("\n") + "\n"


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


# ---------------------------------------------------------------- test results and feedback


@dataclass
class TestResult:
    input: str  # stdin, or the call for a function problem
    expected: str
    status: str  # passed | wrong_answer | runtime_error | time_limit | memory_limit | output_limit | sandbox_failure
    observed: str = ""  # stdout, or the repr of the returned value
    trace: str = ""  # stderr of a runtime error

    __test__ = False  # not a pytest class

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class TurnCheck:
    """What one turn's program did on the public tests."""

    code: str
    closed_block: bool
    valid: bool
    tests: list[TestResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """All public tests pass (vacuously true for a problem without public tests)."""
        return all(t.passed for t in self.tests)

    @property
    def failures(self) -> list[TestResult]:
        return [t for t in self.tests if not t.passed]


def _head(text: str, limit: int) -> str:
    text = text.rstrip()
    return text if len(text) <= limit else text[:limit] + "..."


def _tail_lines(text: str, limit: int) -> str:
    text = text.rstrip()
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    newline = cut.find("\n")
    if 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1 :]
    return "...\n" + cut


def failure_line(test: TestResult, field_chars: int = FIELD_CHARS, trace_chars: int = TRACE_CHARS) -> str:
    """The feedback line of one failing test."""
    prefix = f"- input '{_head(test.input, field_chars)}' failed: "
    if test.status == "time_limit":
        return prefix + TIMEOUT_TEXT
    if test.status == "memory_limit":
        return prefix + MEMORY_TEXT
    if test.status in ("runtime_error", "sandbox_failure"):
        return prefix + _tail_lines(test.trace, trace_chars)
    expected, observed = _head(test.expected, field_chars), _head(test.observed, field_chars)
    return prefix + f"Expected output '{expected}' but got '{observed}'"


def format_feedback(
    failures: list[TestResult], field_chars: int = FIELD_CHARS, trace_chars: int = TRACE_CHARS,
    max_failures: int = MAX_FAILURES,
) -> str:
    """The user message after a turn whose program failed `failures` (at least one)."""
    lines = [failure_line(t, field_chars, trace_chars) for t in failures[:max_failures]]
    if len(failures) > max_failures:
        hidden = len(failures) - max_failures
        lines.append(f"- {hidden} more failing test{'s' if hidden > 1 else ''} not shown.")
    return "\n".join([FEEDBACK_HEADER, "", *lines, "", RETRY])


# ---------------------------------------------------------------- problems -> sandbox jobs


def problem_limits(problem: Problem) -> Limits:
    """The problem's stated limits, else 10 s wall and 1 GiB."""
    memory = math.ceil(problem.memory_limit_bytes / 2**20) if problem.memory_limit_bytes else DEFAULT_MEMORY_MB
    return Limits(wall_s=problem.time_limit or DEFAULT_WALL_S, memory_mb=memory)


def public_jobs(problem: Problem, code: str) -> list[Job]:
    limits = problem_limits(problem)
    tests = problem.public_tests
    if problem.is_function:
        return [Job(public_test_program(problem, code, i), limits=limits) for i in range(len(tests["input"]))]
    return [Job(code, stdin, expected, limits, outputs_match) for stdin, expected in zip(tests["input"], tests["output"])]


def private_jobs(problem: Problem, code: str) -> list[Job]:
    limits = problem_limits(problem)
    if problem.is_function:
        return [Job(private_test_program(problem, code), limits=limits)]
    inputs = problem.private_tests["input"] + problem.generated_tests["input"]
    outputs = problem.private_tests["output"] + problem.generated_tests["output"]
    if not inputs:
        inputs, outputs = problem.public_tests["input"], problem.public_tests["output"]
    return [Job(code, stdin, expected, limits, outputs_match) for stdin, expected in zip(inputs, outputs)]


def _public_result(problem: Problem, index: int, result) -> TestResult:
    test = TestResult(problem.public_tests["input"][index], problem.public_tests["output"][index], result.status)
    if problem.is_function and result.status == "ok":
        read = read_public_result(result.stdout)
        if read is None:  # the program ended before the harness printed (exit() in the solution, say)
            test.status, test.observed = "wrong_answer", result.stdout
        else:
            test.status = "passed" if read[0] else "wrong_answer"
            test.observed = read[1]
    elif result.status in ("passed", "wrong_answer", "output_limit", "ok"):
        test.status = "wrong_answer" if result.status == "ok" else result.status
        test.observed = result.stdout
    test.trace = result.stderr if result.status in ("runtime_error", "sandbox_failure") else ""
    return test


def _private_ok(problem: Problem, results) -> bool:
    if problem.is_function:
        return all(r.status == "ok" for r in results)
    return all(r.status == "passed" for r in results)


# ---------------------------------------------------------------- episodes


@dataclass
class EpisodeOutcome:
    """The per-turn record of a finished (or running) episode."""

    turns: list[TurnCheck]
    end: str  # passed (public tests) | max_turns | stopped (scored with turns left) | running
    private_passed: bool | None  # None while running
    rewards: list[float]  # one per turn: the no-code penalty, plus +-1 on the last turn once finished

    @property
    def total(self) -> float:
        return sum(self.rewards)


class _LRU(OrderedDict):
    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


def load_dataset(name: str, split: str) -> list[Problem]:
    """Problems of `name` (builtin | humaneval | a path) for `split`.

    builtin: the shipped set's train split for "train", its test split otherwise. humaneval and files: every
    problem for every split (a file is one split: pass CodeContests' train or test file as you need).
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    if name == "builtin":
        return load_builtin_problems("train" if split == "train" else "test")
    if name == "humaneval":
        from rlpr.tasks.code.humaneval import load_humaneval

        return load_humaneval()
    return load_problems(name)


class RlefTask:
    """Multi-turn code generation with execution feedback (module docstring: rules, feedback, reward)."""

    name = "rlef"

    def __init__(self, config: RlefConfig | None = None, problems: list[Problem] | None = None):
        self.config = config or RlefConfig()
        if self.config.max_turns < 1:
            from rlpr.config import ConfigError

            raise ConfigError(f"task_config.max_turns: expected at least 1, got {self.config.max_turns}")
        self._problems: dict[str, Problem] = {}  # turn-1 prompt -> problem
        self._splits: dict[str, list[str]] = {}
        if problems is not None:
            prompts = self.add_problems(problems)
            self._splits = {split: prompts for split in SPLITS}
        self._pool: SandboxPool | None = None
        self._checks = _LRU(20000)  # (problem name, code) -> public TestResults
        self._private = _LRU(20000)  # (problem name, code) -> bool

    # -- prompts and problems

    @staticmethod
    def prompt(problem: Problem) -> str:
        return PROMPT.format(problem=problem.description.strip())

    def add_problems(self, problems: list[Problem]) -> list[str]:
        prompts = []
        for problem in problems:
            prompt = self.prompt(problem)
            self._problems[prompt] = problem
            prompts.append(prompt)
        return prompts

    def prompts(self, split: str) -> list[str]:
        if split not in self._splits:
            self._splits[split] = self.add_problems(load_dataset(self.config.dataset, split))
        return list(self._splits[split])

    def problem(self, prompt: str | list[dict]) -> Problem:
        """The problem of a turn-1 prompt, or of a conversation (its first user message)."""
        if not isinstance(prompt, str):
            prompt = next(m["content"] for m in prompt if m["role"] == "user")
        try:
            return self._problems[prompt]
        except KeyError:
            raise KeyError("unknown prompt: not one of this task's problems (call prompts(split) first)") from None

    # -- running programs

    @property
    def pool(self) -> SandboxPool:
        if self._pool is None:
            self._pool = SandboxPool(self.config.workers or None)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def check_turns(self, problems: list[Problem], responses: list[str]) -> list[TurnCheck]:
        """Extract each response's program and run it on its problem's public tests (one pool call for all)."""
        extracted = [extract_code(r) for r in responses]
        todo: dict[tuple[str, str], Problem] = {}
        for problem, ex in zip(problems, extracted):
            key = (problem.name, ex.code)
            if key not in self._checks:
                todo[key] = problem
        found = self._run_grouped(todo, public_jobs)
        for key, problem in todo.items():
            self._checks.put(key, [_public_result(problem, i, r) for i, r in enumerate(found[key])])
        return [
            TurnCheck(ex.code, ex.closed_block, ex.valid, list(self._checks[(p.name, ex.code)]))
            for p, ex in zip(problems, extracted)
        ]

    def _run_grouped(self, todo: dict[tuple[str, str], Problem], make_jobs) -> dict[tuple[str, str], list]:
        """Run `make_jobs(problem, code)` for every (name, code) key in one pool call -> results by key, in order."""
        jobs, owners = [], []
        for key, problem in todo.items():
            for job in make_jobs(problem, key[1]):
                jobs.append(job)
                owners.append(key)
        results = self.pool.run_many(jobs) if jobs else []
        found: dict[tuple[str, str], list] = {key: [] for key in todo}
        for key, result in zip(owners, results):
            found[key].append(result)
        return found

    def private_passed(self, problems: list[Problem], codes: list[str]) -> list[bool]:
        """Whether each program passes its problem's private tests (one pool call for all)."""
        todo = {(p.name, c): p for p, c in zip(problems, codes) if (p.name, c) not in self._private}
        found = self._run_grouped(todo, private_jobs)
        for key, problem in todo.items():
            self._private.put(key, _private_ok(problem, found[key]))
        return [self._private[(p.name, c)] for p, c in zip(problems, codes)]

    # -- the multi-turn interface

    def feedback(self, check: TurnCheck, turn: int) -> str | None:
        """The user message after turn `turn` (1-based) with result `check`; None when the episode is over."""
        if check.passed or turn >= self.config.max_turns:
            return None
        return format_feedback(check.failures, self.config.field_chars, self.config.trace_chars, self.config.max_failures)

    def step(self, conversation: list[dict]) -> str | None:
        """The next user message of an episode whose last message is the model's answer, or None when it is over."""
        return self.step_many([conversation])[0]

    def step_many(self, conversations: list[list[dict]]) -> list[str | None]:
        problems = [self.problem(c) for c in conversations]
        answers = [c[-1]["content"] for c in conversations]
        if any(c[-1]["role"] != "assistant" for c in conversations):
            raise ValueError("step: the conversation must end with the model's (assistant) answer")
        checks = self.check_turns(problems, answers)
        return [self.feedback(check, _turns(c)) for check, c in zip(checks, conversations)]

    def outcome(self, conversation: list[dict] | str, prompt: str | None = None) -> EpisodeOutcome:
        """Per-turn record of an episode given as a conversation, or as one answer (str) to `prompt`.

        A conversation is over when its last answer passed the public tests or used the last turn; a lone
        answer is scored as it stands. Once over, the last program runs on the private tests and the final
        reward is added to the last turn.
        """
        if isinstance(conversation, str):
            return self._outcomes([prompt], [conversation])[0]
        return self.outcomes([conversation])[0]

    def outcomes(self, conversations: list[list[dict]], stop: list[bool] | None = None) -> list[EpisodeOutcome]:
        """`outcome` of each conversation; `stop[i]`: score conversation i now even if turns are left."""
        stop = stop or [False] * len(conversations)
        checks_of = []
        for conversation in conversations:
            problem = self.problem(conversation)
            answers = [m["content"] for m in conversation if m["role"] == "assistant"]
            checks_of.append(self.check_turns([problem] * len(answers), answers))
        over = [
            bool(cs) and (s or cs[-1].passed or len(cs) >= self.config.max_turns) for cs, s in zip(checks_of, stop)
        ]
        ended = [(c, cs) for c, cs, o in zip(conversations, checks_of, over) if o]
        passed = iter(self.private_passed([self.problem(c) for c, _ in ended], [cs[-1].code for _, cs in ended]))
        outcomes = []
        for checks, done in zip(checks_of, over):
            rewards = [0.0 if check.valid else self.config.no_code_reward for check in checks]
            private = next(passed) if done else None
            if done:
                rewards[-1] += 1.0 if private else -1.0
            outcomes.append(EpisodeOutcome(checks, _end(checks, done, self.config.max_turns), private, rewards))
        return outcomes

    def reward(self, prompts: list[str], responses: list) -> list[float]:
        """Episode returns. A response is a conversation (list of messages) or one answer to its prompt."""
        return [o.total for o in self._outcomes(prompts, responses)]

    def _outcomes(self, prompts: list[str], responses: list) -> list[EpisodeOutcome]:
        conversations = [
            r if not isinstance(r, str) else [{"role": "user", "content": p}, {"role": "assistant", "content": r}]
            for p, r in zip(prompts, responses, strict=True)
        ]
        return self.outcomes(conversations, [isinstance(r, str) for r in responses])

    def metrics(self, prompts: list[str], responses: list, rewards: list[float]) -> dict[str, float]:
        outcomes = self._outcomes(prompts, responses)
        n = max(len(outcomes), 1)
        turns = [t for o in outcomes for t in o.turns]
        return {
            "solve_rate": sum(bool(o.private_passed) for o in outcomes) / n,
            "public_pass_rate": sum(o.turns[-1].passed for o in outcomes if o.turns) / n,
            "mean_turns": len(turns) / n,
            "valid_code_share": sum(t.valid for t in turns) / max(len(turns), 1),
        }


def _end(checks: list[TurnCheck], done: bool, max_turns: int) -> str:
    if not done:
        return "running"
    if checks[-1].passed:
        return "passed"
    return "max_turns" if len(checks) >= max_turns else "stopped"


def _turns(conversation: list[dict]) -> int:
    return sum(m["role"] == "assistant" for m in conversation)
