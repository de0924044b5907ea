"""Decoding of Conway transactions from their original bytes, and the phase-1 ledger rules.

Everything that is hashed or signed is taken from the original bytes (see `cbor_spans`); cbor2 is
only used to read values, never to re-encode something that is then hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import cbor2
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from devnet import cbor_spans
from devnet.cbor_spans import CborScanError
from devnet.errors import LedgerRejection, MalformedTransaction
from devnet.params import ProtocolParams

DEVNET_NETWORK_ID = 0  # testnet addresses (addr_test…)
REF_SCRIPT_TIER_BYTES = 25_600
REF_SCRIPT_TIER_MULTIPLIER = Fraction(6, 5)

SCRIPT_TYPES = {0: "timelock", 1: "plutusV1", 2: "plutusV2", 3: "plutusV3"}
REDEEMER_TAGS = {0: "spend", 1: "mint", 2: "cert", 3: "reward", 4: "vote", 5: "propose"}
_TAG_SPEND, _TAG_MINT = 0, 1


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def blake2b_224(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=28).digest()


@dataclass(frozen=True, order=True, slots=True)
class TxIn:
    """An output reference; orders like the ledger (tx id, then index)."""

    tx_id: bytes
    index: int


@dataclass(frozen=True)
class Script:
    """A script as the ledger hashes it. `prefix`: 0 native, 1..3 Plutus V1..V3."""

    prefix: int
    body: bytes  # native: CBOR of the script; Plutus: the script bytes (CBOR-wrapped flat)

    @property
    def hash(self) -> bytes:
        return blake2b_224(bytes([self.prefix]) + self.body)

    @property
    def type(self) -> str:
        return SCRIPT_TYPES[self.prefix]

    @property
    def is_plutus(self) -> bool:
        return self.prefix != 0


@dataclass(frozen=True)
class Output:
    """A transaction output, decoded from (and keeping) its original CBOR."""

    address: bytes
    coin: int
    assets: Mapping[bytes, int]  # policy id (28 bytes) + asset name -> quantity
    datum_hash: bytes | None
    inline_datum: bytes | None  # original CBOR of the inline datum
    script_ref: Script | None
    cbor: bytes
    value_size: int

    @property
    def payment_credential(self) -> tuple[bool, bytes] | None:
        """(is_script, hash) of a Shelley address's payment part; None for Byron/others."""
        kind = self.address[0] >> 4
        if kind > 7 or len(self.address) < 29:
            return None
        return bool(kind & 1), self.address[1:29]


@dataclass(frozen=True)
class RedeemerEntry:
    tag: int
    index: int
    data: bytes  # original CBOR
    mem: int
    steps: int

    @property
    def tag_name(self) -> str:
        return REDEEMER_TAGS.get(self.tag, str(self.tag))


@dataclass
class DecodedTx:
    tx_id: bytes
    cbor: bytes
    spans: cbor_spans.TxSpans
    inputs: list[TxIn]
    outputs: list[Output]
    fee: int
    ttl: int | None = None
    validity_start: int | None = None
    reference_inputs: list[TxIn] = field(default_factory=list)
    collateral_inputs: list[TxIn] = field(default_factory=list)
    collateral_return: Output | None = None
    total_collateral: int | None = None
    mint: dict[bytes, dict[bytes, int]] = field(default_factory=dict)
    required_signers: list[bytes] = field(default_factory=list)
    network_id: int | None = None
    aux_data_hash: bytes | None = None
    script_data_hash: bytes | None = None
    unsupported_fields: list[str] = field(default_factory=list)
    vkey_witnesses: list[tuple[bytes, bytes]] = field(default_factory=list)
    has_bootstrap_witnesses: bool = False
    witness_scripts: dict[bytes, Script] = field(default_factory=dict)
    witness_datums: dict[bytes, bytes] = field(default_factory=dict)
    redeemers: list[RedeemerEntry] = field(default_factory=list)
    is_valid: bool = True
    metadata: dict[int, Any] = field(default_factory=dict)
    metadata_cbor: dict[int, bytes] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """The size the ledger charges and limits: Alonzo's size computation encodes
        [body, witnesses, auxiliary data] without the is-valid flag, one byte less than the
        whole (the array header is one byte for 3 items as for 4)."""
        return len(self.cbor) - 1

    @property
    def hash_hex(self) -> str:
        return self.tx_id.hex()


# ---------------------------------------------------------------------------------------------
# Decoding


