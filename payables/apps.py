from django.apps import AppConfig


class PayablesConfig(AppConfig):
    name = "payables"

    def ready(self) -> None:
        # The exception-action registry fills as payables.services.actions is imported; the
        # resolution services check every request against it, so it must be complete first.
        from payables.services import actions  # noqa: F401
