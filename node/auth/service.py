"""API keys: create, authenticate, list, update, revoke; the first admin key at first start."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from node.auth.models import ApiKey, ApiKeyCredit, ApiKeyStatus
from node.auth.schemas import (
    ApiKeyCreate,
    ApiKeyOut,
    ApiKeyUpdate,
    Permission,
    legacy_permission,
)
from node.clock import iso_from_ms, now_ms
from node.crypto import SecretBox
from node.ids import new_id
from node.units import MAX_AMOUNT, UnitAmount, UnitDelta
from node.web import ApiError, field_error, not_found

TOKEN_PREFIX = "paynode_"
ADMIN_TOKEN_PREFIX = "paynode_admin_"
_TOKEN_ALPHABET = string.ascii_letters + string.digits
_TOKEN_RANDOM_CHARS = 40  # 62**40 > 2**238


@dataclass(frozen=True)
class Caller:
    """The authenticated key behind a request."""

    key: ApiKey

    def allows(self, permission: Permission) -> bool:
        if self.key.can_admin:
            return True
        if permission is Permission.PAY:
            return self.key.can_pay
        if permission is Permission.READ:
            return self.key.can_read or self.key.can_pay
        return False

    def allows_network(self, network_display_name: str) -> bool:
        return self.key.can_admin or network_display_name in self.key.network_limit


def generate_token(admin: bool = False) -> str:
    prefix = ADMIN_TOKEN_PREFIX if admin else TOKEN_PREFIX
    return prefix + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(_TOKEN_RANDOM_CHARS))


def authenticate(session: Session, box: SecretBox, token: str | None) -> Caller | None:
    """The active key with this token, or None. Lookup is by keyed hash: no plaintext is stored."""
    if not token or len(token) > 250:
        return None
    key = session.exec(select(ApiKey).where(ApiKey.token_hash == box.token_hash(token))).first()
    if key is None or key.status != ApiKeyStatus.ACTIVE or key.deleted_at is not None:
        return None
    return Caller(key)


def create_key(session: Session, box: SecretBox, request: ApiKeyCreate) -> tuple[ApiKey, str]:
    can_read, can_pay, can_admin = request.flags()
    token = generate_token(admin=can_admin)
    key = _insert_key(
        session,
        box,
        token=token,
        flags=(can_read, can_pay, can_admin),
        usage_limited=request.usage_limited,
        network_limit=list(request.network_limit),
    )
    for credit in _merge_credits(request.usage_credits):
        session.add(ApiKeyCredit(api_key_id=key.id, unit=credit.unit, amount=credit.amount))
    session.commit()
    return key, token


def _insert_key(
    session: Session,
    box: SecretBox,
    *,
    token: str,
    flags: tuple[bool, bool, bool],
    usage_limited: bool,
    network_limit: list[str],
) -> ApiKey:
    now = now_ms()
    key = ApiKey(
        id=new_id(),
        token_hash=box.token_hash(token),
        token_hint=token[-4:],
        can_read=flags[0],
        can_pay=flags[1],
        can_admin=flags[2],
        usage_limited=usage_limited,
        network_limit=network_limit,
        status=ApiKeyStatus.ACTIVE,
        created_at=now,
        updated_at=now,
    )
    session.add(key)
    session.flush()
    return key


def _merge_credits(credits: list[UnitAmount]) -> list[UnitAmount]:
    totals: dict[str, int] = {}
    for credit in credits:
        totals[credit.unit] = totals.get(credit.unit, 0) + credit.amount
        if totals[credit.unit] > MAX_AMOUNT:
            raise field_error("UsageCredits", f"total for unit {credit.unit!r} is too large")
    return [UnitAmount(unit=unit, amount=amount) for unit, amount in totals.items()]


def get_key(session: Session, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.deleted_at is not None:
        raise not_found("API key")
    return key


def list_keys(session: Session, limit: int, cursor_id: str | None) -> list[ApiKey]:
    """Newest first; `cursor_id` is the last id of the previous page."""
    query = select(ApiKey).where(col(ApiKey.deleted_at).is_(None))
    if cursor_id:
        query = query.where(col(ApiKey.id) < cursor_id)
    return list(session.exec(query.order_by(col(ApiKey.id).desc()).limit(limit)))


def update_key(session: Session, box: SecretBox, request: ApiKeyUpdate) -> ApiKey:
    key = get_key(session, request.id)
    if request.token is not None:
        token_hash = box.token_hash(request.token)
        clash = session.exec(select(ApiKey).where(ApiKey.token_hash == token_hash)).first()
        if clash is not None and clash.id != key.id:
            raise field_error("token", "is already used by another key", status_code=409)
        key.token_hash, key.token_hint = token_hash, request.token[-4:]
    if request.status is not None:
        if request.status == ApiKeyStatus.REVOKED:
            _refuse_revoking_last_admin(session, key)
        key.status = request.status
    if request.usage_limited is not None:
        key.usage_limited = request.usage_limited
    if request.network_limit is not None:
        key.network_limit = list(request.network_limit)
    _apply_credit_changes(session, key.id, request.usage_credits_to_add_or_remove)
    key.updated_at = now_ms()
    session.add(key)
    session.commit()
    return key


def _apply_credit_changes(session: Session, key_id: str, changes: list[UnitDelta]) -> None:
    for change in changes:
        credit = session.exec(
            select(ApiKeyCredit).where(
                ApiKeyCredit.api_key_id == key_id, ApiKeyCredit.unit == change.unit
            )
        ).first()
        current = credit.amount if credit else 0
        new_amount = current + change.amount
        if new_amount < 0:
            raise field_error(
                "UsageCreditsToAddOrRemove",
                f"unit {change.unit!r} has {current}, cannot remove {-change.amount}",
            )
        if new_amount > MAX_AMOUNT:
            raise field_error("UsageCreditsToAddOrRemove", "amount is too large")
        if credit is None:
            credit = ApiKeyCredit(api_key_id=key_id, unit=change.unit, amount=new_amount)
        credit.amount = new_amount
        session.add(credit)


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Soft delete: the row stays for the audit trail, the key stops working at once."""
    key = get_key(session, key_id)
    _refuse_revoking_last_admin(session, key)
    now = now_ms()
    key.status, key.deleted_at, key.updated_at = ApiKeyStatus.REVOKED, now, now
    session.add(key)
    session.commit()
    return key