def decode_transaction(tx_cbor: bytes) -> DecodedTx:
    """Decode a transaction; raises MalformedTransaction on anything that is not well-formed."""
    try:
        return _decode(tx_cbor)
    except LedgerRejection:
        raise
    except (CborScanError, cbor2.CBORDecodeError, ValueError, TypeError, KeyError) as exc:
        raise MalformedTransaction(f"cannot decode transaction: {exc}") from exc
    except (IndexError, AttributeError) as exc:
        raise MalformedTransaction(f"unexpected transaction structure: {exc!r}") from exc


def _decode(tx_cbor: bytes) -> DecodedTx:
    spans = cbor_spans.scan_transaction(tx_cbor)
    tx = DecodedTx(
        tx_id=blake2b_256(spans.body),
        cbor=tx_cbor,
        spans=spans,
        inputs=[],
        outputs=[decode_output(o) for o in spans.outputs],
        fee=-1,
    )
    _decode_body(tx)
    _decode_witnesses(tx)
    _decode_validity_flag_and_aux(tx)
    return tx


def _decode_body(tx: DecodedTx) -> None:
    body = tx.spans.body
    seen: set[int] = set()
    for key_span, (start, end) in cbor_spans.map_items(body, 0):
        key = cbor_spans.uint_at(body, key_span[0])
        if key in seen:
            raise MalformedTransaction(f"body key {key} appears twice")
        seen.add(key)
        raw = body[start:end]
        if key in (0, 13, 18):
            items = [_txin(cbor2.loads(body[s:e])) for s, e in cbor_spans.array_items(body, start)]
            {0: tx.inputs, 13: tx.collateral_inputs, 18: tx.reference_inputs}[key].extend(items)
        elif key == 14:
            tx.required_signers = [
                _bytes(cbor2.loads(body[s:e]), 28) for s, e in cbor_spans.array_items(body, start)
            ]
        elif key != 1:
            _decode_body_field(tx, key, raw)
    if tx.fee < 0 or 0 not in seen:
        raise MalformedTransaction("a transaction body needs inputs (0), outputs (1) and fee (2)")


def _decode_body_field(tx: DecodedTx, key: int, raw: bytes) -> None:
    if key == 16:
        tx.collateral_return = decode_output(raw)
        return
    value = cbor2.loads(raw)
    if key == 2:
        tx.fee = _uint(value)
    elif key == 3:
        tx.ttl = _uint(value)
    elif key == 8:
        tx.validity_start = _uint(value)
    elif key == 9:
        tx.mint = _multiasset(value, allow_negative=True)
    elif key == 15:
        tx.network_id = _uint(value)
    elif key == 7:
        tx.aux_data_hash = _bytes(value, 32)
    elif key == 11:
        tx.script_data_hash = _bytes(value, 32)
    elif key == 17:
        tx.total_collateral = _uint(value)
    elif key in (4, 5, 19, 20, 21, 22):
        names = {
            4: "certificates",
            5: "withdrawals",
            19: "voting_procedures",
            20: "proposal_procedures",
            21: "current_treasury_value",
            22: "treasury_donation",
        }
        tx.unsupported_fields.append(names[key])
    else:
        raise MalformedTransaction(f"unknown transaction body key {key}")


def _decode_witnesses(tx: DecodedTx) -> None:
    wits = tx.spans.witness_set
    for key_span, (start, _end) in cbor_spans.map_items(wits, 0):
        key = cbor_spans.uint_at(wits, key_span[0])
        if key == 0:
            for s, e in cbor_spans.array_items(wits, start):
                vkey, sig = cbor2.loads(wits[s:e])
                tx.vkey_witnesses.append((_bytes(vkey, 32), _bytes(sig, 64)))
        elif key == 2:
            tx.has_bootstrap_witnesses = True
    for native in tx.spans.native_scripts:
        script = Script(0, native)
        tx.witness_scripts[script.hash] = script
    for language_id, body in tx.spans.plutus_scripts:
        script = Script(language_id + 1, body)
        tx.witness_scripts[script.hash] = script
    for datum in tx.spans.datum_items:
        tx.witness_datums[blake2b_256(datum)] = datum
    if tx.spans.redeemers is not None:
        tx.redeemers = decode_redeemers(tx.spans.redeemers)


