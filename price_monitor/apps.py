from django.apps import AppConfig


class PriceMonitorConfig(AppConfig):
    name = "price_monitor"
    verbose_name = "价格监测 / Price monitoring"

    def ready(self) -> None:
        from interchange.signals import table_imported
        from price_monitor.receivers import on_table_imported

        table_imported.connect(on_table_imported, dispatch_uid="price_monitor.observations")
