from django.urls import path

from . import search

app_name = "home"
urlpatterns = [
    path("search/", search.search, name="search"),
]