def _refuse_revoking_last_admin(session: Session, key: ApiKey) -> None:
    if not key.can_admin or key.status != ApiKeyStatus.ACTIVE:
        return
    if _active_admin_count(session) <= 1:
        raise ApiError(
            409,
            "id: this is the last active admin key; create another admin key first",
            code="last_admin_key",
            fields=["id"],
        )


def _active_admin_count(session: Session) -> int:
    query = (
        select(func.count())
        .select_from(ApiKey)
        .where(
            col(ApiKey.can_admin).is_(True),
            ApiKey.status == ApiKeyStatus.ACTIVE,
            col(ApiKey.deleted_at).is_(None),
        )
    )
    return int(session.exec(query).one())


def ensure_admin_key(session: Session, box: SecretBox, configured: str | None) -> str | None:
    """Make sure an admin can get in. Returns a newly generated token, which the caller prints once.

    A configured key (PAYNODE_ADMIN_KEY) is registered if it is not yet; without one, a key is
    generated only when no active admin key exists.
    """
    if configured is not None:
        if authenticate(session, box, configured) is None:
            _insert_admin(session, box, configured)
        return None
    if _active_admin_count(session) > 0:
        return None
    token = generate_token(admin=True)
    _insert_admin(session, box, token)
    return token


def _insert_admin(session: Session, box: SecretBox, token: str) -> None:
    _insert_key(
        session,
        box,
        token=token,
        flags=(True, True, True),
        usage_limited=False,
        network_limit=["Devnet", "Preview", "Preprod", "Mainnet"],
    )
    session.commit()


def credits_of(session: Session, key_id: str) -> list[UnitAmount]:
    rows = session.exec(
        select(ApiKeyCredit)
        .where(ApiKeyCredit.api_key_id == key_id)
        .order_by(col(ApiKeyCredit.unit))
    )
    return [UnitAmount(unit=row.unit, amount=row.amount) for row in rows]


def to_out(session: Session, key: ApiKey, token: str | None = None) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        token=token if token is not None else "*****" + key.token_hint,
        can_read=key.can_read,
        can_pay=key.can_pay,
        can_admin=key.can_admin,
        permission=legacy_permission(key.can_read, key.can_pay, key.can_admin),
        usage_limited=key.usage_limited,
        remaining_usage_credits=credits_of(session, key.id),
        network_limit=key.network_limit,
        status=key.status,
        created_at=iso_from_ms(key.created_at),
        updated_at=iso_from_ms(key.updated_at),
    )
