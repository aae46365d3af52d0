from django.apps import AppConfig


class PayablesConfig(AppConfig):
    name = "payables"
