from django.urls import path

from interchange.api.exports import ExportView
from interchange.api.imports import ImportView

urlpatterns = [
    path("imports/<str:table>/", ImportView.as_view(), name="api-import"),
    path("exports/<str:table>/", ExportView.as_view(), name="api-export"),
]
