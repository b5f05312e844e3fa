"""The embedded email backend: each message is written as an .eml file to a local outbox.

Staff can browse it at /dev/outbox/ while it is the configured backend, so the demo's
survey emails can be opened and their links clicked without any mail server.
"""

import uuid
from email import policy
from email.parser import BytesParser
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone


def outbox_dir() -> Path:
    return Path(settings.EMAIL_OUTBOX_DIR)


class OutboxEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        directory = outbox_dir()
        directory.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            stamp = timezone.now().strftime("%Y%m%dT%H%M%S%f")
            path = directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(message.message().as_bytes(linesep="\n"))
            tmp.replace(path)
            sent += 1
        return sent


def list_messages(limit: int = 200) -> list[dict]:
    directory = outbox_dir()
    if not directory.exists():
        return []
    files = sorted(directory.glob("*.eml"), reverse=True)[:limit]
    return [{"id": path.stem, **_headers(path)} for path in files]


def _headers(path: Path) -> dict:
    with path.open("rb") as fh:
        parsed = BytesParser(policy=policy.default).parse(fh, headersonly=True)
    return {"subject": parsed["subject"], "to": parsed["to"], "date": parsed["date"]}


def read_message(message_id: str):
    if not message_id.replace("-", "").replace("T", "").isalnum():
        return None
    path = outbox_dir() / f"{message_id}.eml"
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        return BytesParser(policy=policy.default).parse(fh)
