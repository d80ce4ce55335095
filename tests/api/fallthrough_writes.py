"""A stand-in for a feature's write routes (like procurement.api.receipt_urls) for test_viewsets."""

from django.http import JsonResponse
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView


class CreateThing(APIView):
    def post(self, request):
        return Response({"created": request.data.get("name")}, status=201)


def plain_view(request):  # not csrf-exempt: the fall-through must still check CSRF
    return JsonResponse({"plain": True}, status=201)


urlpatterns = [
    path("regions/", CreateThing.as_view()),
    path("plain/", plain_view),
]
