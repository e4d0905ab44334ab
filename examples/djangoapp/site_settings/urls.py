from django.urls import path
from notes import views

urlpatterns = [
    path("notes/", views.list_notes),
    path("notes/add/", views.add_note),
    path("status/", views.status),
]
