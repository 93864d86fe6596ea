"""Notifications: the outbox dispatcher, webhook delivery (Standard Webhooks), WebSub.

Importing the package registers the delivery jobs with the scheduler (nothing runs until
``build_scheduler`` calls them).
"""

from feedsvc.notify import jobs as _jobs  # noqa: F401  (registers scheduler jobs)
from feedsvc.notify import websub_jobs as _websub_jobs  # noqa: F401  (registers WebSub jobs)
