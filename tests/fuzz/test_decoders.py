"""Hypothesis over every decoder of bytes or text that come from outside (issue #10): transaction
CBOR, escrow datums and redeemers, registry metadata, agent identifiers, blockchainIdentifiers,
pricing documents, MIP-003 input data, webhook signatures, agents' /start_job answers.

Inputs: arbitrary bytes, text and JSON; and valid examples mutated (bits flipped, truncated,
extended, a node of the decoded CBOR or JSON replaced by a value of another type). Property: the
decoder returns a value or raises its documented clean error, never another exception, and never
hangs (a deadline per example). Where the node relies on a broad catch in production (the sync
meeting a stranger's datum at the escrow address), that level is tested too.

The quick run stays within a few tens of seconds; `soak` runs the same properties with more
examples.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycardano import (
    Address,
    ExecutionUnits,
    MultiAsset,
    Network,
    PaymentVerificationKey,
    Redeemer,
    RedeemerTag,
    ScriptHash,
    Transaction,
    TransactionBody,
    TransactionId,
    TransactionInput,
    TransactionOutput,
    TransactionWitnessSet,
    Value,
    VerificationKeyHash,
    VerificationKeyWitness,
)
from pydantic import ValidationError

from contracts.datums import (
    EscrowDatum,
    NoStake,
    PlutusAddress,
    PubKeyCredential,
    SomeStake,
    StakeInline,
    Withdraw,
)
from node.chain.port import AddressTx, TxIo, TxUtxos
from node.jobs.schemas import InputField
from node.jobs.validate import InputError, check_input
from node.payments.identifier import (
    IdentifierError,
    blockchain_identifier_from_datum,
    decode_blockchain_identifier,
    encode_blockchain_identifier,
)
from node.pricing.agentic import AgenticPricing, from_agentic, to_agentic
from node.pricing.assmbl import BillingPricingPayload, from_assmbl, to_assmbl
from node.pricing.mapping import parse_json
from node.pricing.seren import UpdatePricingRequest, from_seren, to_seren
from node.purchases.offers import StartJobAnswer
from node.sync.classify import TxFacts, classify
from node.sync.decode import CborFacts, DecodeError, escrow_datum, read_cbor
from node.sync.models import TxKind
from node.webhooks.signing import sign, verify_signature
from registry import metadata as mip002
from registry.cip25 import MetadataError, chunk_strings, join_chunks
from registry.identifiers import AgentIdentifier
from tests.node.pricing.test_adapters import AGENTIC

QUICK = 60
SOAK = 250


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,  # the same examples on every run (CI repeatability)
        database=None,
        deadline=timedelta(seconds=2),  # a decoder that hangs fails the example
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def both(examples: int = QUICK) -> Callable[[Callable[..., None]], Any]:
    """A property run quick in every test run, and deep under the soak marker (`depth` is the
    parametrised example count)."""

    def decorate(test: Callable[..., None]) -> Any:
        return pytest.mark.parametrize(
            "depth",
            [
                pytest.param(examples, id="quick"),
                pytest.param(SOAK, id="soak", marks=pytest.mark.soak),
            ],
        )(test)

    return decorate


# --- valid examples ----------------------------------------------------------------------------

BUYER = PlutusAddress(PubKeyCredential(b"\x01" * 28), NoStake())
SELLER = PlutusAddress(
    PubKeyCredential(b"\x02" * 28), SomeStake(StakeInline(PubKeyCredential(b"\x09" * 28)))
)
DATUM = EscrowDatum.make(
    buyer=BUYER,
    seller=SELLER,
    reference_key=b"\x03" * 32,
    reference_signature=b"\x04" * 64,
    seller_nonce=bytes(range(32)) + b"\x05" * 60,
    buyer_nonce=b"\x06" * 13,
    collateral_return_lovelace=0,
    input_hash=b"\x07" * 32,
    pay_by_time=1_700_000_000_000,
    submit_result_time=1_700_000_100_000,
    unlock_time=1_700_000_200_000,
    external_dispute_unlock_time=1_700_000_300_000,
)
DATUM_CBOR: bytes = DATUM.to_cbor()
ESCROW = str(Address(ScriptHash(b"\x0a" * 28), network=Network.TESTNET))
PAYER = Address(VerificationKeyHash(b"\x01" * 28), network=Network.TESTNET)
TX_HASH = "ab" * 32


def _transaction() -> bytes:
    """A lock-shaped transaction: an escrow output with the datum and tokens, a change output,
    a vkey witness and a spend redeemer (legacy list form)."""
    tokens = MultiAsset.from_primitive({b"\x0d" * 28: {b"USDM": 10_000_000}})
    body = TransactionBody(
        inputs=[
            TransactionInput(TransactionId(b"\x0b" * 32), 0),
            TransactionInput(TransactionId(b"\x0c" * 32), 1),
        ],
        outputs=[
            TransactionOutput(
                Address.from_primitive(ESCROW), Value(5_000_000, tokens), datum=DATUM
            ),
            TransactionOutput(PAYER, 2_000_000),
        ],
        fee=200_000,
    )
    redeemer = Redeemer(Withdraw(), ExecutionUnits(1_000, 2_000))
    redeemer.tag = RedeemerTag.SPEND
    redeemer.index = 0
    witness = VerificationKeyWitness(PaymentVerificationKey(b"\x0e" * 32), b"\x0f" * 64)
    witnesses = TransactionWitnessSet(vkey_witnesses=[witness], redeemer=[redeemer])
    raw: bytes = Transaction(body, witnesses).to_cbor()
    return raw


TX_CBOR = _transaction()


def _conway_redeemers(raw: bytes) -> bytes:
    """The same transaction with its redeemers as a Conway map {(tag, index): [data, units]}."""
    body, witnesses, valid, aux = cbor2.loads(raw)
    entries = witnesses[5]
    witnesses[5] = {(e[0], e[1]): [e[2], e[3]] for e in entries}
    encoded: bytes = cbor2.dumps([body, witnesses, valid, aux])
    return encoded


TX_CBOR_CONWAY = _conway_redeemers(TX_CBOR)
IDENTIFIER = encode_blockchain_identifier(
    (bytes(range(32)) + b"\x05" * 60).hex(), "06" * 13, "04" * 64, "03" * 32
)
AGENT_ID = "aa" * 28 + "bb" * 32

# seed 003 (agentic), 000 (assmbl) and seren's documents, as tests/node/pricing writes them
ASSMBL = {
    "pricing_model": "token_based",
    "currency": "USD",
    "enabled": True,
    "base_price": 0.01,
    "token_price_input": 0.10,
    "token_price_output": 0.30,
    "free_quota": 100,
    "minimum_charge": 0.005,
    "listing_summary": "LLM inference agent",
    "support_url": "https://example.com/support",
}
SEREN = {
    "asset_symbol": "USDM",
    "price_per_call": "0.0010",
    "markup_multiplier": "1.25",
    "min_charge": "0.001",
    "payment_expiry_minutes": 30,
    "pricing_model": "per_call",
}
METADATA = {
    "name": "Fuzz agent",
    "description": "An agent whose metadata is mutated",
    "api_base_url": "https://agent.example.com",
    "example_output": [{"name": "out", "mime_type": "text/plain", "url": "https://e.example/o"}],
    "capability": {"name": "fuzz", "version": "1.0.0"},
    "author": {"name": "Ada", "contact_email": "ada@example.com"},
    "legal": {"terms": "https://example.com/terms"},
    "tags": ["fuzz", "test"],
    "image": "https://example.com/image.png",
    "agentPricing": {
        "pricingType": "Fixed",
        "fixedPricing": [{"unit": "lovelace", "amount": "5000000"}],
    },
    "metadata_version": 1,
}
START_JOB = {
    "id": "job-1",
    "blockchainIdentifier": IDENTIFIER,
    "payByTime": 1_700_000_000_000,
    "submitResultTime": 1_700_000_100_000,
    "unlockTime": 1_700_000_200_000,
    "externalDisputeUnlockTime": 1_700_000_300_000,
    "agentIdentifier": AGENT_ID,
    "sellerVKey": "02" * 28,
    "identifierFromPurchaser": "06" * 13,
    "input_hash": "07" * 32,
}

# --- strategies --------------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)
CBOR_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.binary(max_size=70)
    | st.text(max_size=70)
    | st.floats()
)
cbor_values = st.recursive(
    CBOR_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.integers(0, 6) | st.binary(max_size=4) | st.text(max_size=4), inner, max_size=4
        )
        | st.builds(
            cbor2.CBORTag, st.sampled_from([24, 102, 121, 122, 127, 258, 1280, 1400, 7]), inner
        )
    ),
    max_leaves=20,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every node of a decoded CBOR/JSON tree, as the keys leading to it."""
    found = [path]
    if isinstance(value, cbor2.CBORTag):
        found += _paths(value.value, (*path, "tag-value"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, cbor2.CBORTag):
        return cbor2.CBORTag(value.tag, _replace(value.value, rest, new))
    if isinstance(value, list):
        copy = list(value)
        copy[head] = _replace(copy[head], rest, new)
        return copy
    copy_map = dict(value)
    copy_map[head] = _replace(copy_map[head], rest, new)
    return copy_map


@st.composite
def mutated_tree(draw: st.DrawFn, tree: Any, replacements: st.SearchStrategy[Any]) -> Any:
    """`tree` with one to three nodes replaced by drawn values (another type, a list cut short,
    a map with a key gone)."""
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(tree)
        path = draw(st.sampled_from(paths))
        current = tree
        for key in path:
            current = current.value if isinstance(current, cbor2.CBORTag) else current[key]
        choices = [replacements]
        if isinstance(current, list) and current:
            choices.append(st.just(current[: draw(st.integers(0, len(current) - 1))]))
        if isinstance(current, dict) and current:
            gone = draw(st.sampled_from(list(current)))
            choices.append(st.just({k: v for k, v in current.items() if k != gone}))
        tree = _replace(tree, path, draw(st.one_of(*choices)))
    return tree


@st.composite
def mutated_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    """Bits flipped, cut short, extended or spliced."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "truncate", "extend", "splice"]))
        if how == "flip" and data:
            index = draw(st.integers(0, len(data) - 1))
            data[index] ^= 1 << draw(st.integers(0, 7))
        elif how == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        elif how == "extend":
            data += draw(st.binary(min_size=1, max_size=16))
        elif data:
            start = draw(st.integers(0, len(data) - 1))
            data[start : start + draw(st.integers(0, 8))] = draw(st.binary(max_size=8))
    return bytes(data)


def cbor_mutations(raw: bytes) -> st.SearchStrategy[bytes]:
    tree = cbor2.loads(raw)
    structural = mutated_tree(tree, cbor_values).map(cbor2.dumps)
    return st.one_of(mutated_bytes(raw), structural, st.binary(max_size=300))


def json_mutations(document: Any) -> st.SearchStrategy[Any]:
    return st.one_of(mutated_tree(document, json_values), json_values)


# --- transaction CBOR (node/sync/decode.py) ----------------------------------------------------


def test_the_valid_examples_decode() -> None:
    """The seeds the mutations start from are what the decoders accept."""
    for raw in (TX_CBOR, TX_CBOR_CONWAY):
        facts = read_cbor(raw, TX_HASH)
        assert facts.fee == 200_000 and facts.spend_redeemers == {0: 0}
        assert facts.outputs[0].address == ESCROW
        assert escrow_datum(facts.outputs[0].inline_datum) == DATUM
    assert decode_blockchain_identifier(IDENTIFIER).request_id == bytes(range(32)).hex()
    assert blockchain_identifier_from_datum(DATUM) == IDENTIFIER
    assert mip002.decode(METADATA).valid, mip002.decode(METADATA).violations
    assert StartJobAnswer.model_validate(START_JOB).agent_identifier == AGENT_ID


def _read_cbor_cleanly(raw: bytes) -> CborFacts | None:
    try:
        return read_cbor(raw, TX_HASH)
    except DecodeError:
        return None


@both()
def test_read_cbor_returns_facts_or_decode_error(depth: int) -> None:
    @fuzz_settings(depth)
    @given(raw=st.one_of(cbor_mutations(TX_CBOR), cbor_mutations(TX_CBOR_CONWAY)))
    def run(raw: bytes) -> None:
        facts = _read_cbor_cleanly(raw)
        if facts is not None:
            assert isinstance(facts.fee, int) and isinstance(facts.is_valid, bool)
            assert all(isinstance(a, int) for o in facts.outputs for a in o.amount.values())

    run()


# --- escrow datums and the sync's classification (node/sync/decode.py, classify.py) ------------


@both()
def test_escrow_datum_is_the_datum_or_none(depth: int) -> None:
    @fuzz_settings(depth)
    @given(raw=cbor_mutations(DATUM_CBOR))
    def run(raw: bytes) -> None:
        datum = escrow_datum(raw.hex())
        assert datum is None or isinstance(datum, EscrowDatum)
        if datum is not None:  # what the sync reads of a datum must be readable
            assert datum.current_state in range(4)
            assert isinstance(datum.result, bytes)
            blockchain_identifier_from_datum(datum)

    run()


def _facts(outputs: list[TxIo], inputs: list[TxIo], redeemers: dict[int, int]) -> TxFacts:
    cbor = CborFacts(
        fee=200_000,
        is_valid=True,
        inputs=sorted((i.tx_hash, i.output_index) for i in inputs),
        spend_redeemers=redeemers,
        signers=frozenset({"01" * 28}),
        outputs=tuple(outputs),
    )
    entry = AddressTx(TX_HASH, 0, 10, 1_600_000_000_000)
    return TxFacts(entry, TxUtxos(TX_HASH, inputs, outputs), cbor, ESCROW, 0)


def _escrow_io(datum_hex: str, index: int, tx_hash: str = TX_HASH) -> TxIo:
    return TxIo(ESCROW, {"lovelace": 5_000_000}, tx_hash, index, inline_datum=datum_hex)


@both()
def test_a_strangers_datum_at_the_escrow_is_classified_not_a_crash(depth: int) -> None:
    """A lock whose escrow output carries garbage is Foreign; spending an escrow output whose
    datum is garbage is Invalid; a garbage continuation datum is Invalid too."""
    good = DATUM_CBOR.hex()

    @fuzz_settings(depth)
    @given(raw=cbor_mutations(DATUM_CBOR), action=st.integers(0, 8))
    def run(raw: bytes, action: int) -> None:
        garbage = raw.hex()
        ours = escrow_datum(garbage) is not None
        lock = classify(_facts([_escrow_io(garbage, 0)], [], {}))
        assert lock.kind == (TxKind.LOCK if ours else TxKind.FOREIGN), lock
        spent = _escrow_io(garbage, 0, "cd" * 32)
        spend = classify(_facts([], [spent], {0: action}))
        assert ours or spend.kind == TxKind.INVALID, spend
        spent_good = _escrow_io(good, 0, "cd" * 32)
        moved = classify(_facts([_escrow_io(garbage, 0)], [spent_good], {0: action}))
        assert isinstance(moved.kind, TxKind)

    run()


@both(examples=30)
def test_a_strangers_transaction_reads_and_classifies_or_is_refused(depth: int) -> None:
    """The sync's production path for a transaction at the escrow address: read its CBOR, then
    classify it with its outputs; DecodeError is the only refusal."""

    @fuzz_settings(depth)
    @given(raw=cbor_mutations(TX_CBOR))
    def run(raw: bytes) -> None:
        facts = _read_cbor_cleanly(raw)
        if facts is None:
            return
        entry = AddressTx(TX_HASH, 0, 10, 1_600_000_000_000)
        utxos = TxUtxos(TX_HASH, [], list(facts.outputs))
        classified = classify(TxFacts(entry, utxos, facts, ESCROW, 0))
        assert isinstance(classified.kind, TxKind)

    run()


# --- blockchainIdentifier (node/payments/identifier.py) ----------------------------------------


@both()
def test_decode_blockchain_identifier_raises_only_identifier_error(depth: int) -> None:
    hex_text = st.binary(max_size=200).map(bytes.hex)
    mutated = mutated_bytes(bytes.fromhex(IDENTIFIER)).map(bytes.hex)

    @fuzz_settings(depth)
    @given(text=st.one_of(st.text(max_size=200), hex_text, mutated))
    def run(text: str) -> None:
        try:
            decoded = decode_blockchain_identifier(text)
        except IdentifierError:
            return
        assert isinstance(decoded.seller_id, str) and isinstance(decoded.key, str)
        assert len(decoded.request_id) <= 64

    run()


@both()
def test_blockchain_identifier_round_trips(depth: int) -> None:
    hexes = st.binary(max_size=100).map(bytes.hex)

    @fuzz_settings(depth)
    @given(seller=hexes, purchaser=hexes, signature=hexes, key=hexes)
    def run(seller: str, purchaser: str, signature: str, key: str) -> None:
        decoded = decode_blockchain_identifier(
            encode_blockchain_identifier(seller, purchaser, signature, key)
        )
        assert (decoded.seller_id, decoded.purchaser_id) == (seller, purchaser)
        assert (decoded.signature, decoded.key) == (signature, key)

    run()


# --- agent identifiers (registry/identifiers.py) -----------------------------------------------


@both()
def test_agent_identifier_parse_raises_only_value_error(depth: int) -> None:
    hexish = st.text(alphabet=string.hexdigits + " \n\t", max_size=130)
    mutated = st.builds(
        lambda cut, extra: AGENT_ID[:cut] + extra, st.integers(0, 120), st.text(max_size=4)
    )

    @fuzz_settings(depth)
    @given(text=st.one_of(st.text(max_size=130), hexish, mutated, json_values))
    def run(text: Any) -> None:
        try:
            parsed = AgentIdentifier.parse(text)
        except ValueError:
            return
        assert len(parsed.policy_id) == 56 and len(parsed.asset_name) <= 64
        assert AgentIdentifier.parse(parsed.unit) == parsed

    run()


# --- registry metadata (registry/metadata.py, registry/cip25.py) -------------------------------


@both()
def test_metadata_decode_never_raises(depth: int) -> None:
    """decode is documented never to raise: faults are violations. Inputs are what Blockfrost's
    onchain_metadata or a metadatum can hold: JSON, bytes, integer keys."""
    metadatum = st.recursive(
        CBOR_SCALARS.filter(lambda v: not isinstance(v, float)),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.text(max_size=12) | st.integers(0, 3), inner, max_size=5)
        ),
        max_leaves=25,
    )

    @fuzz_settings(depth)
    @given(raw=st.one_of(json_mutations(METADATA), mutated_tree(METADATA, metadatum), metadatum))
    def run(raw: Any) -> None:
        decoded = mip002.decode(raw)
        assert all(isinstance(v, mip002.Violation) for v in decoded.violations)
        if decoded.metadata is not None:  # what was read is written back and read the same
            again = mip002.decode(mip002.to_onchain(decoded.metadata))
            assert again.metadata == decoded.metadata, again.violations

    run()


@both()
def test_cip25_chunks_join_or_refuse_cleanly(depth: int) -> None:
    @fuzz_settings(depth)
    @given(value=st.one_of(json_values, cbor_values))
    def run(value: Any) -> None:
        joined = join_chunks(value)
        assert joined is None or isinstance(joined, str)
        try:
            chunked = chunk_strings(value)
        except MetadataError:
            return
        if isinstance(value, str):
            assert join_chunks(chunked) == value

    run()


# --- pricing documents (node/pricing) ----------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    model: Any
    from_document: Callable[[Any], Any]
    to_document: Callable[[Any], Any]
    example: dict[str, Any]


SHAPES = [
    Shape(AgenticPricing, from_agentic, to_agentic, AGENTIC),
    Shape(BillingPricingPayload, from_assmbl, to_assmbl, ASSMBL),
    Shape(UpdatePricingRequest, from_seren, to_seren, SEREN),
]


@both()
def test_parse_json_reads_or_raises_value_error(depth: int) -> None:
    nested = st.integers(1, 200_000).map(lambda n: "[" * n + "]" * n)
    numbers = st.sampled_from(["1e999999999", "-1E-999999999", "NaN", "Infinity", "1" * 5000])

    @fuzz_settings(depth)
    @given(text=st.one_of(st.text(max_size=80), st.binary(max_size=80), nested, numbers))
    def run(text: str | bytes) -> None:
        try:
            parse_json(text)
        except ValueError:
            return

    run()


@both()
@pytest.mark.parametrize("shape", SHAPES, ids=["agentic", "assmbl", "seren"])
def test_pricing_documents_map_or_raise_value_error(shape: Shape, depth: int) -> None:
    """The path of PUT pricing: JSON text -> the seed's model -> the canonical plan; a plan read
    is shown in the seed's shape again. ValueError (ValidationError, NotRepresentable) only."""
    numbers = st.sampled_from(["1e999999999", "-1", "0", "1e-30", "12345678901234567890.5"])
    numeric = mutated_tree(shape.example, numbers.map(Decimal))

    @fuzz_settings(depth)
    @given(document=st.one_of(json_mutations(shape.example), numeric))
    def run(document: Any) -> None:
        try:
            model = shape.model.model_validate(parse_json(json.dumps(document, default=str)))
            plan = shape.from_document(model)
            shape.to_document(plan)
        except ValueError:
            return

    run()


# --- MIP-003 input data (node/jobs/validate.py) ------------------------------------------------

INPUT_SCHEMA = [
    InputField.model_validate(field)
    for field in (
        {"id": "prompt", "type": "string", "name": "Prompt",
         "validations": [{"validation": "min", "value": "1"},
                         {"validation": "max", "value": "50"}]},
        {"id": "count", "type": "number", "name": "Count",
         "validations": [{"validation": "min", "value": "0"}, {"validation": "max", "value": "9"},
                         {"validation": "optional", "value": "true"}]},
        {"id": "mail", "type": "email", "name": "Mail",
         "validations": [{"validation": "optional", "value": "true"}]},
        {"id": "agree", "type": "boolean", "name": "Agree",
         "validations": [{"validation": "optional", "value": "true"}]},
        {"id": "size", "type": "option", "name": "Size", "data": {"values": ["S", "M"]},
         "validations": [{"validation": "optional", "value": "true"}]},
    )
]  # fmt: skip
INPUT = {"prompt": "hello", "count": 3, "mail": "a@b.cd", "agree": True, "size": "S"}


@both()
def test_input_data_passes_or_raises_input_error(depth: int) -> None:
    """A buyer's input_data (json.loads, which reads NaN and Infinity) against a schema."""
    specials = st.sampled_from([float("nan"), float("inf"), -float("inf"), 10**400, "NaN"])

    @fuzz_settings(depth)
    @given(data=st.one_of(json_mutations(INPUT), mutated_tree(INPUT, specials)))
    def run(data: Any) -> None:
        if not isinstance(data, dict):
            return  # the request model refuses a non-object before check_input
        try:
            check_input(INPUT_SCHEMA, data)
        except InputError:
            return

    run()


# --- an agent's /start_job answer (node/purchases/offers.py) -----------------------------------


@both()
def test_start_job_answer_parses_or_raises_validation_error(depth: int) -> None:
    @fuzz_settings(depth)
    @given(answer=json_mutations(START_JOB))
    def run(answer: Any) -> None:
        try:
            StartJobAnswer.model_validate(answer)
        except ValidationError:
            return

    run()


# --- webhook signatures (node/webhooks/signing.py) ---------------------------------------------


@both()
def test_verify_signature_is_a_boolean_for_any_header(depth: int) -> None:
    body = b'{"event":"x"}'
    valid = sign("whsec_secret", body, 1_700_000_000)
    headers = st.one_of(
        st.none(),
        st.text(max_size=120),
        st.builds(
            lambda cut, extra: valid[:cut] + extra, st.integers(0, len(valid)), st.text(max_size=8)
        ),
        st.lists(st.sampled_from(["t=", "v1=", ",", "=", "1700000000", "x", " "]), max_size=12).map(
            "".join
        ),
    )

    @fuzz_settings(depth)
    @given(
        header=headers, raw=st.one_of(st.just(body), st.binary(max_size=40), st.text(max_size=40))
    )
    def run(header: str | None, raw: bytes | str) -> None:
        result = verify_signature("whsec_secret", header, raw, now_s=1_700_000_000)
        assert isinstance(result, bool)
        if header == valid and raw == body:
            assert result

    run()


# --- what the fuzz found, kept as plain examples -------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        cbor2.dumps([[[], [], 0], {0: [None]}, True, None]),  # a witness that is not [vkey, sig]
        cbor2.dumps([[[], [], 0], {5: [[]]}, True, None]),  # an empty redeemer entry
        cbor2.dumps([[[], [], 0], {5: [[None, 0, 0]]}, True, None]),  # a redeemer tag of null
        cbor2.dumps([[[], [{0: b"\x60" + b"\x01" * 66, 1: 1}], 0], {}, True, None]),  # address size
        cbor2.dumps([[[], [], None], {}, True, None]),  # a fee of null
        cbor2.dumps([[[], [], 0], [], True, None]),  # a witness set that is not a map
    ],
    ids=["witness", "redeemer-empty", "redeemer-tag", "address-size", "fee", "witness-set"],
)
def test_found_transactions_are_decode_errors(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        read_cbor(raw, TX_HASH)


def test_found_identifier_is_an_identifier_error() -> None:
    with pytest.raises(IdentifierError):  # lzstring raised UnboundLocalError
        decode_blockchain_identifier("ffff")


def test_found_deep_json_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):  # was RecursionError
        parse_json("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**5000])
def test_found_numbers_are_input_errors(value: object) -> None:
    """NaN and Infinity (json.loads reads them) raised decimal.InvalidOperation; an int of more
    than 4300 digits raised ValueError from str()."""
    with pytest.raises(InputError, match=r"input_data\.count"):
        check_input(INPUT_SCHEMA, {"prompt": "hello", "count": value})


def test_found_signature_header_is_false() -> None:
    """A non-ASCII v1 made hmac.compare_digest raise TypeError."""
    body = b'{"event":"x"}'
    assert not verify_signature("whsec_secret", "t=1700000000,v1=é", body, now_s=1_700_000_000)
    assert verify_signature(
        "whsec_secret", sign("whsec_secret", body, 1_700_000_000), body, now_s=1_700_000_000
    )
