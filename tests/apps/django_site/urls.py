from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("echo/<path:rest>", views.echo),
    path("upload", views.upload),
]
