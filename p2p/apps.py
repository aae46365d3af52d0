from django.apps import AppConfig


class P2PConfig(AppConfig):
    name = "p2p"
    verbose_name = "Platform"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from p2p.accounts import stamp_sign_in

        # Session timeouts and password confirmation count from the moment of sign-in.
        user_logged_in.connect(stamp_sign_in, dispatch_uid="p2p-stamp-sign-in")
