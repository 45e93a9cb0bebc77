"""The project's URLs plus one plain JSON endpoint, to exercise the API plumbing alone."""

from django.urls import path
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import Conflict
from config.urls import urlpatterns as project_urlpatterns


class EchoSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=20)
    count = serializers.IntegerField(min_value=0)


class EchoView(APIView):
    permission_classes = [AllowAny]

    def post(self, request):
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data["name"] == "taken":
            raise Conflict("name_taken", "That name is taken.", attr="name")
        return Response(serializer.validated_data, status=201)

    def get(self, request):
        raise RuntimeError("boom: an unexpected crash")


class PrivateView(APIView):
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("api/v1/_test/echo", EchoView.as_view()),
    path("api/v1/_test/private", PrivateView.as_view()),
    *project_urlpatterns,
]
