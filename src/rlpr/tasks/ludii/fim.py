"""Fill-in-the-middle examples from the Ludii library, and the reward of a generated middle.

As in Padula & Soemers (2024): every parenthesised sub-expression (depth >= 1) of the define-expanded
game, in canonical one-line text, is the middle of one example; the prompt is
``### PRE: {prefix} ### SUF: {suffix} ### MID:`` and the completion `` {middle}`` (loss only on it).
Game and piece names are masked first (a model should not recall a game by its name): the game's
name becomes ``Game``, piece names become ``PieceA``, ``PieceB``... in order of declaration, and
every string naming a piece (``"Disc"``, ``"Disc1"`` for player 1's) is renamed consistently, so a
masked game compiles and plays as the original does.

The split is by game (no game has examples on both sides), fixed by a seed. Games longer than the
character or token budget are skipped and counted, and by default so are games our engine does not
play (unsupported, unplayable or too slow for the reward's budget on the true middle), so that every
example has a defined reward.

``score_completion`` reassembles prefix + middle + suffix (the middle cut at its first balanced
closing bracket) and scores it with the reward, reporting compiles / plays / unsupported apart.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rlpr.tasks.ludii.coverage import library_games
from rlpr.tasks.ludii.expand import expand_file
from rlpr.tasks.ludii.paths import game_files, relative_name, require_data_dir
from rlpr.tasks.ludii.reader import LudiiSyntaxError
from rlpr.tasks.ludii.reward import evaluate_many, reassemble
from rlpr.tasks.ludii.tree import Array, Atom, Call, Node, fim_splits

PRE, SUF, MID = "### PRE: ", " ### SUF: ", " ### MID:"
GAME_MASK = "Game"


# --- the format ------------------------------------------------------------------------------------


def format_prompt(prefix: str, suffix: str) -> str:
    """``### PRE: {prefix} ### SUF: {suffix} ### MID:`` (the completion starts with a space)."""
    return f"{PRE}{prefix}{SUF}{suffix}{MID}"


def parse_prompt(prompt: str) -> tuple[str, str]:
    """(prefix, suffix) of a prompt made by ``format_prompt``; ValueError naming the missing marker."""
    if not prompt.startswith(PRE):
        raise ValueError(f"FIM prompt does not start with {PRE!r}: {prompt[:40]!r}")
    if not prompt.endswith(MID):
        raise ValueError(f"FIM prompt does not end with {MID!r}: {prompt[-40:]!r}")
    body = prompt[len(PRE) : -len(MID)]
    prefix, sep, suffix = body.partition(SUF)  # Ludii text holds no '###'
    if not sep:
        raise ValueError(f"FIM prompt has no {SUF.strip()!r} marker")
    return prefix, suffix


@dataclass(frozen=True)
class FimExample:
    """One fill-in-the-middle example: ``prefix + middle + suffix`` is the masked game's text."""

    game: str  # path under lud/, e.g. board/space/line/Tic-Tac-Toe.lud
    prefix: str
    middle: str
    suffix: str

    @property
    def prompt(self) -> str:
        return format_prompt(self.prefix, self.suffix)

    @property
    def completion(self) -> str:
        return " " + self.middle

    @property
    def text(self) -> str:
        """The SFT text: prompt then completion."""
        return self.prompt + self.completion


# --- masking ---------------------------------------------------------------------------------------


def piece_names(game: Call) -> list[str]:
    """Names declared by ``(piece "Name" ...)`` in the game, in order, without repeats."""
    names: list[str] = []
    stack: list[Node] = [game]
    while stack:  # pre-order, so declaration order is text order
        node = stack.pop()
        if isinstance(node, Call):
            first = node.args[0] if node.args else None
            if node.head == "piece" and isinstance(first, Atom) and first.kind == "string":
                if first.text not in names:
                    names.append(first.text)
            stack.extend(reversed(node.args))
        elif isinstance(node, Array):
            stack.extend(reversed(node.items))
    return names


