"""Our post-compile UPLC optimiser: `opshin build -O3` output in, a smaller and cheaper program out.

OpShin's output calls every wrapped builtin through a lambda with thunked (delayed) arguments and
binds many helpers that a given program never uses. This module rewrites the untyped Plutus Core
term with a handful of classic, semantics-preserving passes, iterated until nothing changes:

* ``beta``: ``[(lam x b) v]`` becomes ``b[x := v]`` when that cannot duplicate work or change
  evaluation: ``v`` is a variable or a builtin (any number of uses); ``v`` is pure (constant,
  lambda, delay, forced builtin) and ``x`` occurs once; or ``x`` occurs once, in a *strict*
  position of ``b`` (one that ``b`` always evaluates, not under a lambda, delay or case branch).
* ``inline-small``: a small lambda or delay bound by a let is copied (binders renamed) into every
  use, so builtin wrappers become direct builtin calls.
* ``dead``: ``[(lam x b) v]`` becomes ``b`` when ``x`` does not occur and ``v`` is pure.
* ``force-delay``: ``(force (delay t))`` becomes ``t``.
* ``float``: ``[[(lam x m) a] b]`` becomes ``[(lam x [m b]) a]``, ``(force [(lam x m) a])``
  becomes ``[(lam x (force m)) a]``, and ``[f [(lam x m) a]]`` becomes ``[(lam x [f m]) a]``
  for a pure ``f``. Each performs the same evaluations in the same order; it exposes redexes.
* ``if-const``: ``ifThenElse`` on a constant condition whose dropped branch is pure, and
  ``ifThenElse`` of a negated condition (``[ifThenElse c False True]``) with pure branches swaps
  the branches.
* ``drop-param``: a let-bound function (``(lam p1 ... b)`` or OpShin's ``(delay (lam ...))``)
  that is only ever called, with all its arguments, loses a parameter that ``b`` never reads
  when every call gives it a pure argument; the calls lose that argument. OpShin's continuation
  functions after an ``if`` and its loop variables initialised to ``(delay (error))`` go.
* ``specialise``: such a function, when every call gives a parameter the same pure term (up to
  binder names) whose free variables are bound outside the let, binds it once, outside the
  function, and the calls lose it. These are OpShin's helper arguments: ``inline-small`` then
  makes the helpers direct builtin calls.
  Both also apply to a self-applied loop ``[f f a1 ... an]`` whose body recurses only through
  ``[s s b1 ... bn]``: a parameter that the loop only passes on to itself (unchanged, for
  ``specialise``) is handled as above.
* ``sink`` (counted as ``float``): ``let f = v in let g = w in r`` becomes
  ``let g = w in let f = v in r`` when ``v`` is a function always called with a term that needs
  ``g`` or a later pure let, ``w`` is pure and does not mention ``f``: then ``specialise`` applies.

Why this is safe (the argument in ADR 0006): a UPLC term's only effects are failure and
non-termination (and trace logs, which -O3 removes). Every rewrite either removes evaluation of a
pure term (which can neither fail nor loop), or moves the evaluation of a term that is evaluated
exactly once in every run to a later point that every run still reaches, or evaluates a pure term
at another point (``specialise``, ``sink``): once at the let instead of at every call, where its
free variables are bound to the same values. So a run fails after the rewrite exactly when it
failed before, and a successful run computes the same value. Terms are first renamed to globally
unique names, and only binder-free terms are ever duplicated without renaming, so substitution
cannot capture; a moved term is moved, not copied.

    optimise_cbor(script_cbor) -> (script_cbor, rewrite counts)
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, Union

from uplc import ast as u
from uplc.tools import flatten, unflatten

PASSES = (
    "beta",
    "inline-small",
    "dead",
    "force-delay",
    "float",
    "if-const",
    "drop-param",
    "specialise",
)
INLINE_SIZE = 12  # nodes: a lambda/delay at most this big is copied into every use
MAX_ROUNDS = 200
_STACK_BYTES = 512 * 1024 * 1024
_RECURSION = 200_000


# Terms ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Var:
    name: str


@dataclass(frozen=True, slots=True)
class Lam:
    name: str
    body: Term


@dataclass(frozen=True, slots=True)
class App:
    f: Term
    x: Term


@dataclass(frozen=True, slots=True)
class Force:
    t: Term


@dataclass(frozen=True, slots=True)
class Delay:
    t: Term


@dataclass(frozen=True, slots=True)
class Const:
    value: Any  # a uplc constant


@dataclass(frozen=True, slots=True)
class Builtin:
    fun: u.BuiltInFun


@dataclass(frozen=True, slots=True)
class Error:
    pass


@dataclass(frozen=True, slots=True)
class Constr:
    tag: int
    fields: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class Case:
    scrutinee: Term
    branches: tuple[Term, ...]


Term = Union[Var, Lam, App, Force, Delay, Const, Builtin, Error, Constr, Case]  # noqa: UP007

_T = TypeVar("_T")


def _with_big_stack(fn: Callable[[], _T]) -> _T:
    """Run a deeply recursive function in a thread with a large stack."""
    out: list[_T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    old_limit = sys.getrecursionlimit()
    old_size = threading.stack_size()
    sys.setrecursionlimit(max(old_limit, _RECURSION))
    threading.stack_size(_STACK_BYTES)
    try:
        worker = threading.Thread(target=target)
        worker.start()
        worker.join()
    finally:
        threading.stack_size(old_size)
        sys.setrecursionlimit(old_limit)
    if errors:
        raise errors[0]
    return out[0]


# Conversion to and from uplc's AST (with renaming to unique names) ----------------------------


class _Names:
    def __init__(self) -> None:
        self.count = 0

    def fresh(self) -> str:
        self.count += 1
        return f"x{self.count}"


def from_uplc(term: Any, names: _Names, scope: dict[str, str] | None = None) -> Term:
    """uplc AST -> Term, every binder renamed to a fresh unique name."""
    scope = scope or {}
    if isinstance(term, u.Variable):
        if term.name not in scope:
            raise ValueError(f"free variable {term.name}")
        return Var(scope[term.name])
    if isinstance(term, u.BoundStateLambda):
        if term.state:
            raise ValueError("bound state lambdas are not supported")
        new = names.fresh()
        return Lam(new, from_uplc(term.term, names, {**scope, term.var_name: new}))
    if isinstance(term, u.Apply):
        return App(from_uplc(term.f, names, scope), from_uplc(term.x, names, scope))
    if isinstance(term, u.Force):
        return Force(from_uplc(term.term, names, scope))
    if isinstance(term, u.BoundStateDelay):
        if term.state:
            raise ValueError("bound state delays are not supported")
        return Delay(from_uplc(term.term, names, scope))
    if isinstance(term, u.ForcedBuiltIn):
        if term.applied_forces or term.bound_arguments:
            raise ValueError("partially applied builtins are not supported")
        return Builtin(term.builtin)
    if isinstance(term, u.Error):
        return Error()
    if isinstance(term, u.Constr):
        return Constr(term.tag, tuple(from_uplc(f, names, scope) for f in term.fields))
    if isinstance(term, u.Case):
        return Case(
            from_uplc(term.scrutinee, names, scope),
            tuple(from_uplc(b, names, scope) for b in term.branches),
        )
    if isinstance(term, u.Constant):
        return Const(term)
    raise ValueError(f"unknown UPLC term {type(term).__name__}")


def to_uplc(term: Term) -> Any:
    if isinstance(term, Var):
        return u.Variable(term.name)
    if isinstance(term, Lam):
        return u.Lambda(term.name, to_uplc(term.body))
    if isinstance(term, App):
        return u.Apply(to_uplc(term.f), to_uplc(term.x))
    if isinstance(term, Force):
        return u.Force(to_uplc(term.t))
    if isinstance(term, Delay):
        return u.Delay(to_uplc(term.t))
    if isinstance(term, Builtin):
        return u.BuiltIn(term.fun)
    if isinstance(term, Error):
        return u.Error()
    if isinstance(term, Constr):
        return u.Constr(term.tag, [to_uplc(f) for f in term.fields])
    if isinstance(term, Case):
        return u.Case(to_uplc(term.scrutinee), [to_uplc(b) for b in term.branches])
    return term.value


# Analyses ---------------------------------------------------------------------------------------


def size(term: Term) -> int:
    if isinstance(term, Lam):
        return 1 + size(term.body)
    if isinstance(term, App):
        return 1 + size(term.f) + size(term.x)
    if isinstance(term, Force | Delay):
        return 1 + size(term.t)
    if isinstance(term, Constr):
        return 1 + sum(size(f) for f in term.fields)
    if isinstance(term, Case):
        return 1 + size(term.scrutinee) + sum(size(b) for b in term.branches)
    return 1


def occurrences(term: Term, counts: Counter[str]) -> Counter[str]:
    """Add every variable occurrence in `term` to `counts`."""
    if isinstance(term, Var):
        counts[term.name] += 1
    elif isinstance(term, Lam):
        occurrences(term.body, counts)
    elif isinstance(term, App):
        occurrences(term.f, counts)
        occurrences(term.x, counts)
    elif isinstance(term, Force | Delay):
        occurrences(term.t, counts)
    elif isinstance(term, Constr):
        for f in term.fields:
            occurrences(f, counts)
    elif isinstance(term, Case):
        occurrences(term.scrutinee, counts)
        for b in term.branches:
            occurrences(b, counts)
    return counts


def forced_builtin(term: Term) -> bool:
    """`(force ... (builtin b))` with no more forces than `b` takes: evaluating it cannot fail."""
    forces = 0
    while isinstance(term, Force):
        term, forces = term.t, forces + 1
    return isinstance(term, Builtin) and forces <= u.BuiltInFunForceMap[term.fun]


def pure(term: Term) -> bool:
    """Evaluating `term` always succeeds, in one step, with no effect."""
    if isinstance(term, Var | Const | Builtin | Lam | Delay):
        return True
    if isinstance(term, Constr):
        return all(pure(f) for f in term.fields)
    return forced_builtin(term)


def strict_occurrence(name: str, term: Term) -> bool:
    """`name` occurs in a position that evaluating `term` always reaches (not under a lambda, a
    delay or a case branch)."""
    if isinstance(term, Var):
        return term.name == name
    if isinstance(term, App):
        return strict_occurrence(name, term.f) or strict_occurrence(name, term.x)
    if isinstance(term, Force):
        return strict_occurrence(name, term.t)
    if isinstance(term, Constr):
        return any(strict_occurrence(name, f) for f in term.fields)
    if isinstance(term, Case):
        return strict_occurrence(name, term.scrutinee)
    return False


def spine(term: Term) -> tuple[Term, list[Term]]:
    """`[h a1 ... an]` -> (h, [a1, ..., an])."""
    args: list[Term] = []
    while isinstance(term, App):
        args.append(term.x)
        term = term.f
    args.reverse()
    return term, args


def unspine(head: Term, args: list[Term]) -> Term:
    for arg in args:
        head = App(head, arg)
    return head


def binders(term: Term, out: set[str]) -> set[str]:
    """Add the name of every lambda in `term` to `out`."""
    if isinstance(term, Lam):
        out.add(term.name)
        binders(term.body, out)
    elif isinstance(term, App):
        binders(term.f, out)
        binders(term.x, out)
    elif isinstance(term, Force | Delay):
        binders(term.t, out)
    elif isinstance(term, Constr):
        for f in term.fields:
            binders(f, out)
    elif isinstance(term, Case):
        binders(term.scrutinee, out)
        for b in term.branches:
            binders(b, out)
    return out


def free_vars(term: Term) -> set[str]:
    return set(occurrences(term, Counter())) - binders(term, set())


def alpha_equal(a: Term, b: Term, env: dict[str, str] | None = None) -> bool:
    """`a` and `b` are the same term up to the names of their own binders."""
    env = env or {}
    if type(a) is not type(b):
        return False
    if isinstance(a, Var):
        assert isinstance(b, Var)
        return env.get(a.name, a.name) == b.name
    if isinstance(a, Lam):
        assert isinstance(b, Lam)
        return alpha_equal(a.body, b.body, {**env, a.name: b.name})
    if isinstance(a, App):
        assert isinstance(b, App)
        return alpha_equal(a.f, b.f, env) and alpha_equal(a.x, b.x, env)
    if isinstance(a, Force | Delay):
        assert isinstance(b, Force | Delay)
        return alpha_equal(a.t, b.t, env)
    if isinstance(a, Constr):
        assert isinstance(b, Constr)
        return (
            a.tag == b.tag
            and len(a.fields) == len(b.fields)
            and all(alpha_equal(x, y, env) for x, y in zip(a.fields, b.fields, strict=True))
        )
    if isinstance(a, Case):
        assert isinstance(b, Case)
        return (
            len(a.branches) == len(b.branches)
            and alpha_equal(a.scrutinee, b.scrutinee, env)
            and all(alpha_equal(x, y, env) for x, y in zip(a.branches, b.branches, strict=True))
        )
    if isinstance(a, Const):
        assert isinstance(b, Const)
        return type(a.value) is type(b.value) and bool(a.value.dumps() == b.value.dumps())
    if isinstance(a, Builtin):
        assert isinstance(b, Builtin)
        return bool(a.fun == b.fun)
    return True  # Error


def _is_bool(term: Term, value: bool) -> bool:
    return (
        isinstance(term, Const)
        and isinstance(term.value, u.BuiltinBool)
        and bool(term.value.value) is value
    )


def _ite(term: Term) -> tuple[Term, Term, Term] | None:
    """`[(force (builtin ifThenElse)) c t e]` -> (c, t, e)."""
    if isinstance(term, App) and isinstance(term.f, App) and isinstance(term.f.f, App):
        head = term.f.f.f
        if (
            isinstance(head, Force)
            and isinstance(head.t, Builtin)
            and head.t.fun == u.BuiltInFun.IfThenElse
        ):
            return term.f.f.x, term.f.x, term.x
    return None


# Call sites of a let-bound function ------------------------------------------------------------


class _Escapes(Exception):
    """The function is used other than by calls with enough arguments."""


def fun_shape(value: Term) -> tuple[bool, list[str], Term]:
    """`(delay (lam p1 ... (lam pn b)))` or `(lam p1 ... (lam pn b))` -> (delayed, [p1..pn], b)."""
    delayed = isinstance(value, Delay)
    term = value.t if isinstance(value, Delay) else value
    params: list[str] = []
    while isinstance(term, Lam):
        params.append(term.name)
        term = term.body
    return delayed, params, term


def _head_is(head: Term, name: str, forces: int) -> bool:
    for _ in range(forces):
        if not isinstance(head, Force):
            return False
        head = head.t
    return isinstance(head, Var) and head.name == name


def call_sites(term: Term, name: str, forces: int, self_arg: bool, n: int) -> list[list[Term]]:
    """The argument lists of every call of `name` in `term`, each with at least `n` arguments:
    `[(force^forces name) a1 ... ak]`, or with `self_arg` the self-application `[name name a1 ...
    ak]` of a recursive closure (the leading `name` is not in the list). Raises `_Escapes` when
    `name` occurs in any other way (passed on, returned, applied to fewer arguments)."""
    sites: list[list[Term]] = []

    def go(t: Term) -> None:
        if isinstance(t, Var):
            if t.name == name:
                raise _Escapes
        elif isinstance(t, App | Force):
            head, args = spine(t)
            if _head_is(head, name, forces):
                if self_arg:
                    if not args or args[0] != Var(name):
                        raise _Escapes
                    args = args[1:]
                if len(args) < n:
                    raise _Escapes
                sites.append(args)
                for arg in args:
                    go(arg)
            elif args:
                go(head)
                for arg in args:
                    go(arg)
            else:
                assert isinstance(t, Force)
                go(t.t)
        elif isinstance(t, Lam):
            go(t.body)
        elif isinstance(t, Delay):
            go(t.t)
        elif isinstance(t, Constr):
            for f in t.fields:
                go(f)
        elif isinstance(t, Case):
            go(t.scrutinee)
            for b in t.branches:
                go(b)

    go(term)
    return sites


def drop_arguments(
    term: Term, name: str, forces: int, self_arg: bool, drop: set[int], new_forces: int
) -> Term:
    """`term` with the arguments at the positions `drop` removed from every call found by
    `call_sites`, and each call's head forced `new_forces` times."""

    def go(t: Term) -> Term:
        if isinstance(t, App | Force):
            head, args = spine(t)
            if _head_is(head, name, forces):
                new_head: Term = Var(name)
                for _ in range(new_forces):
                    new_head = Force(new_head)
                lead = args[:1] if self_arg else []
                rest = args[1:] if self_arg else args
                kept = [go(a) for i, a in enumerate(rest) if i not in drop]
                return unspine(new_head, lead + kept)
            if args:
                return unspine(go(head), [go(a) for a in args])
            assert isinstance(t, Force)
            return Force(go(t.t))
        if isinstance(t, Lam):
            return Lam(t.name, go(t.body))
        if isinstance(t, Delay):
            return Delay(go(t.t))
        if isinstance(t, Constr):
            return Constr(t.tag, tuple(go(f) for f in t.fields))
        if isinstance(t, Case):
            return Case(go(t.scrutinee), tuple(go(b) for b in t.branches))
        return t

    return go(term)