def decode_redeemers(raw: bytes) -> list[RedeemerEntry]:
    """Redeemers in either Conway map form or the legacy array form, data kept as original bytes."""
    entries: list[RedeemerEntry] = []
    if raw[0] >> 5 == 5:
        for (ks, ke), (vs, _ve) in cbor_spans.map_items(raw, 0):
            tag, index = cbor2.loads(raw[ks:ke])
            (ds, de), (es, ee) = cbor_spans.array_items(raw, vs)
            mem, steps = cbor2.loads(raw[es:ee])
            entries.append(RedeemerEntry(_uint(tag), _uint(index), raw[ds:de], mem, steps))
    else:
        for s, _e in cbor_spans.array_items(raw, 0):
            (ts, te), (is_, ie), (ds, de), (es, ee) = cbor_spans.array_items(raw, s)
            mem, steps = cbor2.loads(raw[es:ee])
            tag, index = cbor2.loads(raw[ts:te]), cbor2.loads(raw[is_:ie])
            entries.append(RedeemerEntry(_uint(tag), _uint(index), raw[ds:de], mem, steps))
    for entry in entries:
        _uint(entry.mem)
        _uint(entry.steps)
    return entries


def _decode_validity_flag_and_aux(tx: DecodedTx) -> None:
    top = cbor_spans.array_items(tx.cbor, 0)
    flag = cbor2.loads(tx.cbor[top[2][0] : top[2][1]])
    if not isinstance(flag, bool):
        raise MalformedTransaction("the third item of a transaction must be a boolean")
    tx.is_valid = flag
    aux = tx.spans.auxiliary_data
    if aux is not None:
        tx.metadata, tx.metadata_cbor = _decode_metadata(aux)


def _decode_metadata(aux: bytes) -> tuple[dict[int, Any], dict[int, bytes]]:
    """Metadata labels of the auxiliary data (Shelley map, Allegra array or Alonzo tag 259)."""
    pos = cbor_spans.skip_tags(aux, 0)
    major = aux[pos] >> 5
    metadata_pos: int | None = pos
    if major == 4:  # [metadata, native scripts]
        metadata_pos = cbor_spans.array_items(aux, pos)[0][0]
    elif aux[0] >> 5 == 6:  # tag 259 {0: metadata, ...}
        metadata_pos = None
        for (ks, _ke), (vs, _ve) in cbor_spans.map_items(aux, pos):
            if cbor_spans.uint_at(aux, ks) == 0:
                metadata_pos = vs
    if metadata_pos is None:
        return {}, {}
    decoded: dict[int, Any] = {}
    raw: dict[int, bytes] = {}
    for (ks, _ke), (vs, ve) in cbor_spans.map_items(aux, metadata_pos):
        label = cbor_spans.uint_at(aux, ks)
        raw[label] = aux[vs:ve]
        decoded[label] = cbor2.loads(aux[vs:ve])
    return decoded, raw


def decode_output(raw: bytes) -> Output:
    parts = cbor_spans.output_parts(raw)
    if 0 not in parts or 1 not in parts:
        raise MalformedTransaction("an output needs an address and a value")
    is_legacy = raw[cbor_spans.skip_tags(raw, 0)] >> 5 == 4
    address = _bytes(cbor2.loads(_part(raw, parts[0])))
    coin, assets = decode_value(cbor2.loads(_part(raw, parts[1])))
    datum_hash = inline = None
    if 2 in parts:
        datum_hash, inline = _datum_option(raw, parts[2], is_legacy)
    script_ref = _script_ref(cbor2.loads(_part(raw, parts[3]))) if 3 in parts else None
    value_span = parts[1]
    return Output(
        address=address,
        coin=coin,
        assets=assets,
        datum_hash=datum_hash,
        inline_datum=inline,
        script_ref=script_ref,
        cbor=raw,
        value_size=value_span[1] - value_span[0],
    )


def _part(raw: bytes, span: cbor_spans.Span) -> bytes:
    return raw[span[0] : span[1]]


def _datum_option(
    raw: bytes, span: cbor_spans.Span, is_legacy: bool
) -> tuple[bytes | None, bytes | None]:
    value = cbor2.loads(_part(raw, span))
    if is_legacy:
        return _bytes(value, 32), None
    kind, payload = value
    if kind == 0:
        return _bytes(payload, 32), None
    if kind == 1 and isinstance(payload, cbor2.CBORTag) and payload.tag == 24:
        # The inline datum's original bytes are the content of the tag-24 byte string.
        inline = _bytes(payload.value)
        return blake2b_256(inline), inline
    raise MalformedTransaction("bad datum option in an output")


def _script_ref(value: Any) -> Script:
    if not (isinstance(value, cbor2.CBORTag) and value.tag == 24):
        raise MalformedTransaction("a script reference must be tag 24 bytes")
    inner = _bytes(value.value)
    items = cbor_spans.array_items(inner, 0)
    prefix = cbor_spans.uint_at(inner, items[0][0])
    if prefix == 0:
        return Script(0, inner[items[1][0] : items[1][1]])
    if prefix in (1, 2, 3):
        return Script(prefix, cbor_spans.bytes_at(inner, items[1][0]))
    raise MalformedTransaction(f"unknown script language {prefix}")


