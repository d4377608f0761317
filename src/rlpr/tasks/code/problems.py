"""Code problems in the CodeContests record shape: the dataclass, file loaders and the shipped set.

A record on disk (JSONL line or Parquet row) has DeepMind's CodeContests schema: `name`, `description`,
`public_tests` / `private_tests` / `generated_tests` as `{"input": [str], "output": [str]}`, `solutions` /
`incorrect_solutions` as `{"language": [int], "solution": [str]}`, `time_limit` as `{"seconds", "nanos"}`,
`memory_limit_bytes`, `difficulty`, `cf_rating`, `cf_tags`, `source`. Other CodeContests fields
(`cf_contest_id`, `input_file`, ...) are ignored. Function-calling problems (HumanEval) add `entry_point`,
`prompt` and `test_code`; see `humaneval.py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

PYTHON2, PYTHON3 = 1, 3  # CodeContests' Solution.Language values
SPLITS = ("train", "test")
BUILTIN_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "data", "code_problems.jsonl")


class ProblemFormatError(ValueError):
    """A record that does not fit the CodeContests schema; the message names file, line/row and field."""


def _no_tests() -> dict[str, list[str]]:
    return {"input": [], "output": []}


def _no_solutions() -> dict[str, list]:
    return {"language": [], "solution": []}


@dataclass
class Problem:
    """One problem. Tests are `{"input": [...], "output": [...]}` with equal-length lists of strings."""

    name: str
    description: str
    public_tests: dict[str, list[str]] = field(default_factory=_no_tests)
    private_tests: dict[str, list[str]] = field(default_factory=_no_tests)
    generated_tests: dict[str, list[str]] = field(default_factory=_no_tests)
    solutions: dict[str, list] = field(default_factory=_no_solutions)
    incorrect_solutions: dict[str, list] = field(default_factory=_no_solutions)
    time_limit: float | None = None  # seconds; None: not stated (the runner picks its default)
    memory_limit_bytes: int | None = None
    difficulty: int = 0
    cf_rating: int = 0
    cf_tags: list[str] = field(default_factory=list)
    source: int = 0
    # Function-calling problems only (HumanEval): the function to write, the prompt given to the model
    # (signature + docstring) and the test code defining `check(candidate)`.
    entry_point: str | None = None
    prompt: str | None = None
    test_code: str | None = None

    @property
    def is_function(self) -> bool:
        """True for a function-calling problem, False for a stdin/stdout one."""
        return self.entry_point is not None

    def python_solutions(self, correct: bool = True) -> list[str]:
        """Python 3 programs among the (in)correct solutions."""
        sols = self.solutions if correct else self.incorrect_solutions
        return [s for lang, s in zip(sols["language"], sols["solution"]) if lang == PYTHON3]


def problem_split(name: str) -> str:
    """Stable split of a problem by a hash of its name: "test" for about 1/3, else "train"."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return "test" if int.from_bytes(digest[:8], "big") % 3 == 0 else "train"


# --- records <-> Problem ---------------------------------------------------------------------------


def _check_tests(value: Any, name: str) -> dict[str, list[str]]:
    if value is None:
        return _no_tests()
    if not isinstance(value, dict) or not {"input", "output"} <= set(value):
        raise ValueError(f"field '{name}': expected {{'input': [...], 'output': [...]}}, got {value!r:.80}")
    inputs, outputs = value["input"], value["output"]
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise ValueError(f"field '{name}': 'input' and 'output' must be lists")
    if len(inputs) != len(outputs):
        raise ValueError(f"field '{name}': {len(inputs)} inputs but {len(outputs)} outputs")
    for key, items in (("input", inputs), ("output", outputs)):
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise ValueError(f"field '{name}': {key}[{i}] is {type(item).__name__}, not str")
    return {"input": list(inputs), "output": list(outputs)}


def _check_solutions(value: Any, name: str) -> dict[str, list]:
    if value is None:
        return _no_solutions()
    if not isinstance(value, dict) or not {"language", "solution"} <= set(value):
        raise ValueError(f"field '{name}': expected {{'language': [...], 'solution': [...]}}")
    langs, sols = list(value["language"]), list(value["solution"])
    if len(langs) != len(sols) or not all(isinstance(s, str) for s in sols):
        raise ValueError(f"field '{name}': languages and solutions must pair up, solutions as strings")
    return {"language": [int(x) for x in langs], "solution": sols}


def _time_limit(value: Any) -> float | None:
    """`{seconds, nanos}` (CodeContests) or a number of seconds -> seconds; None if absent."""
    if value is None:
        return None
    if isinstance(value, dict):
        seconds = (value.get("seconds") or 0) + (value.get("nanos") or 0) * 1e-9
        return float(seconds) if seconds > 0 else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if value > 0 else None
    raise ValueError(f"field 'time_limit': expected {{'seconds', 'nanos'}}, got {value!r:.80}")


