import json
import urllib.request

from django.test import LiveServerTestCase, TestCase


class NoteViews(TestCase):
    def test_add_then_list(self):
        self.client.get("/notes/add/", {"text": "hello"})
        response = self.client.get("/notes/")
        self.assertEqual(response.json(), {"notes": ["hello"]})

    def test_empty_list(self):
        self.assertEqual(self.client.get("/notes/").json(), {"notes": []})


class StatusView(TestCase):
    def test_status(self):
        self.assertEqual(self.client.get("/status/").json(), {"ok": True})


class LiveServer(LiveServerTestCase):
    """The server thread is the class's (setUpClass); the request is the test's."""

    def test_list_over_http(self):
        with urllib.request.urlopen(self.live_server_url + "/notes/") as response:
            self.assertEqual(json.loads(response.read()), {"notes": []})
