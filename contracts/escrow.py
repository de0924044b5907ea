# paynode escrow validator: the Masumi V1 escrow rules (masumi-protocol.md §3), OpShin, Plutus V3.
#
# Parameters, applied in this order as Plutus data (UPLC application, see contracts/params.py):
#   required_admins_multi_sig: Int, admin_vks: List<ByteArray>, fee_address: Address,
#   fee_permille: Int, cooldown_period: Int (ms).
# Datum: contracts/datums.py (`EscrowDatum`, 16 fields); redeemer: constructor 0..6, no fields.
#
# Written against the raw data builtins (every value stays `Data`, lists are walked once) because
# OpShin's typed access copies lists and re-walks a record for every field; see ADR 0006.
# This file is compiled by OpShin, not imported by Python code.
from opshin.ledger.api_v3 import *
from onchain_builtins import *


def lovelace(value_pairs: Anything) -> int:
    # the ledger puts the ADA entry first in every Value
    return un_i_data(snd_pair(head_list(un_map_data(snd_pair(head_list(value_pairs))))))


def key_of(address: Anything) -> Anything:
    # payment credential must be a key hash: Constr 0 [vkh]
    credential = un_constr_data(head_list(fields(address)))
    assert fst_pair(credential) == 0
    return head_list(snd_pair(credential))


def require_signer(signatories: Anything, key: Anything) -> None:
    # runs off the end of the list (and fails) when the key is absent
    s = signatories
    while not head_list(s) == key:
        s = tail_list(s)


def asset_quantity(value: Anything, policy: Anything, name: Anything) -> int:
    result = 0
    pairs = un_map_data(value)
    while not null_list(pairs):
        entry = head_list(pairs)
        if key(entry) == policy:
            assets = un_map_data(snd_pair(entry))
            while not null_list(assets):
                asset = head_list(assets)
                if key(asset) == name:
                    result = un_i_data(snd_pair(asset))
                    assets = tail_list(assets)
                    while not null_list(assets):
                        assets = tail_list(assets)
                else:
                    assets = tail_list(assets)
            pairs = tail_list(pairs)
            while not null_list(pairs):
                pairs = tail_list(pairs)
        else:
            pairs = tail_list(pairs)
    return result


def continuing_datum(outputs: Anything, own_address: Anything, own_value: Anything) -> Anything:
    """The inline datum of the one output back to the script address, whose value keeps the native
    tokens exactly and the lovelace or more, and which carries no reference script."""
    found = 0
    o = outputs
    cont = o
    while not null_list(o):
        of = fields(head_list(o))
        if head_list(of) == own_address:
            found += 1
            cont = of
        o = tail_list(o)
    assert found == 1
    rest = tail_list(cont)
    new_value = un_map_data(head_list(rest))
    old_value = un_map_data(own_value)
    assert map_data(tail_list(new_value)) == map_data(tail_list(old_value))
    assert lovelace(new_value) >= lovelace(old_value)
    rest = tail_list(rest)
    assert fst_pair(un_constr_data(head_list(tail_list(rest)))) == 1
    inline = un_constr_data(head_list(rest))
    assert fst_pair(inline) == 2
    return head_list(snd_pair(inline))


def check_script_outputs(outputs: Anything, own_address: Anything) -> None:
    """At most one output back to the script address, without a reference script."""
    found = 0
    o = outputs
    while not null_list(o):
        of = fields(head_list(o))
        if head_list(of) == own_address:
            found += 1
            assert fst_pair(un_constr_data(head_list(tail_list(tail_list(tail_list(of)))))) == 1
        o = tail_list(o)
    assert found <= 1


