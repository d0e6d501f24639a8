"""Native tests of src/logic.py: `spore module test` runs them with unittest."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import logic  # noqa: E402


class LogicTest(unittest.TestCase):
    def test_accepts_a_trusted_majority_else_escalates(self):
        self.assertEqual(logic.resolve([(True, 4000), (True, 6000), (False, 9000)]), (1, None))
        index, reason = logic.resolve([(True, 4000), (True, 5000), (False, 9000)])
        self.assertIsNone(index)
        self.assertIn("5000 bps", reason)


if __name__ == "__main__":
    unittest.main()
