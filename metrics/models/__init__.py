"""The metrics app's models, one module per subject: report settings and the health history
(`health`), the report rollups (`rollups`), export jobs (`exports`). Scores are computed from
the data; the only ones stored are the daily health snapshots."""

from .exports import ExportJob
from .health import (
    CONFIG_FIELDS,
    HealthSegmentWeights,
    HealthSettings,
    HealthSettingsVersion,
    HealthSnapshot,
)
from .rollups import (
    AnswerRollup,
    InvitationRollup,
    InvitationRollupExclusion,
    LedgerMonth,
    TicketCounts,
    TicketGroupBucket,
    TicketGroupRollup,
    TicketRollup,
    TicketTimeBucket,
)

__all__ = [
    "CONFIG_FIELDS",
    "AnswerRollup",
    "ExportJob",
    "HealthSegmentWeights",
    "HealthSettings",
    "HealthSettingsVersion",
    "HealthSnapshot",
    "InvitationRollup",
    "InvitationRollupExclusion",
    "LedgerMonth",
    "TicketCounts",
    "TicketGroupBucket",
    "TicketGroupRollup",
    "TicketRollup",
    "TicketTimeBucket",
]