def decode_value(value: Any) -> tuple[int, dict[bytes, int]]:
    if isinstance(value, int):
        return _uint(value), {}
    if isinstance(value, list) and len(value) == 2:
        assets: dict[bytes, int] = {}
        for policy, names in _multiasset(value[1], allow_negative=False).items():
            for name, qty in names.items():
                assets[policy + name] = qty
        return _uint(value[0]), assets
    raise MalformedTransaction("a value is a coin or [coin, multiasset]")


def _multiasset(value: Any, *, allow_negative: bool) -> dict[bytes, dict[bytes, int]]:
    if not isinstance(value, dict):
        raise MalformedTransaction("a multiasset is a map")
    result: dict[bytes, dict[bytes, int]] = {}
    for policy, names in value.items():
        if not isinstance(names, dict):
            raise MalformedTransaction("a multiasset maps policies to maps")
        inner: dict[bytes, int] = {}
        for name, qty in names.items():
            if not isinstance(qty, int) or qty == 0 or (qty < 0 and not allow_negative):
                raise MalformedTransaction(
                    "asset quantities must be non-zero (positive in outputs)"
                )
            inner[_bytes(name, max_len=32)] = qty
        result[_bytes(policy, 28)] = inner
    return result


def _txin(value: Any) -> TxIn:
    if not (isinstance(value, list | tuple) and len(value) == 2):
        raise MalformedTransaction("an input is [tx id, index]")
    return TxIn(_bytes(value[0], 32), _uint(value[1]))


