"""Native tests of src/logic.py: `spore module test` runs them with unittest."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import logic  # noqa: E402


class LogicTest(unittest.TestCase):
    def test_sums_wrapping(self):
        data = (2**64 - 1).to_bytes(8, "little") + (2).to_bytes(8, "little")
        self.assertEqual(logic.validate_compute("sum", data), bytes([1] + [0] * 7 + [2, 0, 0, 0]))

    def test_rejects_what_it_cannot_sum(self):
        self.assertEqual(logic.validate_compute("sum", b"abc").code, "malformed")
        self.assertEqual(logic.validate_compute("other", b"").code, "unsupported")


if __name__ == "__main__":
    unittest.main()
