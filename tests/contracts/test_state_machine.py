"""Stateful property test: random sequences of escrow actions, signers and times on the devnet,
against a pure Python model of masumi-protocol.md §3.5/§3.6 as the oracle.

Each step picks one of the 7 redeemers, a signer (buyer, seller, two admins, one admin, a
stranger) and a time (now, or just before / just after each deadline and cooldown), builds the
spend the node would build for that action (the continuing datum by the node's conventions, the
tagged outputs for Withdraw), and submits it. The devnet must accept it exactly when the model
allows the transition, and the model's state then follows. A consumed escrow is replaced by a
fresh lock, so a sequence can go on."""

from __future__ import annotations

from dataclasses import dataclass, replace

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pycardano import TransactionInput

from contracts.datums import Action, State
from devnet.errors import LedgerRejection
from tests.contracts.harness import (
    ADMINS,
    BUYER,
    COOLDOWN_MS,
    MINUTE_MS,
    SELLER,
    STRANGER,
    EscrowWorld,
    Wallet,
    blake2b_256,
)

WINDOW_S = 300  # the harness' validity window: [now, now + 300 s]
COOLDOWN_SET_MS = COOLDOWN_MS + 10 * MINUTE_MS  # what the node writes on top of `now`

SIGNERS: dict[str, tuple[Wallet, ...]] = {
    "buyer": (BUYER,),
    "seller": (SELLER,),
    "admins": (ADMINS[0], ADMINS[1]),  # required_admins_multi_sig = 2
    "one-admin": (ADMINS[2],),
    "stranger": (STRANGER,),
}
OWN_SIGNER = {
    Action.WITHDRAW: "seller",
    Action.SET_REFUND_REQUESTED: "buyer",
    Action.UNSET_REFUND_REQUESTED: "buyer",
    Action.WITHDRAW_REFUND: "buyer",
    Action.WITHDRAW_DISPUTED: "admins",
    Action.SUBMIT_RESULT: "seller",
    Action.AUTHORIZE_REFUND: "seller",
}
TIMES = (
    "now",
    "after-seller-cooldown",
    "after-buyer-cooldown",
    "before-submit-result",
    "after-submit-result",
    "before-unlock",
    "after-unlock",
    "before-external-dispute",
    "after-external-dispute",
)


@dataclass(frozen=True)
class Model:
    """What the oracle knows about the escrow UTxO (all times POSIX ms)."""

    state: State
    result: bytes
    seller_cooldown: int
    buyer_cooldown: int
    submit_result_time: int
    unlock_time: int
    external_dispute_unlock_time: int

    def step(self, action: Action, signers: str, start: int, end: int) -> Model | None:
        """The model after `action`, signed by `signers`, with validity [start, end]; None when
        §3.5 forbids it. For a consuming action the model is returned unchanged."""
        has_result = bool(self.result)
        if action == Action.SUBMIT_RESULT:
            ok = (
                signers == "seller"
                and start >= self.seller_cooldown
                and (
                    end < self.submit_result_time
                    or (has_result and end < self.external_dispute_unlock_time)
                )
            )
            new_state = (
                State.RESULT_SUBMITTED
                if self.state in (State.FUNDS_LOCKED, State.RESULT_SUBMITTED)
                else State.DISPUTED
            )
            return (
                replace(
                    self,
                    state=new_state,
                    result=b"r",
                    seller_cooldown=end + COOLDOWN_SET_MS,
                    buyer_cooldown=0,
                )
                if ok
                else None
            )
        if action in (Action.SET_REFUND_REQUESTED, Action.UNSET_REFUND_REQUESTED):
            setting = action == Action.SET_REFUND_REQUESTED
            ok = signers == "buyer" and start >= self.buyer_cooldown
            if setting:
                ok = ok and self.state != State.REFUND_REQUESTED and end < self.unlock_time
                new_state = State.DISPUTED if has_result else State.REFUND_REQUESTED
            else:
                ok = ok and self.state in (State.REFUND_REQUESTED, State.DISPUTED)
                new_state = State.RESULT_SUBMITTED if has_result else State.FUNDS_LOCKED
            return (
                replace(
                    self,
                    state=new_state,
                    buyer_cooldown=end + COOLDOWN_SET_MS,
                    seller_cooldown=0,
                )
                if ok
                else None
            )
        if action == Action.AUTHORIZE_REFUND:
            ok = (
                signers == "seller"
                and self.state == State.DISPUTED
                and start >= self.seller_cooldown
            )
            return (
                replace(
                    self,
                    state=State.REFUND_REQUESTED,
                    result=b"",
                    seller_cooldown=end + COOLDOWN_SET_MS,
                    buyer_cooldown=0,
                )
                if ok
                else None
            )
        # the consuming actions: the caller replaces a consumed escrow with a fresh one
        if action == Action.WITHDRAW_REFUND:
            ok = (
                signers == "buyer"
                and self.state in (State.FUNDS_LOCKED, State.REFUND_REQUESTED)
                and not has_result
                and start >= self.submit_result_time
            )
        elif action == Action.WITHDRAW:
            ok = (
                signers == "seller"
                and self.state == State.RESULT_SUBMITTED
                and has_result
                and start >= self.unlock_time
            )
        else:  # WITHDRAW_DISPUTED
            ok = (
                signers == "admins"
                and self.state == State.DISPUTED
                and has_result
                and start >= self.external_dispute_unlock_time
            )
        return self if ok else None


