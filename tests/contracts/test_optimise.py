"""The UPLC optimiser (contracts/optimise.py): each rewrite on small hand-checked terms, and a
property test: random well-scoped programs evaluate to the same value, or fail alike, before and
after optimisation."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from uplc.tools import eval as uplc_eval
from uplc.tools import parse

from contracts.optimise import optimise_term


def opt(source: str) -> str:
    term, _ = optimise_term(parse(f"(program 1.1.0 {source})").term)
    return str(term.dumps())


def run(term: Any) -> Any:
    return uplc_eval(term).result


def same_behaviour(source: str) -> tuple[Any, Any]:
    original = parse(f"(program 1.1.0 {source})").term
    optimised, _ = optimise_term(original)
    before, after = run(original), run(optimised)
    if isinstance(before, Exception):
        assert isinstance(after, Exception), (source, after)
    else:
        assert not isinstance(after, Exception), (source, after)
        assert before.dumps() == after.dumps(), (source, optimised.dumps())
    return before, after


# ---------------------------------------------------------------------------------------------
# single rewrites


def test_beta_with_a_constant_used_once() -> None:
    assert opt("[(lam x [(builtin iData) x]) (con integer 7)]") == (
        "[(builtin iData) (con integer 7)]"
    )


def test_variables_are_substituted_at_every_use() -> None:
    assert opt("(lam y [(lam x [[(builtin addInteger) x] x]) y])") == (
        "(lam x1 [[(builtin addInteger) x1] x1])"
    )


def test_a_constant_used_twice_stays_bound() -> None:
    source = "[(lam x [[(builtin addInteger) x] x]) (con integer 7)]"
    assert opt(source) == "[(lam x1 [[(builtin addInteger) x1] x1]) (con integer 7)]"


def test_dead_pure_binding_is_dropped() -> None:
    assert opt("[(lam x (con integer 1)) (delay (error))]") == "(con integer 1)"


def test_dead_binding_that_can_fail_is_kept() -> None:
    source = "[(lam x (con integer 1)) [[(builtin divideInteger) (con integer 1)] (con integer 0)]]"
    assert "divideInteger" in opt(source)
    before, _ = same_behaviour(source)
    assert isinstance(before, Exception)


def test_a_term_that_can_fail_is_not_moved_under_a_delay() -> None:
    source = "[(lam x (delay x)) [[(builtin divideInteger) (con integer 1)] (con integer 0)]]"
    assert opt(source).startswith("[(lam x1 (delay x1))")


def test_a_term_used_once_in_strict_position_is_moved() -> None:
    source = (
        "(lam y [(lam x [[(builtin addInteger) (con integer 1)] x]) "
        "[[(builtin divideInteger) (con integer 1)] y]])"
    )
    assert opt(source) == (
        "(lam x1 [[(builtin addInteger) (con integer 1)] "
        "[[(builtin divideInteger) (con integer 1)] x1]])"
    )


def test_a_term_used_twice_is_not_duplicated() -> None:
    source = (
        "(lam y [(lam x [[(builtin addInteger) x] x]) "
        "[[(builtin divideInteger) (con integer 1)] y]])"
    )
    assert opt(source).startswith("(lam x1 [(lam x2 [[(builtin addInteger) x2] x2])")


def test_force_delay() -> None:
    assert opt("(force (delay (con integer 3)))") == "(con integer 3)"


def test_builtin_wrapper_becomes_a_direct_call() -> None:
    # OpShin's shape: a delayed lambda that forces its thunked argument
    source = (
        "(lam d [(lam w [[(builtin addInteger) [(force w) (delay d)]] [(force w) (delay d)]]) "
        "(delay (lam a [(builtin unIData) (force a)]))])"
    )
    assert opt(source) == (
        "(lam x1 [[(builtin addInteger) [(builtin unIData) x1]] [(builtin unIData) x1]])"
    )


def test_float_application_into_let() -> None:
    source = "[[(lam x (lam y [[(builtin addInteger) x] y])) (con integer 1)] (con integer 2)]"
    assert opt(source) == "[[(builtin addInteger) (con integer 1)] (con integer 2)]"


def test_if_then_else_on_a_constant() -> None:
    source = "(lam k [[[(force (builtin ifThenElse)) (con bool True)] k] k])"
    assert opt(source) == "(lam x1 x1)"


def test_if_then_else_on_a_constant_keeps_a_failing_branch() -> None:
    source = (
        "[[[(force (builtin ifThenElse)) (con bool True)] (con integer 1)] "
        "[[(builtin divideInteger) (con integer 1)] (con integer 0)]]"
    )
    assert "divideInteger" in opt(source)


def test_negated_condition_swaps_branches() -> None:
    source = (
        "(lam c (force [[[(force (builtin ifThenElse)) "
        "[[[(force (builtin ifThenElse)) c] (con bool False)] (con bool True)]] "
        "(delay (con integer 1))] (delay (con integer 2))]))"
    )
    assert opt(source) == (
        "(lam x1 (force [[[(force (builtin ifThenElse)) x1] (delay (con integer 2))] "
        "(delay (con integer 1))]))"
    )


def test_error_is_preserved() -> None:
    assert opt("(error)") == "(error)"
    assert opt("(force (delay (error)))") == "(error)"


def test_recursion_is_preserved() -> None:
    # sum 0..n with OpShin's self-application
    source = (
        "[(lam f [[f f] (con integer 10)]) (lam self (lam n (force "
        "[[[(force (builtin ifThenElse)) [[(builtin lessThanEqualsInteger) n] (con integer 0)]] "
        "(delay (con integer 0))] (delay [[(builtin addInteger) n] "
        "[[self self] [[(builtin subtractInteger) n] (con integer 1)]]])])))]"
    )
    before, _ = same_behaviour(source)
    assert before.value == 55


# function parameters (drop-param, specialise, sink): the bodies are too big to inline


def big(h: str, x: str = "x") -> str:
    """An integer term of `x` and `h` (a term), over the inlining size."""
    return (
        f"[[(builtin addInteger) [[(builtin multiplyInteger) {h}] {x}]] "
        f"[[(builtin subtractInteger) {x}] [[(builtin addInteger) {h}] (con integer 3)]]]"
    )


BODY = big("x")
WRAPPED = big("[(force h) (delay x)]")
LOOP = (
    "(lam self (lam n (lam k (lam acc (lam junk (force [[[(force (builtin ifThenElse)) "
    "[[(builtin lessThanEqualsInteger) n] (con integer 0)]] (delay acc)] "
    "(delay [[[[[self self] [[(builtin subtractInteger) n] k]] {k}] "
    "[[(builtin addInteger) acc] n]] {junk}])]))))))"
)


def wrapper(name: str, k: int = 1) -> str:
    """An OpShin-style builtin wrapper: a delayed lambda over a thunk."""
    return f"(delay (lam {name} [[(builtin addInteger) (force {name})] (con integer {k})]))"


def test_an_unused_parameter_is_dropped() -> None:
    source = (
        "[(lam f [[(builtin addInteger) [[f (delay (error))] (con integer 1)]] "
        f"[[f (delay (error))] (con integer 2)]]) (lam u (lam x {BODY}))]"
    )
    assert opt(source).startswith(
        "[(lam x1 [[(builtin addInteger) [x1 (con integer 1)]] [x1 (con integer 2)]]) (lam x3 "
    )
    same_behaviour(source)


def test_an_unused_parameter_given_a_failing_argument_is_kept() -> None:
    source = (
        "[(lam f [[(builtin addInteger) "
        "[[f [[(builtin divideInteger) (con integer 1)] (con integer 0)]] (con integer 1)]] "
        f"[[f (delay (error))] (con integer 2)]]) (lam u (lam x {BODY}))]"
    )
    assert "divideInteger" in opt(source)
    before, _ = same_behaviour(source)
    assert isinstance(before, Exception)


def test_a_function_that_escapes_keeps_its_parameters() -> None:
    # f is also passed to a builtin: its other callers are unknown
    source = (
        "[(lam f [[(builtin addInteger) [[f (delay (error))] (con integer 1)]] "
        '[[[[(force (builtin trace)) (con string "s")] f] (delay (error))] (con integer 2)]]) '
        f"(lam u (lam x {BODY}))]"
    )
    assert opt(source).count("(delay (error))") == 2
    same_behaviour(source)


def test_a_helper_given_at_every_call_is_bound_once_and_inlined() -> None:
    # OpShin passes its helpers at every call; the copies differ only in their binders
    source = (
        f"[(lam f [[(builtin addInteger) [[(force f) {wrapper('a')}] (con integer 1)]] "
        f"[[(force f) {wrapper('b')}] (con integer 2)]]) (delay (lam h (lam x {WRAPPED})))]"
    )
    result = opt(source)
    # no helper parameter, no thunk: the wrapper became a direct addInteger
    assert result.count("(lam ") == 2
    assert "(delay x" not in result
    assert result.startswith(
        "[(lam x1 [[(builtin addInteger) [(force x1) (con integer 1)]] "
        "[(force x1) (con integer 2)]]) (delay (lam x"
    )
    same_behaviour(source)


def test_different_helpers_are_not_specialised() -> None:
    source = (
        f"[(lam f [[(builtin addInteger) [[(force f) {wrapper('a', 1)}] (con integer 1)]] "
        f"[[(force f) {wrapper('b', 2)}] (con integer 2)]]) (delay (lam h (lam x {WRAPPED})))]"
    )
    assert opt(source).count("(delay (lam") == 3
    same_behaviour(source)


def test_an_argument_bound_inside_the_let_is_not_hoisted() -> None:
    # y is bound between the let of f and its calls: it cannot be bound outside f
    source = (
        "[(lam f (lam y [[(builtin addInteger) [[(force f) y] (con integer 1)]] "
        f"[[(force f) y] (con integer 2)]])) (delay (lam h (lam x {WRAPPED})))]"
    )
    result = opt(source)
    assert result.startswith("[(lam x1 (lam x2 [[(builtin addInteger) [[(force x1) x2]")
    same_behaviour(f"[{source} {wrapper('c')}]")


def test_a_let_is_moved_below_the_helper_it_is_given() -> None:
    helper = f"(lam q {big('q', 'q')})"
    source = (
        "[(lam f [(lam g [[(builtin addInteger) [[(force f) g] (con integer 1)]] "
        f"[[(force f) g] (con integer 2)]]) {helper}]) "
        f"(delay (lam h (lam x {big('[h x]')})))]"
    )
    result = opt(source)
    # g is bound first, then f, which no longer takes it
    assert result.startswith(
        "[(lam x2 [(lam x1 [[(builtin addInteger) [(force x1) (con integer 1)]] "
    )
    before, _ = same_behaviour(source)
    assert before.value == -2


def test_a_loop_drops_a_passed_on_parameter_and_binds_an_invariant_one() -> None:
    source = (
        "[(lam loop [[[[[loop loop] (con integer 10)] (con integer 1)] (con integer 0)] "
        f"(delay (error))]) {LOOP.format(k='k', junk='junk')}]"
    )
    result = opt(source)
    assert result.startswith("[(lam x1 [[[x1 x1] (con integer 10)] (con integer 0)])")
    before, _ = same_behaviour(source)
    assert before.value == 55


def test_a_loop_keeps_a_changing_parameter() -> None:
    loop = LOOP.format(k="[[(builtin addInteger) k] (con integer 0)]", junk="(delay acc)")
    source = (
        "[(lam loop [[[[[loop loop] (con integer 10)] (con integer 1)] (con integer 0)] "
        f"(delay (error))]) {loop}]"
    )
    result = opt(source)
    assert result.startswith("[(lam x1 [[[[x1 x1] (con integer 10)] (con integer 1)]")
    before, _ = same_behaviour(source)
    assert before.value == 55


def test_a_loop_keeps_a_failing_argument() -> None:
    source = (
        "[(lam loop [[[[[loop loop] (con integer 10)] (con integer 1)] (con integer 0)] "
        "[[(builtin divideInteger) (con integer 1)] (con integer 0)]]) "
        f"{LOOP.format(k='k', junk='junk')}]"
    )
    assert "divideInteger" in opt(source)
    before, _ = same_behaviour(source)
    assert isinstance(before, Exception)


# ---------------------------------------------------------------------------------------------
# property: random well-scoped programs keep their meaning

INT_OPS = ("addInteger", "subtractInteger", "multiplyInteger") * 3 + ("divideInteger",)


@st.composite
def int_term(
    draw: st.DrawFn, ints: tuple[str, ...] = (), funs: tuple[str, ...] = (), depth: int = 0
) -> str:
    """A UPLC term of type integer (or error) using the integer variables `ints` and the
    integer -> integer functions `funs` (call templates, `@` standing for the argument): local
    lambdas, OpShin-style delayed wrappers, OpShin-style functions given a helper wrapper and an
    unused argument at every call, and self-applied loops with a passed-on and an invariant
    parameter."""
    fresh = f"v{depth}_{draw(st.integers(0, 9))}"
    leaves = ["const"] + (["var"] * 4 if ints else [])
    nodes = ["op", "if", "if", "let", "let", "letfun", "call", "wrap", "force", "helped", "loop"]
    kinds = leaves if depth >= 4 else nodes if depth == 0 else [*leaves, *nodes]
    if depth and draw(st.integers(0, 25)) == 0:
        kinds = ["error"]
    kind = draw(st.sampled_from(kinds))
    sub = lambda i=ints, f=funs: int_term(i, f, depth + 1)  # noqa: E731
    if kind == "const":
        return f"(con integer {draw(st.integers(-3, 3))})"
    if kind == "var":
        return draw(st.sampled_from(ints))
    if kind == "error":
        return "(error)"
    if kind == "op":
        op = draw(st.sampled_from(INT_OPS))
        return f"[[(builtin {op}) {draw(sub())}] {draw(sub())}]"
    if kind == "if":
        test = draw(st.sampled_from(["lessThanInteger", "equalsInteger"]))
        cond = f"[[(builtin {test}) {draw(sub())}] {draw(sub())}]"
        if draw(st.booleans()):
            cond = f"[[[(force (builtin ifThenElse)) {cond}] (con bool False)] (con bool True)]"
        return (
            f"(force [[[(force (builtin ifThenElse)) {cond}] (delay {draw(sub())})] "
            f"(delay {draw(sub())})])"
        )
    if kind == "let":
        # a bound value that may fail: it must still fail the program, wherever it is used
        value = "(error)" if draw(st.integers(0, 5)) == 0 else draw(sub())
        return f"[(lam {fresh} {draw(int_term((*ints, fresh), funs, depth + 1))}) {value}]"
    if kind == "letfun":
        param = fresh + "p"
        body = draw(int_term((*ints, param), funs, depth + 1))
        rest = draw(int_term(ints, (*funs, f"[{fresh} @]"), depth + 1))
        return f"[(lam {fresh} {rest}) (lam {param} {body})]"
    if kind == "helped":
        # (delay (lam helper (lam unused (lam p body)))), called with a helper wrapper (mostly
        # the same one, up to binder names) and an unused argument (that may fail)
        helper, unused, param = f"{fresh}h", f"{fresh}j", f"{fresh}p"
        body = draw(int_term((*ints, param), (*funs, f"[(force {helper}) (delay @)]"), depth + 1))
        op = draw(st.sampled_from(INT_OPS[:3]))
        k = draw(st.integers(0, 1))
        junk = draw(st.sampled_from(["(delay (error))", "(con integer 0)", "(error)"]))
        calls = tuple(
            f"[[[(force {fresh}) (delay (lam {fresh}a [[(builtin {op}) (force {fresh}a)] "
            f"(con integer {c})]))] {junk}] @]"
            for c in (k, k, 1 - k)  # mostly the same helper
        )
        rest = draw(int_term(ints, (*funs, *calls), depth + 1))
        return f"[(lam {fresh} {rest}) (delay (lam {helper} (lam {unused} (lam {param} {body}))))]"
    if kind == "loop":
        # OpShin's while loop: (lam self (lam n (lam k (lam acc (lam junk ...))))) applied to
        # itself; n counts down, k is passed on unchanged, junk is only passed on
        s_, n, k, acc, junk = (f"{fresh}{c}" for c in "snkaj")
        step = draw(int_term((*ints, n, k, acc), funs, depth + 1))
        loop = (
            f"(lam {s_} (lam {n} (lam {k} (lam {acc} (lam {junk} (force "
            f"[[[(force (builtin ifThenElse)) [[(builtin lessThanEqualsInteger) {n}] "
            f"(con integer 0)]] (delay {acc})] (delay [[[[[{s_} {s_}] "
            f"[[(builtin subtractInteger) {n}] (con integer 1)]] {k}] {step}] {junk}])]))))))"
        )
        count = draw(st.integers(0, 3))
        invariant = draw(sub())
        start = draw(sub())
        junk_arg = draw(st.sampled_from(["(delay (error))", "(con integer 0)", "(error)"]))
        return (
            f"[(lam {fresh} [[[[[{fresh} {fresh}] (con integer {count})] {invariant}] {start}] "
            f"{junk_arg}]) {loop}]"
        )
    if kind == "call" and funs:
        return draw(st.sampled_from(funs)).replace("@", draw(sub()))
    if kind == "wrap":
        op = draw(st.sampled_from(INT_OPS))
        a, b, use = f"{fresh}a", f"{fresh}b", f"{fresh}u"
        wrapper = f"(delay (lam {a} (lam {b} [[(builtin {op}) (force {a})] (force {b})])))"
        call = f"[[(force {fresh}) (delay {draw(sub())})] (delay {use})]"
        return f"[(lam {fresh} [(lam {use} {call}) {draw(sub())}]) {wrapper}]"
    if kind == "force":
        return f"(force (delay {draw(sub())}))"
    return draw(sub())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(int_term())
def test_random_programs_keep_their_meaning(source: str) -> None:
    same_behaviour(source)
