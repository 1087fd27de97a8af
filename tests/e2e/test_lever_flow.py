"""Lever end to end: a webhook signed as Lever signs it (hex HMAC-SHA256 of
token .. triggeredAt inside the body) makes the real binary re-fetch the
opportunity, invite through the Coderbyte fake and tag + note through the
Lever fake — and nothing else."""

import json
import time
import unittest

from flowkit import (CODERBYTE_KEY, DaemonCase, fake, basic, brief, invite_note, lever_delivery,
                     journaled, non_get, show, wait_event, wait_run, event_rows)

SIG_TOKEN = "lever-sig-token-e2e"
API_KEY = "lever-test-key"
BOT = "05e40000-0000-4000-8000-000000000001"
ADA_OPP = "0dd50000-0000-4000-8000-000000000001"
ADA_CONTACT = "c0c70000-0000-4000-8000-000000000001"
ALAN_OPP = "0dd50000-0000-4000-8000-000000000002"
PHONE = "5a9e0000-0000-4000-8000-000000000001"
TECH = "5a9e0000-0000-4000-8000-000000000002"
BACKEND = "b05f0000-0000-4000-8000-000000000001"

SCRIPT = """
automation {
    name = "Invite backend screen",
    trigger = applicant_moved_to_stage { job = "Backend Engineer", stage = "Technical Screen" },
    action = send_assessment_invite { assessment = "Backend Take-Home", add_tag = "coderbyte-invited", post_note = true },
}
"""


def moved(opp, contact, from_stage, to_stage):
    return {"opportunityId": opp, "candidateId": opp, "contactId": contact,
            "fromStageId": from_stage, "toStageId": to_stage}


