"""The surveys app's models, one module per subject: `survey` (surveys, campaigns, scales),
`invitation` (the outbox row) and `response` (answers, referrals)."""

from .invitation import Invitation
from .response import Referral, Response
from .survey import (
    ALLOWED_SCALES,
    DEFAULT_SCALES,
    PROPERTY_NAME,
    Audience,
    Campaign,
    Kind,
    Survey,
    contrast_on_white,
    default_question,
    new_token,
    split_list,
)

__all__ = [
    "ALLOWED_SCALES",
    "Audience",
    "Campaign",
    "DEFAULT_SCALES",
    "Invitation",
    "Kind",
    "PROPERTY_NAME",
    "Referral",
    "Response",
    "Survey",
    "contrast_on_white",
    "default_question",
    "new_token",
    "split_list",
]