def _letters(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: piece masks hold no digit, since a trailing number names an owner."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(ord("A") + r) + out
    return out


def mask_names(game: Call) -> Call:
    """The game with its name replaced by ``Game`` and its piece names by ``PieceA``, ``PieceB``..."""
    masks = {name: f"Piece{_letters(i)}" for i, name in enumerate(piece_names(game))}
    owned = (
        re.compile("^(" + "|".join(re.escape(n) for n in sorted(masks, key=len, reverse=True)) + r")(\d+)$")
        if masks
        else None
    )

    def rename(text: str) -> str:
        if text in masks:
            return masks[text]
        m = owned.match(text) if owned else None
        return masks[m.group(1)] + m.group(2) if m else text

    def visit(node: Node) -> Node:
        if isinstance(node, Atom):
            return replace(node, text=rename(node.text)) if node.kind == "string" else node
        if isinstance(node, Call):
            return replace(node, args=tuple(visit(a) for a in node.args))
        return replace(node, items=tuple(visit(a) for a in node.items))

    masked = visit(game)
    first = masked.args[0] if masked.args else None
    if isinstance(first, Atom) and first.kind == "string":
        masked = replace(masked, args=(replace(first, text=GAME_MASK), *masked.args[1:]))
    return masked


def game_examples(name: str, game: Call, min_depth: int = 1) -> list[FimExample]:
    """One example per call at depth >= ``min_depth`` of the masked game, in text order."""
    return [FimExample(name, pre, mid, suf) for pre, mid, suf, _ in fim_splits(mask_names(game), min_depth)]


# --- the dataset -----------------------------------------------------------------------------------


@dataclass
class FimConfig:
    """How the dataset is cut. The paper skipped games over 1024 tokens of its tokenizer; by default we
    count characters (no tokenizer needed; 3072 is a guess at 1024 tokens, not measured): give
    ``max_tokens`` and ``build_dataset(count_tokens=...)`` to cut by a model's tokens instead."""

    seed: int = 0
    validation_fraction: float = 0.1
    max_chars: int | None = 3072  # of a whole example (prompt + completion); None: no limit
    max_tokens: int | None = None  # needs a count_tokens function; None: no limit
    only_playable: bool = True  # keep only games whose true middle earns a reward "ok" from our engine
    check_playouts: int = 10  # playouts of that check, within check_budget_s of CPU time: the
    check_budget_s: float = 0.5  # reward's rate (100 playouts in 5 s)
    min_middle_ratio: float = 0.0  # keep examples whose middle is >= this share of the prompt (PPO: 0.2)
    games: tuple[str, ...] = ()  # only these games (paths under lud/, or their file names); () = all
    workers: int = 1  # processes for the playability check


@dataclass
class FimDataset:
    """Examples by split, the games of each split, and the games skipped, by reason."""

    train: list[FimExample] = field(default_factory=list)
    validation: list[FimExample] = field(default_factory=list)
    games: dict[str, list[str]] = field(default_factory=lambda: {"train": [], "validation": []})
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> games
    short_middles: int = 0  # examples dropped by min_middle_ratio

    def split(self, name: str) -> list[FimExample]:
        if name not in ("train", "validation"):
            raise ValueError(f"FIM split must be train or validation, not {name!r}")
        return self.train if name == "train" else self.validation

    def counts(self) -> dict[str, int]:
        """Examples and games per split, and skipped games per reason (what the builder reports)."""
        out = {
            "train_examples": len(self.train),
            "validation_examples": len(self.validation),
            "train_games": len(self.games["train"]),
            "validation_games": len(self.games["validation"]),
            "short_middles": self.short_middles,
        }
        return out | {f"skipped_{reason}": len(g) for reason, g in sorted(self.skipped.items())}


def split_games(names: Iterable[str], seed: int, validation_fraction: float) -> dict[str, list[str]]:
    """Games by split: the ``round(fraction * n)`` games (at least one when n >= 2 and the fraction is
    positive) whose seeded hash is lowest go to validation. Hashing each name, rather than shuffling
    the list, keeps a game on its side when other games are added or dropped."""
    names = sorted(set(names))
    ranked = sorted(names, key=lambda n: hashlib.sha256(f"{seed}:{n}".encode()).hexdigest())
    k = round(validation_fraction * len(names))
    if validation_fraction > 0 and len(names) >= 2:
        k = min(max(k, 1), len(names) - 1)
    held = set(ranked[:k])
    return {"train": [n for n in names if n not in held], "validation": [n for n in names if n in held]}


def _selected(name: str, wanted: Sequence[str]) -> bool:
    return not wanted or name in wanted or name.rsplit("/", 1)[-1] in wanted


def _load_games(wanted: Sequence[str], root: Path) -> tuple[dict[str, Call], dict[str, str]]:
    """Expanded games (and read errors) of the library, or of the ``wanted`` ones only: reading all
    397 takes seconds, and a few games are all a test or a tiny run needs."""
    if not wanted:
        return library_games(str(root))
    games: dict[str, Call] = {}
    errors: dict[str, str] = {}
    for path in game_files(root):
        rel = relative_name(path, root)
        if _selected(rel, wanted):
            try:
                games[rel] = expand_file(path, root, rel)
            except LudiiSyntaxError as exc:
                errors[rel] = str(exc)
    found = [*games, *errors]
    missing = [w for w in wanted if not any(_selected(n, [w]) for n in found)]
    if missing:
        raise ValueError(f"FimConfig.games: no library game named {', '.join(missing)}")
    return games, errors


def build_dataset(
    config: FimConfig | None = None,
    data_dir: Path | str | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> FimDataset:
    """The FIM examples of the library, split by game; see ``FimConfig`` for the filters."""
    config = config or FimConfig()
    if config.max_tokens is not None and count_tokens is None:
        raise ValueError("FimConfig.max_tokens needs a count_tokens function")
    chosen, read_errors = _load_games(config.games, require_data_dir(data_dir))
    data = FimDataset()
    if read_errors:
        data.skipped["unreadable"] = sorted(read_errors)
    examples: dict[str, list[FimExample]] = {}
    for name, game in sorted(chosen.items()):
        ex = game_examples(name, game)
        if not ex:
            data.skipped.setdefault("no_subexpression", []).append(name)
            continue
        # Every example of a game is the same text cut in another place: measure one.
        # (Token counts may differ by a token or two at the cut; characters do not.)
        whole = ex[0].text
        if (config.max_chars is not None and len(whole) > config.max_chars) or (
            config.max_tokens is not None and count_tokens(whole) > config.max_tokens
        ):
            data.skipped.setdefault("too_long", []).append(name)
            continue
        examples[name] = ex

    if config.only_playable and examples:
        names = list(examples)
        texts = [ex[0].prefix + ex[0].middle + ex[0].suffix for ex in examples.values()]
        results = evaluate_many(
            texts,
            workers=config.workers,
            data_dir=data_dir,
            n_playouts=config.check_playouts,
            budget_s=config.check_budget_s,
            # The CPU budget decides what is too slow; the wall-time kill only catches a hung worker. A short
            # kill (it was 10 s) dropped fast games whenever the cores were busy: the dataset changed with load.
            timeout_s=max(60.0, 60 * config.check_budget_s),
        )
        for name, result in zip(names, results):
            if result.status != "ok":
                data.skipped.setdefault(result.status, []).append(name)
                del examples[name]

    data.games = split_games(examples, config.seed, config.validation_fraction)
    for split, names in data.games.items():
        for name in names:
            for e in examples[name]:
                if len(e.middle) < config.min_middle_ratio * len(e.prompt):
                    data.short_middles += 1
                else:
                    data.split(split).append(e)
    return data


# --- scoring ---------------------------------------------------------------------------------------


@dataclass
class FimScore:
    """The reward of one completion and what it shows. ``reward`` is NaN when our engine cannot play
    the game (``unsupported``): that is no verdict on the completion, so it is never counted as invalid."""

    reward: float
    status: str  # reassembly, invalid, unsupported, unplayable, timeout or ok (reward.RewardResult)
    detail: str = ""

    @property
    def compiles(self) -> bool:
        return self.status not in ("reassembly", "invalid")

    @property
    def unsupported(self) -> bool:
        return self.status == "unsupported"

    @property
    def plays(self) -> bool:
        return self.status == "ok"


def score_completions(
    pairs: Sequence[tuple[str, str]],
    generated: Sequence[str],
    workers: int = 1,
    **kw,
) -> list[FimScore]:
    """Scores of generated middles for (prefix, suffix) pairs: reassemble, then ``evaluate_many``
    (each game in a worker process with a hard timeout); ``kw`` goes to ``evaluate_text``."""
    if len(pairs) != len(generated):
        raise ValueError(f"{len(pairs)} (prefix, suffix) pairs but {len(generated)} completions")
    texts = [reassemble(pre, gen, suf) for (pre, suf), gen in zip(pairs, generated)]
    todo = [i for i, t in enumerate(texts) if t is not None]
    results = evaluate_many([texts[i] for i in todo], workers=workers, **kw) if todo else []
    scores = [FimScore(0.0, "reassembly", "no balanced middle") for _ in texts]
    for i, r in zip(todo, results):
        scores[i] = FimScore(r.reward, r.status, r.detail)
    return scores


def score_completion(prefix: str, suffix: str, generated: str, **kw) -> FimScore:
    """The score of one generated middle (in a worker process, as ``score_completions``)."""
    return score_completions([(prefix, suffix)], [generated], **kw)[0]


def summarize(scores: Sequence[FimScore]) -> dict[str, float]:
    """Rates over all completions, and the mean reward over those our engine could score."""
    n = max(len(scores), 1)
    scored = [s.reward for s in scores if not s.unsupported and not math.isnan(s.reward)]
    return {
        "compile_rate": sum(s.compiles for s in scores) / n,
        "play_rate": sum(s.plays for s in scores) / n,
        "unsupported_rate": sum(s.unsupported for s in scores) / n,
        "invalid_rate": sum(not s.compiles for s in scores) / n,
        "reward_mean": sum(scored) / len(scored) if scored else math.nan,
    }


__all__ = [
    "FimConfig",
    "FimDataset",
    "FimExample",
    "FimScore",
    "build_dataset",
    "format_prompt",
    "game_examples",
    "mask_names",
    "parse_prompt",
    "piece_names",
    "score_completion",
    "score_completions",
    "split_games",
    "summarize",
]
