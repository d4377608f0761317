"""The typed tree the compiler builds: each ludeme with its signature and its arguments by name.

A ``TypedCall`` has ``kind`` (``head`` or ``head Keyword``, e.g. ``move Step``), ``returns`` (its type),
``args`` (parameter name -> typed value, None where an optional one is absent) and ``node``/``pos``
(the source node and where it was written). Constants keep the type they were read as
(``int``, ``RoleType``...); arrays keep their element type. This is what the engine walks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from rlpr.tasks.ludii.grammar import Signature, TypeRef
from rlpr.tasks.ludii.tree import Array, Atom, Call, Pos


@dataclass
class TypedConst:
    """A literal or enum constant, with the type it was read as (``int``, ``RoleType``...)."""

    type: str
    value: int | float | str | bool
    node: Atom

    @property
    def pos(self) -> Pos:
        return self.node.pos


@dataclass
class TypedArray:
    """An array of typed values."""

    type: TypeRef
    items: list[Typed]
    node: Array

    @property
    def pos(self) -> Pos:
        return self.node.pos


@dataclass
class TypedCall:
    """A ludeme matched to a signature: ``kind`` is ``head`` or ``head Variant``; ``args`` maps each
    parameter name of the signature to its typed value, or None where an optional one is absent."""

    sig: Signature
    args: dict[str, Typed | None]
    node: Call

    @property
    def kind(self) -> str:
        return self.sig.kind

    @property
    def returns(self) -> str:
        return self.sig.returns

    @property
    def pos(self) -> Pos:
        return self.node.pos

    def present(self) -> dict[str, Typed]:
        """The arguments that were given."""
        return {k: v for k, v in self.args.items() if v is not None}


Typed = Union[TypedConst, TypedArray, TypedCall]  # noqa: UP007 (a runtime alias)


def typed_calls(root: Typed) -> list[TypedCall]:
    """Every typed call of a typed tree, pre-order."""
    out: list[TypedCall] = []
    stack: list[Typed] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, TypedCall):
            out.append(node)
            stack.extend(v for v in reversed(list(node.args.values())) if v is not None)
        elif isinstance(node, TypedArray):
            stack.extend(reversed(node.items))
    return out
