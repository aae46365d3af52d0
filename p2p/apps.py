from django.apps import AppConfig


class P2PConfig(AppConfig):
    name = "p2p"
    verbose_name = "Platform"