def _uint(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedTransaction(f"expected an unsigned integer, got {value!r}")
    return value


def _bytes(value: Any, length: int | None = None, *, max_len: int | None = None) -> bytes:
    if not isinstance(value, bytes):
        raise MalformedTransaction(f"expected bytes, got {type(value).__name__}")
    if length is not None and len(value) != length:
        raise MalformedTransaction(f"expected {length} bytes, got {len(value)}")
    if max_len is not None and len(value) > max_len:
        raise MalformedTransaction(f"expected at most {max_len} bytes")
    return value


# ---------------------------------------------------------------------------------------------
# Fees, min-ADA, integrity hash


def min_ada(output: Output, params: ProtocolParams) -> int:
    return (160 + len(output.cbor)) * params.coins_per_utxo_size


def reference_script_fee(total_size: int, params: ProtocolParams) -> int:
    """Conway's tiered fee: each 25,600-byte tier costs 1.2 times the previous one per byte."""
    fee = Fraction(0)
    price = params.min_fee_ref_script_cost_per_byte
    remaining = total_size
    while remaining >= REF_SCRIPT_TIER_BYTES:
        fee += REF_SCRIPT_TIER_BYTES * price
        price *= REF_SCRIPT_TIER_MULTIPLIER
        remaining -= REF_SCRIPT_TIER_BYTES
    return int(fee + remaining * price)  # floor, as the ledger does


def script_fee(mem: int, steps: int, params: ProtocolParams) -> int:
    """ceil(mem * price_mem + steps * price_step): one ceiling over the exact sum."""
    total = mem * params.price_mem + steps * params.price_step
    return -((-total.numerator) // total.denominator)


def min_fee(tx: DecodedTx, ref_script_bytes: int, params: ProtocolParams) -> int:
    mem = sum(r.mem for r in tx.redeemers)
    steps = sum(r.steps for r in tx.redeemers)
    return (
        params.min_fee_a * tx.size
        + params.min_fee_b
        + script_fee(mem, steps, params)
        + reference_script_fee(ref_script_bytes, params)
    )


def language_views(languages: Iterable[int], params: ProtocolParams) -> bytes:
    """CBOR of the language views map of the script integrity hash (Alonzo CDDL).

    V1's entry keeps the ledger's historical quirk: key and value are CBOR wrapped in byte strings,
    the value an *indefinite* list. V2/V3 are plain `id => definite list`. Keys sort canonically
    (shorter encoding first), so V1's two-byte key comes after 1 and 2.
    """
    entries: list[tuple[bytes, bytes]] = []
    for language in sorted(set(languages)):
        model = params.cost_model(language)
        if model is None:
            raise LedgerRejection("script-integrity-hash", f"no cost model for language {language}")
        if language == 0:
            inner = b"\x9f" + b"".join(cbor2.dumps(v) for v in model) + b"\xff"
            entries.append((cbor2.dumps(cbor2.dumps(0)), cbor2.dumps(inner)))
        else:
            entries.append((cbor2.dumps(language), cbor2.dumps(list(model))))
    entries.sort(key=lambda kv: (len(kv[0]), kv[0]))
    return _map_head(len(entries)) + b"".join(k + v for k, v in entries)


def _map_head(count: int) -> bytes:
    head: bytes = cbor2.dumps(count)
    return bytes([head[0] | 0xA0]) + head[1:]


def script_integrity_hash(tx: DecodedTx, languages: Iterable[int], params: ProtocolParams) -> bytes:
    """Hash over the original redeemers and datums bytes plus the language views."""
    redeemers = tx.spans.redeemers if tx.spans.redeemers is not None else b"\xa0"
    datums = tx.spans.datums or b""
    views = language_views(languages, params) if tx.redeemers else b"\xa0"
    return blake2b_256(redeemers + datums + views)


# ---------------------------------------------------------------------------------------------
# Native scripts


def native_script_ok(
    script_cbor: bytes, signers: frozenset[bytes], start: int | None, ttl: int | None
) -> bool:
    return _eval_native(cbor2.loads(script_cbor), signers, start, ttl)


def _eval_native(node: Any, signers: frozenset[bytes], start: int | None, ttl: int | None) -> bool:
    kind = node[0]
    if kind == 0:
        return bytes(node[1]) in signers
    if kind == 1:
        return all(_eval_native(n, signers, start, ttl) for n in node[1])
    if kind == 2:
        return any(_eval_native(n, signers, start, ttl) for n in node[1])
    if kind == 3:
        return sum(_eval_native(n, signers, start, ttl) for n in node[2]) >= int(node[1])
    if kind == 4:  # invalid_before: the tx's lower bound must be at or after the slot
        return start is not None and start >= node[1]
    if kind == 5:  # invalid_hereafter: the tx's TTL must be at or before the slot
        return ttl is not None and ttl <= node[1]
    raise LedgerRejection("native-script", f"unknown native script constructor {kind}")


# ---------------------------------------------------------------------------------------------
# Validation


@dataclass(frozen=True)
class ScriptPurpose:
    tag: int  # 0 spend, 1 mint
    index: int
    script_hash: bytes
    datum_hash: bytes | None = None  # spending: the hash datum the script needs
    has_datum: bool = False


@dataclass
class Validated:
    """What the phase-1 pass found out, reused by phase 2 and by the indexes."""

    tx: DecodedTx
    spent: dict[TxIn, Output]
    referenced: dict[TxIn, Output]
    collateral: dict[TxIn, Output]
    scripts: dict[bytes, Script]  # every script available (witness set + reference scripts)
    plutus_purposes: list[ScriptPurpose]
    ref_script_bytes: int

    @classmethod
    def unchecked(
        cls,
        tx: DecodedTx,
        spent: dict[TxIn, Output] | None = None,
        referenced: dict[TxIn, Output] | None = None,
        collateral: dict[TxIn, Output] | None = None,
    ) -> Validated:
        """A record for a tx whose rules were not (yet) checked: replayed or to re-validate."""
        return cls(tx, spent or {}, referenced or {}, collateral or {}, {}, [], 0)


UtxoLookup = Callable[[TxIn], Output | None]


def reject(rule: str, message: str) -> LedgerRejection:
    return LedgerRejection(rule, message)


def validate_phase1(
    tx: DecodedTx, lookup: UtxoLookup, params: ProtocolParams, slot: int
) -> Validated:
    """Apply every phase-1 rule; raise LedgerRejection naming the first one broken."""
    _check_supported(tx)
    spent, referenced, collateral = resolve_inputs(tx, lookup)
    _check_network(tx)
    _check_validity_interval(tx, slot)
    _check_sizes(tx, params)
    _check_outputs(tx, params)
    _check_value_conservation(tx, spent)
    scripts, ref_bytes = _available_scripts(tx, spent, referenced)
    fee_floor = min_fee(tx, ref_bytes, params)
    if tx.fee < fee_floor:
        raise reject("fee-too-small", f"fee {tx.fee} < minimum {fee_floor}")
    _check_aux_data(tx)
    signers = _check_vkey_witnesses(tx, spent, collateral)
    purposes = _check_scripts(tx, spent, scripts, signers)
    _check_datums(tx, spent, referenced, purposes)
    _check_spendable(purposes, scripts)
    _check_redeemers(tx, purposes, params)
    _check_integrity_hash(tx, purposes, scripts, params)
    if tx.redeemers:
        _check_collateral(tx, collateral, params)
    return Validated(tx, spent, referenced, collateral, scripts, purposes, ref_bytes)


def _check_supported(tx: DecodedTx) -> None:
    if tx.unsupported_fields:
        field_name = tx.unsupported_fields[0]
        rule = {
            "certificates": "certificates-unsupported",
            "withdrawals": "withdrawals-unsupported",
        }
        raise reject(
            rule.get(field_name, "governance-unsupported"),
            f"the devnet does not support {field_name} yet",
        )
    if tx.has_bootstrap_witnesses:
        raise reject("bootstrap-witness-unsupported", "Byron bootstrap witnesses are not supported")
    if not tx.is_valid:
        raise reject("is-valid-false", "submitted transactions must be flagged is_valid = true")
    if not tx.inputs:
        raise reject("inputs-empty", "a transaction must spend at least one input")


def resolve_inputs(
    tx: DecodedTx, lookup: UtxoLookup
) -> tuple[dict[TxIn, Output], dict[TxIn, Output], dict[TxIn, Output]]:
    resolved: list[dict[TxIn, Output]] = []
    for kind, txins in (
        ("inputs", tx.inputs),
        ("reference-inputs", tx.reference_inputs),
        ("collateral-inputs", tx.collateral_inputs),
    ):
        if len(set(txins)) != len(txins):
            rule = "no-duplicate-inputs" if kind == "inputs" else f"no-duplicate-{kind}"
            raise reject(rule, f"the same {kind.replace('-', ' ')} appear twice")
        found: dict[TxIn, Output] = {}
        for txin in txins:
            output = lookup(txin)
            if output is None:
                raise reject(
                    f"{kind}-exist", f"{txin.tx_id.hex()}#{txin.index} is unknown or already spent"
                )
            found[txin] = output
        resolved.append(found)
    return resolved[0], resolved[1], resolved[2]


def _address_network(address: bytes) -> int | None:
    kind = address[0] >> 4
    return None if kind == 8 else address[0] & 0x0F  # Byron addresses carry no network nibble


def _all_outputs(tx: DecodedTx) -> list[Output]:
    return tx.outputs + ([tx.collateral_return] if tx.collateral_return else [])


def _check_network(tx: DecodedTx) -> None:
    if tx.network_id is not None and tx.network_id != DEVNET_NETWORK_ID:
        raise reject("network-id", f"body network id {tx.network_id} is not the devnet's (0)")
    for output in _all_outputs(tx):
        network = _address_network(output.address)
        if network is not None and network != DEVNET_NETWORK_ID:
            raise reject("network-id", f"output address on network {network}, devnet is 0")


def _check_validity_interval(tx: DecodedTx, slot: int) -> None:
    if tx.validity_start is not None and slot < tx.validity_start:
        raise reject(
            "validity-interval", f"slot {slot} is before validity start {tx.validity_start}"
        )
    if tx.ttl is not None and slot >= tx.ttl:
        raise reject("validity-interval", f"slot {slot} is at or after the TTL {tx.ttl}")


def _check_sizes(tx: DecodedTx, params: ProtocolParams) -> None:
    if tx.size > params.max_tx_size:
        raise reject("max-tx-size", f"{tx.size} bytes > {params.max_tx_size}")
    for output in _all_outputs(tx):
        if output.value_size > params.max_val_size:
            raise reject(
                "max-value-size", f"output value is {output.value_size} B > {params.max_val_size}"
            )


def _check_outputs(tx: DecodedTx, params: ProtocolParams) -> None:
    for index, output in enumerate(_all_outputs(tx)):
        floor = min_ada(output, params)
        if output.coin < floor:
            where = "collateral return" if index == len(tx.outputs) else f"output {index}"
            raise reject("min-ada", f"{where} holds {output.coin} lovelace < min-ADA {floor}")


def _add_value(total: dict[bytes, int], coin: int, assets: Mapping[bytes, int], sign: int) -> None:
    total[b""] = total.get(b"", 0) + sign * coin
    for unit, qty in assets.items():
        total[unit] = total.get(unit, 0) + sign * qty


def _check_value_conservation(tx: DecodedTx, spent: Mapping[TxIn, Output]) -> None:
    balance: dict[bytes, int] = {}
    for output in spent.values():
        _add_value(balance, output.coin, output.assets, +1)
    for policy, names in tx.mint.items():
        _add_value(balance, 0, {policy + name: qty for name, qty in names.items()}, +1)
    for output in tx.outputs:
        _add_value(balance, output.coin, output.assets, -1)
    balance[b""] -= tx.fee
    unbalanced = {unit: qty for unit, qty in balance.items() if qty != 0}
    if unbalanced:
        shown = ", ".join(
            f"{unit.hex() or 'lovelace'}: {qty:+}" for unit, qty in unbalanced.items()
        )
        raise reject("value-conservation", f"consumed - produced = {shown}")


def _available_scripts(
    tx: DecodedTx, spent: Mapping[TxIn, Output], referenced: Mapping[TxIn, Output]
) -> tuple[dict[bytes, Script], int]:
    """Witness scripts plus reference scripts; and the size the reference-script fee is over.

    Conway charges for every reference script in spent and reference inputs, used or not."""
    scripts = dict(tx.witness_scripts)
    ref_bytes = 0
    for output in (*spent.values(), *referenced.values()):
        if output.script_ref is not None:
            scripts.setdefault(output.script_ref.hash, output.script_ref)
            ref_bytes += len(output.script_ref.body)
    return scripts, ref_bytes


def _check_aux_data(tx: DecodedTx) -> None:
    aux = tx.spans.auxiliary_data
    if aux is None and tx.aux_data_hash is None:
        return
    if aux is None or tx.aux_data_hash is None or blake2b_256(aux) != tx.aux_data_hash:
        raise reject("auxiliary-data-hash", "auxiliary data and its hash in the body disagree")


def _check_vkey_witnesses(
    tx: DecodedTx, spent: Mapping[TxIn, Output], collateral: Mapping[TxIn, Output]
) -> frozenset[bytes]:
    signers: set[bytes] = set()
    for vkey, signature in tx.vkey_witnesses:
        try:
            VerifyKey(vkey).verify(tx.tx_id, signature)
        except (BadSignatureError, ValueError) as exc:
            raise reject(
                "invalid-signature", f"witness of key {blake2b_224(vkey).hex()} does not verify"
            ) from exc
        signers.add(blake2b_224(vkey))
    required = set(tx.required_signers)
    for output in (*spent.values(), *collateral.values()):
        credential = output.payment_credential
        if credential is not None and not credential[0]:
            required.add(credential[1])
    missing = required - signers
    if missing:
        shown = ", ".join(sorted(h.hex() for h in missing))
        raise reject("missing-vkey-witness", f"no signature from key hash(es) {shown}")
    return frozenset(signers)


def _needed_scripts(tx: DecodedTx, spent: Mapping[TxIn, Output]) -> list[ScriptPurpose]:
    purposes: list[ScriptPurpose] = []
    for index, txin in enumerate(sorted(tx.inputs)):
        output = spent[txin]
        credential = output.payment_credential
        if credential is not None and credential[0]:
            purposes.append(
                ScriptPurpose(
                    _TAG_SPEND,
                    index,
                    credential[1],
                    output.datum_hash if output.inline_datum is None else None,
                    output.datum_hash is not None,
                )
            )
    for index, policy in enumerate(sorted(tx.mint)):
        purposes.append(ScriptPurpose(_TAG_MINT, index, policy))
    return purposes


def _check_scripts(
    tx: DecodedTx,
    spent: Mapping[TxIn, Output],
    scripts: Mapping[bytes, Script],
    signers: frozenset[bytes],
) -> list[ScriptPurpose]:
    """Every needed script is available, no witness script is extra, native scripts hold.

    Returns the purposes that need a Plutus script (and so a redeemer)."""
    needed = _needed_scripts(tx, spent)
    needed_hashes = {p.script_hash for p in needed}
    for purpose in needed:
        if purpose.script_hash not in scripts:
            raise reject(
                "missing-script",
                f"no witness or reference script for {REDEEMER_TAGS[purpose.tag]} "
                f"{purpose.index} (script {purpose.script_hash.hex()})",
            )
    extra = set(tx.witness_scripts) - needed_hashes
    if extra:
        raise reject("extraneous-script", f"scripts not needed: {sorted(h.hex() for h in extra)}")
    plutus: list[ScriptPurpose] = []
    for purpose in needed:
        script = scripts[purpose.script_hash]
        if script.is_plutus:
            plutus.append(purpose)
        elif not native_script_ok(script.body, signers, tx.validity_start, tx.ttl):
            raise reject(
                "native-script",
                f"native script {purpose.script_hash.hex()} fails for "
                f"{REDEEMER_TAGS[purpose.tag]} {purpose.index}",
            )
    return plutus


def _check_datums(
    tx: DecodedTx,
    spent: Mapping[TxIn, Output],
    referenced: Mapping[TxIn, Output],
    purposes: list[ScriptPurpose],
) -> None:
    required: set[bytes] = set()
    for purpose in purposes:
        if purpose.tag != _TAG_SPEND:
            continue
        if purpose.datum_hash is not None:
            required.add(purpose.datum_hash)
    missing = required - set(tx.witness_datums)
    if missing:
        raise reject("missing-datum", f"datum(s) {sorted(h.hex() for h in missing)} not witnessed")
    # Supplemental datums are allowed only for hashes in this tx's outputs or reference inputs.
    allowed = set(required)
    for output in (*tx.outputs, *referenced.values()):
        if output.datum_hash is not None and output.inline_datum is None:
            allowed.add(output.datum_hash)
    extra = set(tx.witness_datums) - allowed
    if extra:
        raise reject("extraneous-datum", f"datum(s) {sorted(h.hex() for h in extra)} not needed")


def _check_spendable(purposes: list[ScriptPurpose], scripts: Mapping[bytes, Script]) -> None:
    """Plutus V1/V2 outputs without any datum cannot be spent (V3 made the datum optional)."""
    for purpose in purposes:
        script = scripts[purpose.script_hash]
        if purpose.tag == _TAG_SPEND and not purpose.has_datum and script.prefix < 3:
            raise reject(
                "missing-datum",
                f"input {purpose.index} is locked by a {script.type} script but has no datum",
            )


def _check_redeemers(tx: DecodedTx, purposes: list[ScriptPurpose], params: ProtocolParams) -> None:
    wanted = {(p.tag, p.index) for p in purposes}
    given = [(r.tag, r.index) for r in tx.redeemers]
    if len(set(given)) != len(given):
        raise reject("extraneous-redeemer", "two redeemers for the same purpose")
    missing = wanted - set(given)
    if missing:
        shown = ", ".join(f"{REDEEMER_TAGS[t]}:{i}" for t, i in sorted(missing))
        raise reject("missing-redeemer", f"no redeemer for {shown}")
    extra = set(given) - wanted
    if extra:
        shown = ", ".join(f"{REDEEMER_TAGS.get(t, t)}:{i}" for t, i in sorted(extra))
        raise reject("extraneous-redeemer", f"redeemer(s) point at nothing to validate: {shown}")
    mem = sum(r.mem for r in tx.redeemers)
    steps = sum(r.steps for r in tx.redeemers)
    if mem > params.max_tx_ex_mem or steps > params.max_tx_ex_steps:
        raise reject(
            "ex-units-too-big",
            f"total ex units {mem}/{steps} > max {params.max_tx_ex_mem}/{params.max_tx_ex_steps}",
        )


def _check_integrity_hash(
    tx: DecodedTx,
    purposes: list[ScriptPurpose],
    scripts: Mapping[bytes, Script],
    params: ProtocolParams,
) -> None:
    if not tx.redeemers and not tx.witness_datums:
        if tx.script_data_hash is not None:
            raise reject("script-integrity-hash", "a script data hash without redeemers or datums")
        return
    languages = {scripts[p.script_hash].prefix - 1 for p in purposes}
    expected = script_integrity_hash(tx, languages, params)
    if tx.script_data_hash != expected:
        given = tx.script_data_hash.hex() if tx.script_data_hash else "none"
        raise reject("script-integrity-hash", f"body has {given}, expected {expected.hex()}")


def _check_collateral(
    tx: DecodedTx, collateral: Mapping[TxIn, Output], params: ProtocolParams
) -> None:
    if not collateral:
        raise reject("collateral-missing", "a transaction running scripts needs collateral")
    if len(collateral) > params.max_collateral_inputs:
        raise reject(
            "collateral-too-many-inputs",
            f"{len(collateral)} collateral inputs > {params.max_collateral_inputs}",
        )
    balance: dict[bytes, int] = {}
    for output in collateral.values():
        credential = output.payment_credential
        if credential is None or credential[0]:
            raise reject("collateral-not-key-locked", "collateral must be locked by a key")
        _add_value(balance, output.coin, output.assets, +1)
    if tx.collateral_return is not None:
        ret = tx.collateral_return
        _add_value(balance, ret.coin, ret.assets, -1)
    coin = balance.pop(b"")
    if any(qty != 0 for qty in balance.values()):
        raise reject("collateral-not-ada", "collateral net of its return must be ADA only")
    if coin < 0:
        raise reject("collateral-insufficient", "the collateral return exceeds the collateral")
    if coin * 100 < tx.fee * params.collateral_percent:
        raise reject(
            "collateral-insufficient",
            f"collateral {coin} < {params.collateral_percent}% of the fee {tx.fee}",
        )
    if tx.total_collateral is not None and tx.total_collateral != coin:
        raise reject(
            "collateral-total-mismatch",
            f"total_collateral {tx.total_collateral} but the collateral balance is {coin}",
        )
