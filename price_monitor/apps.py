from django.apps import AppConfig


class PriceMonitorConfig(AppConfig):
    name = "price_monitor"
    verbose_name = "价格监测 / Price monitoring"
