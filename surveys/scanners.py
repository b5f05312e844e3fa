"""Bot signals: how likely it is that a mail security scanner, not a person, produced a request.

Scanners (Microsoft Safe Links, Mimecast, Proofpoint, ...) fetch every link of a message within
seconds of delivery, often with HEAD first, sometimes in a headless browser that runs scripts.

Two kinds of signals are stored with each response:

- `reasons`, about the confirming request itself: a scanner's user agent, an answer within
  seconds of delivery, or a confirmation that claims no human action. Any of them makes the
  answer a suspected bot, which is quarantined (counts nowhere) until staff release it.
- `context`, about the invitation's history: every score link fetched, HEAD before GET. A
  person who answers after their mail server's scanner fetched the links (the usual case behind
  Safe Links) is still a person, so these are shown to staff but never quarantine an answer.
"""

import re

from django.utils import timezone

from .models import Invitation

# Lower-case fragments of the user agents of mail scanners, link previewers and scripts.
SCANNER_USER_AGENT_FRAGMENTS = (
    "safelinks", "safe links", "mimecast", "proofpoint", "barracuda", "bingpreview", "symantec",
    "messagelabs", "fireeye", "trendmicro", "trend micro", "forcepoint", "sophos", "zscaler",
    "ironport", "cisco", "avanan", "checkpoint", "googleimageproxy", "yahoomailproxy",
    "headlesschrome", "phantomjs", "python-requests", "python-urllib", "curl/", "wget/",
    "go-http-client", "okhttp", "java/", "libwww", "scrapy", "crawler", "spider", "scanner",
)  # fmt: skip
# "bot" only as a word: "Cubot" phones and "robot" in a browser's name are people.
SCANNER_USER_AGENT_WORDS = re.compile(r"\bbot\b")
# Faster than a person can open a message, read it and tap.
HUMAN_MIN_SECONDS = 5
# What an old version of the page's script sent after a few seconds on screen, with no tap,
# key or typing: a view, not an answer.
NO_HUMAN_ACTION = "visible"


def is_scanner_user_agent(user_agent: str) -> bool:
    # Substring tests: one regex of all the alternatives costs more than the rest of an answer.
    agent = (user_agent or "").lower()
    return any(fragment in agent for fragment in SCANNER_USER_AGENT_FRAGMENTS) or bool(
        SCANNER_USER_AGENT_WORDS.search(agent)
    )


def collect(*, invitation: Invitation, user_agent: str, via: str) -> dict:
    """The signals for one confirmation of an answer, with the reasons that make it suspect."""
    fetches = invitation.link_fetches or {}
    scale_size = invitation.survey.scale_max - invitation.survey.scale_min + 1
    scores_fetched = sorted(set(fetches.get("scores", [])))
    delivered = invitation.sent_at
    seconds = (timezone.now() - delivered).total_seconds() if delivered else None
    signals = {
        "via": via,
        "seconds_since_delivery": round(seconds, 1) if seconds is not None else None,
        "get_count": fetches.get("get", 0),
        "head_count": fetches.get("head", 0),
        "first_method": fetches.get("first", ""),
        "scores_fetched": scores_fetched,
        "all_links_fetched": len(scores_fetched) == scale_size,
        "user_agent": (user_agent or "")[:300],
        "known_scanner_user_agent": is_scanner_user_agent(user_agent),
    }
    reasons = []
    if signals["known_scanner_user_agent"]:
        reasons.append("scanner user agent")
    if seconds is not None and seconds < HUMAN_MIN_SECONDS:
        reasons.append("answered within seconds of delivery")
    if via == NO_HUMAN_ACTION:
        reasons.append("confirmed without a human action")
    context = []
    if signals["all_links_fetched"]:
        context.append("every score link fetched")
    if signals["head_count"] and signals["first_method"] == "HEAD":
        context.append("HEAD before GET")
    signals["reasons"] = reasons
    signals["context"] = context
    return signals