def node_state(action: Action, state: State, has_result: bool) -> State:
    """The state the node writes into the continuing datum (§3.5 "Result")."""
    if action == Action.SUBMIT_RESULT:
        keeps = state in (State.FUNDS_LOCKED, State.RESULT_SUBMITTED)
        return State.RESULT_SUBMITTED if keeps else State.DISPUTED
    if action == Action.SET_REFUND_REQUESTED:
        return State.DISPUTED if has_result else State.REFUND_REQUESTED
    if action == Action.UNSET_REFUND_REQUESTED:
        return State.RESULT_SUBMITTED if has_result else State.FUNDS_LOCKED
    return State.REFUND_REQUESTED  # AUTHORIZE_REFUND


# the continuing transitions first: hypothesis leans towards earlier choices
ACTIONS = (
    Action.SUBMIT_RESULT,
    Action.SET_REFUND_REQUESTED,
    Action.UNSET_REFUND_REQUESTED,
    Action.AUTHORIZE_REFUND,
    Action.WITHDRAW,
    Action.WITHDRAW_REFUND,
    Action.WITHDRAW_DISPUTED,
)
CONSUMING = (Action.WITHDRAW, Action.WITHDRAW_REFUND, Action.WITHDRAW_DISPUTED)


class EscrowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = EscrowWorld()
        self.steps: list[str] = []
        self.lock()

    def lock(self) -> None:
        self.txin: TransactionInput = self.world.lock()
        datum = self.world.datum_at(self.txin)
        self.model = Model(
            state=State.FUNDS_LOCKED,
            result=b"",
            seller_cooldown=0,
            buyer_cooldown=0,
            submit_result_time=datum.submit_result_time,
            unlock_time=datum.unlock_time,
            external_dispute_unlock_time=datum.external_dispute_unlock_time,
        )

    def target_ms(self, when: str) -> int:
        m, second = self.model, 1_000
        before = WINDOW_S * 1_000 + 60 * second  # the whole window ends a minute before
        return {
            "now": 0,
            "after-seller-cooldown": m.seller_cooldown + second,
            "after-buyer-cooldown": m.buyer_cooldown + second,
            "before-submit-result": m.submit_result_time - before,
            "after-submit-result": m.submit_result_time + second,
            "before-unlock": m.unlock_time - before,
            "after-unlock": m.unlock_time + second,
            "before-external-dispute": m.external_dispute_unlock_time - before,
            "after-external-dispute": m.external_dispute_unlock_time + second,
        }[when]

    @rule(
        action=st.sampled_from(ACTIONS),
        # half of the time the action's own signer, so allowed transitions are common
        signers=st.one_of(st.just("own"), st.sampled_from(list(SIGNERS))),
        # mostly times that keep the escrow alive: the clock only moves forward
        when=st.sampled_from(TIMES[:3] * 3 + TIMES),
    )
    def act(self, action: Action, signers: str, when: str) -> None:
        if signers == "own":
            signers = OWN_SIGNER[action]
        w = self.world
        w.advance_to(self.target_ms(when))
        validity = w.window()
        start, end = w.ms(validity[0]), w.ms(validity[1])
        expected = self.model.step(action, signers, start, end)
        self.steps.append(f"{action.name} by {signers} at {when}: expect {expected is not None}")
        event(f"{action.name} {'allowed' if expected is not None else 'forbidden'}")

        old = w.datum_at(self.txin)
        kwargs: dict[str, object] = {}
        if action not in CONSUMING:
            # the continuing datum as the node writes it for this action
            new_state = node_state(action, self.model.state, bool(self.model.result))
            if action == Action.SUBMIT_RESULT:
                new = old.replace(
                    result_hash=blake2b_256(b"result" + bytes(self.txin.transaction_id.payload)),
                    seller_cooldown_time=end + COOLDOWN_SET_MS,
                    buyer_cooldown_time=0,
                    state=new_state,
                )
            elif action == Action.AUTHORIZE_REFUND:
                new = old.replace(
                    result_hash=b"",
                    seller_cooldown_time=end + COOLDOWN_SET_MS,
                    buyer_cooldown_time=0,
                    state=new_state,
                )
            else:
                new = old.replace(
                    buyer_cooldown_time=end + COOLDOWN_SET_MS,
                    seller_cooldown_time=0,
                    state=new_state,
                )
            kwargs["new_datum"] = new
        elif action == Action.WITHDRAW:
            kwargs["outputs"] = w.withdraw_outputs(self.txin)

        who = SIGNERS[signers]
        try:
            spend = w.spend(
                self.txin, action, who[0], required_signers=who, validity=validity, **kwargs
            )
        except LedgerRejection as rejection:
            assert rejection.rule == "phase2", rejection
            assert expected is None, f"rejected a transition §3.6 allows: {self.steps}"
            return
        assert expected is not None, f"accepted a transition §3.6 forbids: {self.steps}"
        if action in CONSUMING:
            self.lock()
            return
        self.txin = TransactionInput(spend.tx.id, 0)
        self.model = replace(expected, result=w.datum_at(self.txin).result)

    @invariant()
    def datum_follows_the_model(self) -> None:
        datum = self.world.datum_at(self.txin)
        assert datum.current_state == self.model.state
        assert datum.result == self.model.result
        assert datum.seller_cooldown_time == self.model.seller_cooldown
        assert datum.buyer_cooldown_time == self.model.buyer_cooldown


EscrowMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestEscrowStateMachine = EscrowMachine.TestCase
