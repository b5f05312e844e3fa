"""Checking one row of the contact import: every problem of the row, or its clean values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from .models import CURRENCY_CODES, EXTERNAL_ID_CHARACTERS, Account, validate_external_id

CONTACT_COLUMNS = ("email", "name", "language")
ACCOUNT_COLUMNS = (
    "external_id",
    "account_name",
    "plan",
    "segment",
    "region",
    "status",
    "owner",
    "mrr",
    "currency",
    "start_date",
    "renewal_date",
    "stripe_customer_id",
    "seats",
)
KNOWN_COLUMNS = CONTACT_COLUMNS + ACCOUNT_COLUMNS
PROPERTY_PREFIX = "property_"
LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}
CURRENCIES = {code for code, _name in CURRENCY_CODES}
STATUSES = set(Account.Status.values)
MAX_LENGTHS = {
    "email": 254,
    "name": 200,
    "external_id": 100,
    "account_name": 200,
    "plan": 100,
    "segment": 100,
    "region": 100,
    "stripe_customer_id": 255,
}
# The account's fields a row can set, in the order of the staging table's columns.
ACCOUNT_FIELDS = (
    "name",
    "plan",
    "segment",
    "region",
    "status",
    "owner_id",
    "mrr",
    "currency",
    "start_date",
    "renewal_date",
    "stripe_customer_id",
    "seats",
)


def owners() -> dict[str, int]:
    """Active staff users by lower-cased username and email: who may own an account."""
    users = get_user_model().objects.filter(is_staff=True, is_active=True)
    found: dict[str, int] = {}
    for pk, username, email in users.values_list("pk", "username", "email"):
        found[username.lower()] = pk
        if email:
            found.setdefault(email.lower(), pk)
    return found


def decimal_text(value: str) -> str:
    """Accept 1234.56, 1234,56, 1,234.56 and 1.234,56: the last separator is the decimal one."""
    text = value.replace(" ", "").replace("\u00a0", "")
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            return text.replace(".", "").replace(",", ".")
        return text.replace(",", "")
    return text.replace(",", ".")


def _date(value: str, reasons: list[str]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        reasons.append(_("%(value)r is not a date as YYYY-MM-DD.") % {"value": value})
        return None


def _mrr(value: str, reasons: list[str]) -> Decimal | None:
    try:
        amount = Decimal(decimal_text(value))
    except InvalidOperation:
        reasons.append(_("MRR %(value)r is not a number.") % {"value": value})
        return None
    if not amount.is_finite() or amount < 0:
        reasons.append(_("MRR must be zero or more."))
        return None
    # Magnitude first: quantizing 1e999 or a 29-digit number overflows Decimal's precision.
    if amount >= Decimal("1e12") or amount != amount.quantize(Decimal("0.01")):
        reasons.append(_("MRR %(value)r has too many digits.") % {"value": value})
        return None
    return amount.quantize(Decimal("0.01"))


def _contact_part(row: dict[str, str], reasons: list[str]) -> dict:
    contact: dict = {}
    email = row.get("email", "")
    if email and len(email) <= MAX_LENGTHS["email"]:
        try:
            validate_email(email)
        except ValidationError:
            reasons.append(_("%(value)r is not a valid email address.") % {"value": email})
        contact["email"] = email
    if row.get("name"):
        contact["name"] = row["name"]
    language = row.get("language", "").lower().replace("_", "-")
    if language:
        if language not in LANGUAGE_CODES:
            reasons.append(
                _("Unknown language %(value)r; use one of %(choices)s.")
                % {"value": row["language"], "choices": ", ".join(sorted(LANGUAGE_CODES))}
            )
        contact["language"] = language
    return contact


def _account_part(row: dict[str, str], owner_ids: dict[str, int], reasons: list[str]) -> dict:
    account: dict = {}
    external_id = row.get("external_id", "")
    if external_id:
        try:
            validate_external_id(external_id)
        except ValidationError:
            reasons.append(
                _("external_id %(value)r: %(rule)s")
                % {"value": external_id, "rule": EXTERNAL_ID_CHARACTERS}
            )
        account["external_id"] = external_id
    for column, attribute in (
        ("account_name", "name"),
        ("plan", "plan"),
        ("segment", "segment"),
        ("region", "region"),
        ("stripe_customer_id", "stripe_customer_id"),
    ):
        if row.get(column):
            account[attribute] = row[column]
    status = row.get("status", "").lower()
    if status:
        if status not in STATUSES:
            reasons.append(
                _("Unknown status %(value)r; use one of %(choices)s.")
                % {"value": row["status"], "choices": ", ".join(sorted(STATUSES))}
            )
        account["status"] = status
    owner = row.get("owner", "").lower()
    if owner:
        if owner not in owner_ids:
            reasons.append(
                _("No active staff user %(value)r to own the account.") % {"value": row["owner"]}
            )
        account["owner_id"] = owner_ids.get(owner)
    if row.get("mrr"):
        account["mrr"] = _mrr(row["mrr"], reasons)
    currency = row.get("currency", "").upper()
    if currency:
        if currency not in CURRENCIES:
            reasons.append(_("Unknown currency %(value)r.") % {"value": row["currency"]})
        account["currency"] = currency
    for column in ("start_date", "renewal_date"):
        if row.get(column):
            account[column] = _date(row[column], reasons)
    seats = row.get("seats", "")
    if seats:
        if not seats.isdigit() or int(seats) > 2**31 - 1:
            reasons.append(
                _("Seats %(value)r is not a whole number of 0 or more.") % {"value": seats}
            )
        else:
            account["seats"] = int(seats)
    return account


def clean_row(row: dict[str, str], owner_ids: dict[str, int]) -> tuple[list[str], dict, dict, dict]:
    """(every problem of the row, contact fields, account fields, properties), the fields with
    only the non-empty cells."""
    reasons: list[str] = []
    for name, limit in MAX_LENGTHS.items():
        if len(row.get(name, "")) > limit:
            reasons.append(
                _("%(column)s is longer than %(limit)s characters.")
                % {"column": name, "limit": limit}
            )
    contact = _contact_part(row, reasons)
    account = _account_part(row, owner_ids, reasons)
    properties = {
        name[len(PROPERTY_PREFIX) :]: value
        for name, value in row.items()
        if name.startswith(PROPERTY_PREFIX) and value
    }
    has_email = bool(row.get("email"))
    if not has_email and not row.get("external_id"):
        reasons.append(_("A row needs an email (a contact) or an external_id (an account)."))
    elif account and not row.get("external_id"):
        reasons.append(_("Account columns need the account's external_id."))
    if properties and not has_email:
        reasons.append(_("Property columns belong to contacts; this row has no email."))
    return reasons, contact, account, properties
