"""phiguard_decrypt against the test vectors of testdata/fieldcrypt and against tokens the Go code
made (PHIGUARD_GO_TOKENS, written by the Go test that runs this file)."""

import json
import os
import tempfile
import unittest

import phiguard_decrypt as pd

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
VECTORS = os.path.join(ROOT, "testdata", "fieldcrypt")


def load(name):
    with open(os.path.join(VECTORS, name + ".json")) as f:
        return json.load(f)


class Vectors(unittest.TestCase):
    def check_file(self, name):
        f = load(name)
        rings = {}
        for k in f["keys"]:
            ring = pd.Keyring()
            ring.add_pem(k["private_key_pem"], k["key_id"])
            self.assertEqual(ring.fingerprint_of(k["private_key_pem"]), k["fingerprint"], "%s key %s" % (name, k["name"]))
            rings[k["name"]] = ring
        for i, v in enumerate(f["vectors"]):
            value = rings[v["key"]].decrypt_value(v["token"])
            self.assertEqual(value.data, v["plaintext"].encode(), "%s vector %d" % (name, i))
            if v.get("version") == 2:
                self.assertEqual(value.type, v["type"], "%s vector %d" % (name, i))
                if v["type"] == "string":
                    self.assertEqual(json.loads(value.json()), json.loads(v["json"]))
                else:
                    self.assertEqual(value.json(), v["json"], "%s vector %d" % (name, i))
            else:
                self.assertIsNone(value.type)
            info = pd.inspect(v["token"])
            self.assertEqual(info.algorithm, f["algorithm"])
        for i, v in enumerate(f["invalid"]):
            with self.assertRaises(pd.DecryptError, msg="%s invalid vector %d (%s)" % (name, i, v["reason"])):
                rings[v["key"]].decrypt_value(v["token"])
        return len(f["vectors"]) + len(f["invalid"])

    def test_rsa(self):
        self.assertGreater(self.check_file("rsa-oaep-sha256"), 20)

    def test_p256(self):
        self.assertGreater(self.check_file("hpke-p256"), 40)

    def test_xwing(self):
        if not pd.xwing_available():
            self.fail("this cryptography has no ML-KEM: hpke-xwing cannot be tested (install the pinned requirements)")
        self.assertGreater(self.check_file("hpke-xwing"), 40)

    def test_types_and_python_values(self):
        f = load("hpke-p256")
        ring = pd.Keyring()
        ring.add_pem(f["keys"][0]["private_key_pem"], f["keys"][0]["key_id"])
        got = {v["json"]: ring.decrypt(v["token"]) for v in f["vectors"] if v.get("version") == 2}
        self.assertEqual(got['"42"'], "42")
        self.assertEqual(got["42"], 42)
        self.assertIs(got["true"], True)
        self.assertEqual(got['{"line1":"1 Main St","zip":"02139"}'], {"line1": "1 Main St", "zip": "02139"})
        v = [v for v in f["vectors"] if v.get("json") == "42.50"][0]
        self.assertEqual(ring.decrypt_json(v["token"]), "42.50")
        self.assertEqual(str(ring.decrypt(v["token"], exact_numbers=True)), "42.50")
        self.assertEqual(ring.decrypt_text(v["token"]), "42.50")
        self.assertIsNone(ring.decrypt_text(None))
        self.assertIsNone(ring.decrypt_text(""))

    def test_a_key_without_an_id_is_found_and_errors_say_why(self):
        f = load("hpke-p256")
        ring = pd.Keyring()
        ring.add_pem(f["keys"][0]["private_key_pem"])  # no key id: tried on every P-256 token
        v = f["vectors"][0]
        self.assertEqual(ring.decrypt_value(v["token"]).data, v["plaintext"].encode())
        self.assertRaises(pd.UnknownKey, pd.Keyring().decrypt, v["token"])
        self.assertRaises(pd.MalformedToken, ring.decrypt, "alice@example.com")
        with self.assertRaises(pd.DecryptError) as cm:
            ring.decrypt(v["token"][:-2] + ("A" if v["token"][-2] != "A" else "B") + v["token"][-1])
        self.assertNotIn(v["plaintext"], str(cm.exception))

    def test_key_files_and_saved_responses(self):
        f = load("hpke-p256")
        k = f["keys"][0]
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "a.pem"), "w") as out:
                out.write("Key-ID: %s\nAlgorithm: hpke-p256\nFingerprint: %s\n%s" % (k["key_id"], k["fingerprint"], k["private_key_pem"]))
            with open(os.path.join(d, "a.pub"), "w") as out:
                out.write(k["public_key_pem"])
            ring = pd.Keyring.from_paths(d)
            self.assertEqual(ring.decrypt(f["vectors"][0]["token"]), f["vectors"][0]["plaintext"])
            with open(os.path.join(d, "bad.pem"), "w") as out:
                out.write("Fingerprint: SHA256:wrong\n" + k["private_key_pem"])
            self.assertRaises(ValueError, pd.Keyring().add_path, os.path.join(d, "bad.pem"))
        ring = pd.Keyring()
        self.assertEqual(ring.add_saved_response(json.dumps({"id": k["key_id"], "privateKey": k["private_key_pem"]})), k["key_id"])
        self.assertEqual(ring.decrypt(f["vectors"][0]["token"]), f["vectors"][0]["plaintext"])


class GoTokens(unittest.TestCase):
    """Tokens and events the Go code produced (phictl encrypt, i.e. shared/transform and
    shared/fieldcrypt), with the key files phictl keygen wrote."""

    def test_go_tokens(self):
        path = os.environ.get("PHIGUARD_GO_TOKENS")
        if not path:
            self.skipTest("PHIGUARD_GO_TOKENS not set (the Go test TestPythonPackage sets it)")
        with open(path) as f:
            cases = json.load(f)
        self.assertTrue(cases)
        for c in cases:
            ring = pd.Keyring.from_paths(c["key_file"])
            for line, want in zip(c["protected"], c["plain"]):
                got = ring.decrypt_event(json.loads(line))
                got.pop("_phi", None)
                self.assertEqual(got, json.loads(want), c["algorithm"])
                # exact JSON text too: 42.50 stays 42.50
            for tok, want_json in c["tokens"]:
                self.assertEqual(ring.decrypt_json(tok), want_json, c["algorithm"])


if __name__ == "__main__":
    unittest.main()
