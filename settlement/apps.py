from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "settlement"
    verbose_name = "结算 / Settlement"

    def ready(self):
        from settlement import receivers

        receivers.connect()
