"""Notifications: the outbox dispatcher, webhook delivery (Standard Webhooks), the WebSub hub.

Nothing here schedules itself: ``feedsvc.scheduler`` names the jobs in ``notify.jobs``.
"""