class LeverFlow(DaemonCase, unittest.TestCase):
    SCRIPTS = {"invite.lua": SCRIPT}

    @classmethod
    def setUpClass(cls):
        cls.lever = fake("lever")
        cls.cb = fake("coderbyte")


    def config(self):
        return """
ats = { lever = { api_key = "%s", perform_as = "%s", signature_token = "%s", base_url = "%s" } }
coderbyte = { api_key = "%s", organization_id = "acme", base_url = "%s" }
limits = { catalog_refresh = "1h" }
""" % (API_KEY, BOT, SIG_TOKEN, self.lever.url, CODERBYTE_KEY, self.cb.url)

    def setUp(self):
        self.lever.reset()
        self.cb.reset()
        self.d = self.start_daemon()

    def send(self, body):
        return self.d.post("lever", body, {"Content-Type": "application/json"})

    def test_stage_change_refetches_invites_tags_and_notes(self):
        body, key = lever_delivery(SIG_TOKEN, moved(ADA_OPP, ADA_CONTACT, PHONE, TECH))
        r = self.send(body)
        self.assertEqual(r.status, 200, r.text)
        self.assertEqual(r.text.strip(), "ok")
        ev_id = "lever:%s:0" % key
        run = wait_run(self.d, ev_id)

        # the opportunity was re-fetched: the event is built from Lever's state
        self.assertTrue(self.lever.requests(path_prefix="/v1/opportunities/" + ADA_OPP, method="GET"))
        ev = show(self.d, ev_id)["payload"]
        self.assertEqual(ev["type"], "applicant.moved_to_stage")
        self.assertEqual(ev["candidate"], {"id": ADA_CONTACT, "name": "Ada Lovelace",
                                           "emails": ["ada@example.com", "ada.work@example.org"]})
        self.assertEqual(ev["application"], {"id": ADA_OPP})
        self.assertEqual(ev["job"], {"id": BACKEND, "name": "Backend Engineer"})
        self.assertEqual(ev["stage"], {"id": TECH, "name": "Technical Screen"})
        self.assertEqual(ev["previous_stage"], {"id": PHONE, "name": "Phone Screen"})

        invites = non_get(self.cb)
        self.assertEqual(brief(invites), [("POST", "/api/v1/assessments/backend-take-home-9x1/invitations",
                                           {}, {"email": "ada@example.com", "name": "Ada Lovelace"})])
        self.assertEqual(invites[0]["headers"]["authorization"], "Bearer " + CODERBYTE_KEY)
        self.assertEqual(invites[0]["headers"]["idempotency-key"], "%d:1" % run["id"])

        writes = non_get(self.lever)
        note = invite_note("Backend Take-Home", ev) + "\n[atsflow:%d:3]" % run["id"]
        self.assertEqual(brief(writes), [
            ("POST", "/v1/opportunities/%s/addTags" % ADA_OPP, {"perform_as": BOT},
             {"tags": ["coderbyte-invited"]}),
            ("POST", "/v1/opportunities/%s/notes" % ADA_OPP, {"perform_as": BOT}, {"value": note}),
        ])
        for w in writes:
            self.assertEqual(w["headers"]["authorization"], basic(API_KEY))
        opp = [o for o in self.lever.state()["opportunities"] if o["id"] == ADA_OPP][0]
        self.assertEqual(opp["tags"], ["coderbyte-invited"])

    def test_body_is_not_trusted_only_the_fetched_state(self):
        # the (unsigned) body claims Alan reached Technical Screen; Lever says
        # he is still a new applicant, so nothing fires
        body, key = lever_delivery(SIG_TOKEN, moved(ALAN_OPP, "c0c70000-0000-4000-8000-000000000002",
                                                    "applicant-new", TECH))
        self.assertEqual(self.send(body).status, 200)
        wait_event(self.d, "lever:%s:0" % key, "ignored")
        self.assertEqual(non_get(self.cb), [])
        self.assertEqual(non_get(self.lever), [])

    def test_stage_nobody_refers_to_is_ignored_without_writes(self):
        self.lever.control("POST", "update", {"collection": "opportunities", "id": ADA_OPP,
                                              "set": {"stage": PHONE}})
        body, key = lever_delivery(SIG_TOKEN, moved(ADA_OPP, ADA_CONTACT, "applicant-new", PHONE))
        self.assertEqual(self.send(body).status, 200)
        row = wait_event(self.d, "lever:%s:0" % key, "ignored")
        self.assertIn("no automation refers to", row)
        self.assertEqual(non_get(self.cb), [])
        self.assertEqual(non_get(self.lever), [])

    def test_duplicate_delivery_is_answered_once(self):
        body, key = lever_delivery(SIG_TOKEN, moved(ADA_OPP, ADA_CONTACT, PHONE, TECH))
        self.assertEqual(self.send(body).status, 200)
        wait_run(self.d, "lever:%s:0" % key)
        r = self.send(body)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.text.strip(), "duplicate")
        time.sleep(0.2)  # give a (wrong) second run the chance to show up
        self.assertEqual(len(non_get(self.cb)), 1)
        self.assertEqual(len([r for r in event_rows(self.d) if key in r[1]]), 1)
        self.assertEqual(journaled(self.d, "lever"), [key])

    def test_bad_signature_is_401_and_not_journaled(self):
        body, key = lever_delivery(SIG_TOKEN, moved(ADA_OPP, ADA_CONTACT, PHONE, TECH))
        forged = json.loads(body)
        forged["signature"] = "0" * 64
        r = self.send(json.dumps(forged).encode())
        self.assertEqual(r.status, 401)
        # signed with another token
        body2, key2 = lever_delivery("not-the-token", moved(ADA_OPP, ADA_CONTACT, PHONE, TECH))
        self.assertEqual(self.send(body2).status, 401)
        out = self.d.cli("events").stdout
        self.assertNotIn(key, out)
        self.assertNotIn(key2, out)
        self.assertEqual(journaled(self.d, "lever"), [])
        self.assertEqual(self.lever.requests(path_prefix="/v1/opportunities"), [])
        self.assertEqual(non_get(self.cb), [])

    def test_stale_triggered_at_is_401(self):
        day_ago = int(time.time() * 1000) - 25 * 3600 * 1000
        body, key = lever_delivery(SIG_TOKEN, moved(ADA_OPP, ADA_CONTACT, PHONE, TECH),
                                   triggered_at=day_ago)
        self.assertEqual(self.send(body).status, 401)
        self.assertNotIn(key, self.d.cli("events").stdout)
        self.assertEqual(journaled(self.d, "lever"), [])

    def test_connection_test_is_200_and_not_journaled(self):
        body, key = lever_delivery(SIG_TOKEN, {})
        r = self.send(body)
        self.assertEqual(r.status, 200, r.text)
        self.assertNotIn(key, self.d.cli("events").stdout)
        self.assertEqual(journaled(self.d, "lever"), [])
        self.assertEqual(self.lever.requests(path_prefix="/v1/opportunities"), [])


if __name__ == "__main__":
    unittest.main()
