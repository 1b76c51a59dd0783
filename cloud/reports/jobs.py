"""The report jobs: scheduled reports sent to their subscribers."""

from __future__ import annotations

import logging
from typing import Final

from sqlalchemy import Engine

from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Every, Job
from cloud.notify.settings import NotifySettings
from cloud.reports.mail import Attachment, send_report_mail
from cloud.reports.schedule import Mailer, send_due
from cloud.settings import CloudSettings

logger = logging.getLogger(__name__)

REPORT_MAIL: Final = "report_mail"
# Reports go out from 06:00 local; a run every 5 minutes finds them soon after, and a run
# with nothing due is one small query per subscription.
EVERY_S: Final = 300.0


def smtp_mailer(settings: NotifySettings) -> Mailer:
    def mail(to: str, subject: str, body: str, attachment: Attachment) -> None:
        send_report_mail(settings, to=to, subject=subject, body=body, attachment=attachment)

    return mail


def report_jobs(settings: CloudSettings, engine: Engine, *, clock: Clock = utc_now) -> list[Job]:
    """Mail the reports that are due; none without a mail server to send them through."""
    if settings.notify.smtp_host is None:
        logger.info("scheduled reports are off: no mail server (YZ_CLOUD_NOTIFY__SMTP_HOST)")
        return []
    mail = smtp_mailer(settings.notify)
    return [Job(REPORT_MAIL, Every(EVERY_S), lambda: send_due(engine, now=clock(), mail=mail))]