def _optional_int(record: dict, key: str, default: int | None) -> int | None:
    value = record.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"field '{key}': expected an integer, got {value!r:.80}")
    return int(value)


def _optional_str(record: dict, key: str) -> str | None:
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"field '{key}': expected a string, got {type(value).__name__}")
    return value


def problem_from_record(record: dict) -> Problem:
    """A Problem from a CodeContests record; raises ValueError naming the bad field."""
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    for key in ("name", "description"):
        if not isinstance(record.get(key), str):
            raise ValueError(f"field '{key}': missing or not a string")
    tags = record.get("cf_tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("field 'cf_tags': expected a list of strings")
    return Problem(
        name=record["name"],
        description=record["description"],
        public_tests=_check_tests(record.get("public_tests"), "public_tests"),
        private_tests=_check_tests(record.get("private_tests"), "private_tests"),
        generated_tests=_check_tests(record.get("generated_tests"), "generated_tests"),
        solutions=_check_solutions(record.get("solutions"), "solutions"),
        incorrect_solutions=_check_solutions(record.get("incorrect_solutions"), "incorrect_solutions"),
        time_limit=_time_limit(record.get("time_limit")),
        memory_limit_bytes=_optional_int(record, "memory_limit_bytes", None) or None,
        difficulty=_optional_int(record, "difficulty", 0),
        cf_rating=_optional_int(record, "cf_rating", 0),
        cf_tags=list(tags),
        source=_optional_int(record, "source", 0),
        entry_point=_optional_str(record, "entry_point"),
        prompt=_optional_str(record, "prompt"),
        test_code=_optional_str(record, "test_code"),
    )


def problem_to_record(problem: Problem, keep_empty: bool = False) -> dict:
    """The CodeContests record of a Problem; function-calling fields only when set unless `keep_empty`."""
    record = dataclasses.asdict(problem)
    limit = record.pop("time_limit")
    if limit is None:
        record["time_limit"] = None
    else:
        seconds = int(limit)
        record["time_limit"] = {"seconds": seconds, "nanos": round((limit - seconds) * 1e9)}
    for key in ("entry_point", "prompt", "test_code"):
        if record[key] is None and not keep_empty:
            del record[key]
    return record


# --- files ---------------------------------------------------------------------------------------


def _load_jsonl(path: str) -> list[Problem]:
    problems = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                problems.append(problem_from_record(json.loads(line)))
            except ValueError as e:  # json.JSONDecodeError is a ValueError
                raise ProblemFormatError(f"{path}: line {line_no}: {e}") from e
    return problems


def _load_parquet(path: str) -> list[Problem]:
    import pyarrow.parquet as pq

    problems = []
    for row_no, record in enumerate(pq.read_table(path).to_pylist()):
        try:
            problems.append(problem_from_record(record))
        except ValueError as e:
            raise ProblemFormatError(f"{path}: row {row_no}: {e}") from e
    return problems


def load_problems(path: str) -> list[Problem]:
    """Problems from a .jsonl / .parquet file, or from every such file in a directory (sorted by name)."""
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if f.endswith((".jsonl", ".parquet")))
        if not files:
            raise FileNotFoundError(f"no .jsonl or .parquet files in {path}")
        return [p for f in files for p in load_problems(os.path.join(path, f))]
    if path.endswith(".parquet"):
        return _load_parquet(path)
    if path.endswith(".jsonl"):
        return _load_jsonl(path)
    raise ValueError(f"{path}: expected a .jsonl or .parquet file")


def save_problems(problems: list[Problem], path: str) -> None:
    """Write problems as CodeContests records to a .jsonl or .parquet file."""
    if path.endswith(".parquet"):  # every row gets the same columns
        records = [problem_to_record(p, keep_empty=True) for p in problems]
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), path)
        return
    records = [problem_to_record(p) for p in problems]
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def load_builtin_problems(split: str | None = None) -> list[Problem]:
    """The shipped stdin/stdout problem set (`rlpr/data/code_problems.jsonl`); `split` "train"/"test"/None."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS} or None")
    problems = load_problems(os.path.normpath(BUILTIN_PATH))
    return [p for p in problems if split is None or problem_split(p.name) == split]


def load_codecontests(split: str = "test") -> list[Problem]:
    """DeepMind's CodeContests split ("train", "valid", "test") through `datasets`; needs a network."""
    try:
        import datasets
    except ImportError as e:
        raise ImportError("load_codecontests needs `datasets`: pip install 'rlpr[data]'") from e
    data = datasets.load_dataset("deepmind/code_contests", split=split)
    problems = []
    for row_no, record in enumerate(data):
        try:
            problems.append(problem_from_record(record))
        except ValueError as e:
            raise ProblemFormatError(f"deepmind/code_contests[{split}]: row {row_no}: {e}") from e
    return problems