# The rewriter -----------------------------------------------------------------------------------


class Optimiser:
    def __init__(self, names: _Names) -> None:
        self.names = names
        self.counts: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()

    # substitution

    def rename(self, term: Term, scope: dict[str, str]) -> Term:
        """A copy of `term` with its binders renamed fresh (for duplicating a lambda)."""
        if isinstance(term, Var):
            return Var(scope.get(term.name, term.name))
        if isinstance(term, Lam):
            new = self.names.fresh()
            body = self.rename(term.body, {**scope, term.name: new})
            self.counts[new] = occurrences(body, Counter())[new]
            return Lam(new, body)
        if isinstance(term, App):
            return App(self.rename(term.f, scope), self.rename(term.x, scope))
        if isinstance(term, Force):
            return Force(self.rename(term.t, scope))
        if isinstance(term, Delay):
            return Delay(self.rename(term.t, scope))
        if isinstance(term, Constr):
            return Constr(term.tag, tuple(self.rename(f, scope) for f in term.fields))
        if isinstance(term, Case):
            return Case(
                self.rename(term.scrutinee, scope),
                tuple(self.rename(b, scope) for b in term.branches),
            )
        return term

    def substitute(self, term: Term, name: str, value: Term, copy: bool) -> Term:
        if isinstance(term, Var):
            if term.name != name:
                return term
            return self.rename(value, {}) if copy else value
        if isinstance(term, Lam):
            return Lam(term.name, self.substitute(term.body, name, value, copy))
        if isinstance(term, App):
            return App(
                self.substitute(term.f, name, value, copy),
                self.substitute(term.x, name, value, copy),
            )
        if isinstance(term, Force):
            return Force(self.substitute(term.t, name, value, copy))
        if isinstance(term, Delay):
            return Delay(self.substitute(term.t, name, value, copy))
        if isinstance(term, Constr):
            return Constr(
                term.tag, tuple(self.substitute(f, name, value, copy) for f in term.fields)
            )
        if isinstance(term, Case):
            return Case(
                self.substitute(term.scrutinee, name, value, copy),
                tuple(self.substitute(b, name, value, copy) for b in term.branches),
            )
        return term

    # rules

    def beta(self, lam: Lam, value: Term) -> Term | None:
        n = self.counts[lam.name]  # never below the true count (see `run`)
        body = lam.body
        if n == 0 and pure(value):
            self.stats["dead"] += 1
            return body
        if isinstance(value, Var | Builtin) or (n == 1 and pure(value)):
            if n > 1 and isinstance(value, Var):
                self.counts[value.name] += n - 1
            self.stats["beta"] += 1
            return self.substitute(body, lam.name, value, copy=False)
        if n == 1 and strict_occurrence(lam.name, body):
            self.stats["beta"] += 1
            return self.substitute(body, lam.name, value, copy=False)
        if isinstance(value, Lam | Delay) and size(value) <= INLINE_SIZE:
            free = occurrences(value, Counter())
            for var, k in free.items():
                self.counts[var] += k * (n - 1)
            self.stats["inline-small"] += 1
            return self.substitute(body, lam.name, value, copy=True)
        return None

    def specialise(self, let: Lam, value: Term) -> Term | None:
        """`let f = value in body` where `value` is a function that is only ever called, with
        enough arguments: drop the parameters that the function never reads (`drop-param`) and
        bind once, outside the function, those that every call gives the same pure term whose
        free variables are bound outside the let (`specialise`). A self-applied closure (a loop,
        `[f f a1 ... an]` outside and `[s s b1 ... bn]` inside) is handled alike: a parameter that
        the loop only passes on to itself unchanged is dead or invariant."""
        delayed, params, inner = fun_shape(value)
        forces = 1 if delayed else 0
        body = let.body
        loop = not delayed and len(params) >= 2
        if loop:
            n = len(params) - 1
            try:
                outer = call_sites(body, let.name, 0, True, n)
                calls = outer + call_sites(inner, params[0], 0, True, n)
            except _Escapes:
                loop = False
        if not loop:
            n = len(params)
            if n == 0:
                return None
            try:
                outer = calls = call_sites(body, let.name, forces, False, n)
            except _Escapes:
                return None
        if not outer:
            return None
        own = params[1:] if loop else params
        used = occurrences(inner, Counter())
        bound_inside = binders(body, set())
        drop: set[int] = set()
        bind: dict[int, Term] = {}
        blocked: list[set[str]] = []  # arguments that need a let of `body`: see `sink`
        for i, p in enumerate(own):
            args = [c[i] for c in calls]
            passed_on = sum(1 for c in calls[len(outer) :] if c[i] == Var(p))
            if used[p] == passed_on and all(pure(a) for a in args):
                drop.add(i)
                continue
            if passed_on != len(calls) - len(outer):
                continue
            first = outer[0][i]
            if not pure(first) or not all(alpha_equal(first, c[i]) for c in outer[1:]):
                continue
            free = free_vars(first)
            if let.name in free:
                continue
            if free & bound_inside:
                blocked.append(free & bound_inside)
                continue
            drop.add(i)
            bind[i] = first
        if not drop:
            return self.sink(let, value, blocked) if blocked else None
        kept = [p for i, p in enumerate(own) if i not in drop]
        if loop:
            new_inner = drop_arguments(inner, params[0], 0, True, drop, 0)
            fun: Term = new_inner
            for p in reversed(kept):
                fun = Lam(p, fun)
            fun = Lam(params[0], fun)
            new_body = drop_arguments(body, let.name, 0, True, drop, 0)
        else:
            fun = inner
            for p in reversed(kept):
                fun = Lam(p, fun)
            new_forces = forces if kept else 1
            if new_forces:
                fun = Delay(fun)
            new_body = drop_arguments(body, let.name, forces, False, drop, new_forces)
        for i, arg in sorted(bind.items(), reverse=True):
            fun = App(Lam(own[i], fun), arg)
        self.stats["drop-param"] += len(drop) - len(bind)
        self.stats["specialise"] += len(bind)
        return App(Lam(let.name, new_body), fun)

    def sink(self, let: Lam, value: Term, needed: list[set[str]]) -> Term | None:
        """`let f = value in let g = w in rest` -> `let g = w in let f = value in rest`, when `f`
        is always called with the same term, which needs only `g` or later pure lets of the
        chain: then `specialise` can bind it. Both values are pure (a function, and `w`), and `w`
        does not mention `f`, so only the order of two pure evaluations changes."""
        chain: set[str] = set()
        term = let.body
        while isinstance(term, App) and isinstance(term.f, Lam) and pure(term.x):
            chain.add(term.f.name)
            term = term.f.body
        inner = let.body
        if not any(n <= chain for n in needed):
            return None
        if not isinstance(inner, App) or not isinstance(inner.f, Lam):
            return None
        if let.name in occurrences(inner.x, Counter()):
            return None
        self.stats["float"] += 1
        return App(Lam(inner.f.name, App(Lam(let.name, inner.f.body), value)), inner.x)

    def rewrite_app(self, f: Term, x: Term) -> Term:
        if isinstance(f, Lam):
            reduced = self.beta(f, x)
            if reduced is not None:
                return reduced
            if isinstance(x, Lam | Delay):
                specialised = self.specialise(f, x)
                if specialised is not None:
                    return specialised
        if isinstance(f, App) and isinstance(f.f, Lam):
            self.stats["float"] += 1
            return App(Lam(f.f.name, App(f.f.body, x)), f.x)
        if isinstance(x, App) and isinstance(x.f, Lam) and pure(f):
            self.stats["float"] += 1
            return App(Lam(x.f.name, App(f, x.f.body)), x.x)
        term = App(f, x)
        ite = _ite(term)
        if ite is not None:
            cond, then, other = ite
            if _is_bool(cond, True) and pure(other):
                self.stats["if-const"] += 1
                return then
            if _is_bool(cond, False) and pure(then):
                self.stats["if-const"] += 1
                return other
            inner = _ite(cond)
            if (
                inner is not None
                and _is_bool(inner[1], False)
                and _is_bool(inner[2], True)
                and pure(then)
                and pure(other)
            ):
                self.stats["if-const"] += 1
                head = term.f.f.f  # type: ignore[union-attr]
                return App(App(App(head, inner[0]), other), then)
        return term

    def rewrite_force(self, t: Term) -> Term:
        if isinstance(t, Delay):
            self.stats["force-delay"] += 1
            return t.t
        if isinstance(t, App) and isinstance(t.f, Lam):
            self.stats["float"] += 1
            return App(Lam(t.f.name, Force(t.f.body)), t.x)
        return Force(t)

    def simplify(self, term: Term) -> Term:
        """One bottom-up pass."""
        if isinstance(term, Lam):
            return Lam(term.name, self.simplify(term.body))
        if isinstance(term, App):
            return self.rewrite_app(self.simplify(term.f), self.simplify(term.x))
        if isinstance(term, Force):
            return self.rewrite_force(self.simplify(term.t))
        if isinstance(term, Delay):
            return Delay(self.simplify(term.t))
        if isinstance(term, Constr):
            return Constr(term.tag, tuple(self.simplify(f) for f in term.fields))
        if isinstance(term, Case):
            return Case(
                self.simplify(term.scrutinee), tuple(self.simplify(b) for b in term.branches)
            )
        return term

    def run(self, term: Term) -> Term:
        for _ in range(MAX_ROUNDS):
            # Counts are exact at the start of a round; within it, duplication adds to them and
            # removal leaves them high, so a count is never below the truth.
            self.counts = occurrences(term, Counter())
            before = sum(self.stats.values())
            term = self.simplify(term)
            if sum(self.stats.values()) == before:
                break
        return term


# Entry points -----------------------------------------------------------------------------------


def optimise_term(term: Any) -> tuple[Any, dict[str, int]]:
    """uplc term -> (optimised uplc term, rewrite counts)."""

    def go() -> tuple[Any, dict[str, int]]:
        names = _Names()
        opt = Optimiser(names)
        result = opt.run(from_uplc(term, names))
        return to_uplc(result), dict(sorted(opt.stats.items()))

    return _with_big_stack(go)


def optimise_program(program: Any) -> tuple[Any, dict[str, int]]:
    term, stats = optimise_term(program.term)
    return u.Program(program.version, term), stats


def optimise_cbor(script_cbor: bytes) -> tuple[bytes, dict[str, int]]:
    """CBOR(flat) of a compiled program -> (CBOR(flat) of the optimised program, rewrites)."""

    def go() -> tuple[bytes, dict[str, int]]:
        program, stats = optimise_program(unflatten(script_cbor))
        result: bytes = flatten(program)
        return result, stats

    return _with_big_stack(go)
