"""Views: two clean ones, and one that leaks a socket per request (a
"status check" that keeps its probe connection in a module list)."""

import socket

from django.http import JsonResponse

from notes.models import Note

_PROBES = []


def list_notes(request):
    return JsonResponse({"notes": [n.text for n in Note.objects.order_by("id")]})


def add_note(request):
    note = Note.objects.create(text=request.GET.get("text", ""))
    return JsonResponse({"id": note.id})


def status(request):
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    _PROBES.append(probe)  # never closed: one socket per request
    return JsonResponse({"ok": True})
