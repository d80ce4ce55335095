from django.apps import AppConfig


class PartiesConfig(AppConfig):
    name = "parties"
    verbose_name = "参与方 / Parties"

    def ready(self):
        from parties import signals

        signals.connect_axes()
