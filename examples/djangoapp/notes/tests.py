from django.test import TestCase


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
