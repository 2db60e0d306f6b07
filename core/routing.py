from django.urls import path

from .consumers import WorkspaceConsumer

websocket_urlpatterns = [path("ws/", WorkspaceConsumer.as_asgi())]
