"""feedsvc: a self-hosted feed service (the app factory is ``feedsvc.app.create_app``)."""

__version__ = "0.1.0"