def check_new_datum(
    new_datum: Anything,
    f0: Anything,
    f1: Anything,
    f2: Anything,
    f3: Anything,
    f4: Anything,
    f5: Anything,
    f6: Anything,
    f7: Anything,
    x8: Anything,
    f9: Anything,
    f10: Anything,
    f11: Anything,
    f12: Anything,
    x13: Anything,
    x14: Anything,
    new_state: int,
    nil: Anything,
) -> None:
    """Every field of the new datum is the old one, but for 8, 13, 14 and the state: one
    comparison against the expected field list."""
    new_fields = un_constr_data(new_datum)
    assert fst_pair(new_fields) == 0
    no_fields: List[Anything] = []
    expected = mk_cons(
        f0,
        mk_cons(
            f1,
            mk_cons(
                f2,
                mk_cons(
                    f3,
                    mk_cons(
                        f4,
                        mk_cons(
                            f5,
                            mk_cons(
                                f6,
                                mk_cons(
                                    f7,
                                    mk_cons(
                                        x8,
                                        mk_cons(
                                            f9,
                                            mk_cons(
                                                f10,
                                                mk_cons(
                                                    f11,
                                                    mk_cons(
                                                        f12,
                                                        mk_cons(
                                                            x13,
                                                            mk_cons(
                                                                x14,
                                                                mk_cons(
                                                                    constr_data(
                                                                        new_state, no_fields
                                                                    ),
                                                                    nil,
                                                                ),
                                                            ),
                                                        ),
                                                    ),
                                                ),
                                            ),
                                        ),
                                    ),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        ),
    )
    assert list_data(snd_pair(new_fields)) == list_data(expected)


def validator(
    required_admins_multi_sig: Anything,
    admin_vks: Anything,
    fee_address: Anything,
    fee_permille: Anything,
    cooldown_period: Anything,
    context: ScriptContext,
) -> None:
    ctx: Anything = context
    cf = fields(ctx)
    tx = fields(head_list(cf))
    cf = tail_list(cf)
    action = fst_pair(un_constr_data(head_list(cf)))
    script_info = un_constr_data(head_list(tail_list(cf)))
    assert fst_pair(script_info) == 1  # spending only
    info = snd_pair(script_info)
    own_ref = head_list(info)
    datum = head_list(fields(head_list(tail_list(info))))  # Just datum; Nothing fails here

    inputs = un_list_data(head_list(tx))
    t = tail_list(tail_list(tx))
    outputs = un_list_data(head_list(t))
    t = tail_list(tail_list(tail_list(tail_list(tail_list(t)))))
    validity = fields(head_list(t))
    signatories = un_list_data(head_list(tail_list(t)))
    lower = un_constr_data(head_list(fields(head_list(validity))))
    upper = un_constr_data(head_list(fields(head_list(tail_list(validity)))))
    assert fst_pair(lower) == 1
    assert fst_pair(upper) == 1
    start = un_i_data(head_list(snd_pair(lower)))
    now = un_i_data(head_list(snd_pair(upper)))

    # the spent input, and no other input from the script address
    i = inputs
    while not head_list(fields(head_list(i))) == own_ref:
        i = tail_list(i)
    own_out = fields(head_list(tail_list(fields(head_list(i)))))
    own_address = head_list(own_out)
    own_value = head_list(tail_list(own_out))
    n_inputs = 0
    i = inputs
    while not null_list(i):
        if head_list(fields(head_list(tail_list(fields(head_list(i)))))) == own_address:
            n_inputs += 1
        i = tail_list(i)
    assert n_inputs == 1

    # the datum, field by field, in one walk
    f = fields(datum)
    buyer = head_list(f)
    f = tail_list(f)
    seller = head_list(f)
    f = tail_list(f)
    reference_key = head_list(f)
    f = tail_list(f)
    reference_signature = head_list(f)
    f = tail_list(f)
    seller_nonce = head_list(f)
    f = tail_list(f)
    buyer_nonce = head_list(f)
    f = tail_list(f)
    collateral_return_lovelace = head_list(f)
    f = tail_list(f)
    input_hash = head_list(f)
    f = tail_list(f)
    result_hash = head_list(f)
    f = tail_list(f)
    pay_by_time = head_list(f)
    f = tail_list(f)
    submit_result_time = head_list(f)
    f = tail_list(f)
    unlock_time = head_list(f)
    f = tail_list(f)
    external_dispute_unlock_time = head_list(f)
    f = tail_list(f)
    seller_cooldown_time = head_list(f)
    f = tail_list(f)
    buyer_cooldown_time = head_list(f)
    state = fst_pair(un_constr_data(head_list(tail_list(f))))
    has_result = len(un_b_data(result_hash)) > 0

    if action == 5:
        # SubmitResult: seller, any state
        require_signer(signatories, key_of(seller))
        assert un_i_data(seller_cooldown_time) <= start
        assert now < un_i_data(submit_result_time) or (
            has_result and now < un_i_data(external_dispute_unlock_time)
        )
        new_datum = continuing_datum(outputs, own_address, own_value)
        nf = fields(new_datum)
        nf = tail_list(
            tail_list(tail_list(tail_list(tail_list(tail_list(tail_list(tail_list(nf)))))))
        )
        new_result = head_list(nf)
        new_seller_cooldown = head_list(tail_list(tail_list(tail_list(tail_list(tail_list(nf))))))
        assert len(un_b_data(new_result)) > 0
        assert un_i_data(new_seller_cooldown) >= now + un_i_data(cooldown_period)
        new_state = 1 if state < 2 else 3
        x8 = new_result
        x13 = new_seller_cooldown
        x14 = i_data(0)
        check_new_datum(
            new_datum,
            buyer,
            seller,
            reference_key,
            reference_signature,
            seller_nonce,
            buyer_nonce,
            collateral_return_lovelace,
            input_hash,
            x8,
            pay_by_time,
            submit_result_time,
            unlock_time,
            external_dispute_unlock_time,
            x13,
            x14,
            new_state,
            tail_list(tail_list(fields(own_ref))),
        )
    elif action == 1 or action == 2:
        # SetRefundRequested (1) / UnSetRefundRequested (2): buyer
        require_signer(signatories, key_of(buyer))
        assert un_i_data(buyer_cooldown_time) <= start
        if action == 1:
            assert state != 2
            assert now < un_i_data(unlock_time)
        else:
            assert state >= 2
        new_state = (3 if has_result else 2) if action == 1 else (1 if has_result else 0)
        new_datum = continuing_datum(outputs, own_address, own_value)
        nf = fields(new_datum)
        new_buyer_cooldown = head_list(
            tail_list(
                tail_list(
                    tail_list(
                        tail_list(
                            tail_list(
                                tail_list(
                                    tail_list(
                                        tail_list(
                                            tail_list(
                                                tail_list(
                                                    tail_list(tail_list(tail_list(tail_list(nf))))
                                                )
                                            )
                                        )
                                    )
                                )
                            )
                        )
                    )
                )
            )
        )
        assert un_i_data(new_buyer_cooldown) >= now + un_i_data(cooldown_period)
        x8 = result_hash
        x13 = i_data(0)
        x14 = new_buyer_cooldown
        check_new_datum(
            new_datum,
            buyer,
            seller,
            reference_key,
            reference_signature,
            seller_nonce,
            buyer_nonce,
            collateral_return_lovelace,
            input_hash,
            x8,
            pay_by_time,
            submit_result_time,
            unlock_time,
            external_dispute_unlock_time,
            x13,
            x14,
            new_state,
            tail_list(tail_list(fields(own_ref))),
        )
    elif action == 6:
        # AuthorizeRefund: seller, Disputed -> RefundRequested, result cleared
        require_signer(signatories, key_of(seller))
        assert state == 3
        assert un_i_data(seller_cooldown_time) <= start
        new_datum = continuing_datum(outputs, own_address, own_value)
        nf = fields(new_datum)
        new_seller_cooldown = head_list(
            tail_list(
                tail_list(
                    tail_list(
                        tail_list(
                            tail_list(
                                tail_list(
                                    tail_list(
                                        tail_list(
                                            tail_list(
                                                tail_list(tail_list(tail_list(tail_list(nf))))
                                            )
                                        )
                                    )
                                )
                            )
                        )
                    )
                )
            )
        )
        assert un_i_data(new_seller_cooldown) >= now + un_i_data(cooldown_period)
        new_state = 2
        x8 = b_data(b"")
        x13 = new_seller_cooldown
        x14 = i_data(0)
        check_new_datum(
            new_datum,
            buyer,
            seller,
            reference_key,
            reference_signature,
            seller_nonce,
            buyer_nonce,
            collateral_return_lovelace,
            input_hash,
            x8,
            pay_by_time,
            submit_result_time,
            unlock_time,
            external_dispute_unlock_time,
            x13,
            x14,
            new_state,
            tail_list(tail_list(fields(own_ref))),
        )
    else:
        check_script_outputs(outputs, own_address)
        if action == 3:
            # WithdrawRefund: buyer, FundsLocked or RefundRequested, no result
            require_signer(signatories, key_of(buyer))
            assert state == 0 or state == 2
            assert not has_result
            assert un_i_data(submit_result_time) <= start
        elif action == 0:
            # Withdraw: seller, ResultSubmitted, after unlock_time; fee and collateral return
            require_signer(signatories, key_of(seller))
            assert state == 1
            assert has_result
            assert un_i_data(unlock_time) <= start
            nil = tail_list(tail_list(fields(own_ref)))
            tag = constr_data(2, [own_ref])
            buyer_lovelace = 0
            fee_values = nil
            o = outputs
            while not null_list(o):
                of = fields(head_list(o))
                address = head_list(of)
                rest = tail_list(of)
                if head_list(tail_list(rest)) == tag:
                    if address == fee_address:
                        fee_values = mk_cons(head_list(rest), fee_values)
                    if address == buyer:
                        buyer_lovelace += lovelace(un_map_data(head_list(rest)))
                o = tail_list(o)
            assert buyer_lovelace >= un_i_data(collateral_return_lovelace)
            permille = un_i_data(fee_permille)
            pairs = un_map_data(own_value)
            while not null_list(pairs):
                entry = head_list(pairs)
                policy = key(entry)
                assets = un_map_data(snd_pair(entry))
                while not null_list(assets):
                    asset = head_list(assets)
                    due = un_i_data(snd_pair(asset)) * permille // 1000
                    if due > 0:
                        paid = 0
                        v = fee_values
                        while not null_list(v):
                            paid += asset_quantity(head_list(v), policy, key(asset))
                            v = tail_list(v)
                        assert paid >= due
                    assets = tail_list(assets)
                pairs = tail_list(pairs)
        elif action == 4:
            # WithdrawDisputed: admins, Disputed, after external_dispute_unlock_time
            assert state == 3
            assert has_result
            assert un_i_data(external_dispute_unlock_time) <= start
            required = un_i_data(required_admins_multi_sig)
            assert required > 0
            present = 0
            a = un_list_data(admin_vks)
            while not null_list(a):
                admin = head_list(a)
                s = signatories
                while not null_list(s):
                    if head_list(s) == admin:
                        present += 1
                        s = tail_list(s)
                        while not null_list(s):
                            s = tail_list(s)
                    else:
                        s = tail_list(s)
                a = tail_list(a)
            assert present >= required
        else:
            assert False
