# paynode registry minting policy: the Masumi V1 `mintUnique` rules (masumi-protocol.md §5.1),
# OpShin, Plutus V3.
#
# Parameter: the escrow contract address (UTF-8 bytes of its bech32), only to make the policy id
# unique per escrow contract. Redeemer: MintAction (0) or BurnAction (1), no fields.
# One asset name under this policy per transaction: MintAction mints exactly 1 of
# blake2b_256(tx id ++ output index as 4 bytes big-endian) of one of the transaction's inputs;
# BurnAction burns exactly 1. No signature or address checks: the holder of the token owns it.
# This file is compiled by OpShin, not imported by Python code.
from opshin.ledger.api_v3 import *
from onchain_builtins import *


def validator(escrow_address: Anything, context: ScriptContext) -> None:
    ctx: Anything = context
    cf = fields(ctx)
    tx = fields(head_list(cf))
    cf = tail_list(cf)
    action = fst_pair(un_constr_data(head_list(cf)))
    script_info = un_constr_data(head_list(tail_list(cf)))
    assert fst_pair(script_info) == 0  # minting only
    policy = head_list(snd_pair(script_info))
    mint = un_map_data(head_list(tail_list(tail_list(tail_list(tail_list(tx))))))
    while not key(head_list(mint)) == policy:
        mint = tail_list(mint)
    minted = un_map_data(snd_pair(head_list(mint)))
    assert null_list(tail_list(minted))  # exactly one asset name
    asset = head_list(minted)
    quantity = un_i_data(snd_pair(asset))
    if action == 0:
        assert quantity == 1
        name = un_b_data(key(asset))
        i = un_list_data(head_list(tx))
        while (
            not blake2b_256(
                append_byte_string(
                    un_b_data(head_list(fields(head_list(fields(head_list(i)))))),
                    integer_to_byte_string(
                        True,
                        4,
                        un_i_data(head_list(tail_list(fields(head_list(fields(head_list(i))))))),
                    ),
                )
            )
            == name
        ):
            i = tail_list(i)
    else:
        assert action == 1
        assert quantity == -1
