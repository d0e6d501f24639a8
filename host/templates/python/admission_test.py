"""Native tests of src/logic.py: `spore module test` runs them with unittest."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import logic  # noqa: E402


class LogicTest(unittest.TestCase):
    def test_admits_with_enough_distinct_sponsors(self):
        a, b = bytes([1] * 32), bytes([2] * 32)
        self.assertEqual(logic.reasons([a, b], 2, "n9"), [])
        self.assertEqual(logic.reasons([a, a], 2, "n9"), ["1 distinct sponsors, 2 required"])
        self.assertEqual(logic.reasons([a, b], 2, " "), ["the candidate has no name"])


if __name__ == "__main__":
    unittest.main()
