"""Tests of the layout comparison's own parts: metrics, generators, sfdp output
parsing and the child-process runner. Fast (a few seconds), no peers needed.

    target/bench-venv/bin/python -m unittest discover -s benches/layout -p 'test_*.py'
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import unittest
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402
import graphs  # noqa: E402
import metrics  # noqa: E402


def grid_positions(n):
    a, b, _ = graphs.lattice_dims(n)
    ids = np.arange(n)
    return np.stack([ids % a, (ids // a) % b, ids // (a * b)], axis=1).astype(float)


class MetricsTest(unittest.TestCase):
    def test_path_on_a_line_is_perfect(self):
        n = 200
        edges = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)
        pos = np.stack([np.arange(n) * 7.0, np.zeros(n), np.zeros(n)], axis=1)
        m = metrics.score(n, edges, pos)
        self.assertAlmostEqual(m["stress"], 0.0, places=12)
        self.assertEqual(m["neighbourhood_preservation"], 1.0)
        self.assertAlmostEqual(m["edge_length_cv"], 0.0, places=12)

    def test_invariant_to_scale_rotation_translation(self):
        n = 1000
        edges = graphs.generate("ba", n, 3)
        pos = np.random.default_rng(0).normal(size=(n, 3))
        q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
        a = metrics.score(n, edges, pos)
        b = metrics.score(n, edges, 123.0 * pos @ q + 5.0)
        for k in ("stress", "neighbourhood_preservation", "edge_length_cv"):
            self.assertAlmostEqual(a[k], b[k], places=9, msg=k)

    def test_stress_is_the_optimally_scaled_weighted_stress(self):
        # Compare with a direct evaluation over all pairs on a small graph.
        n = 60
        edges = graphs.generate("workflow", n, 2)
        pos = np.random.default_rng(2).random((n, 3))
        und = metrics.simple_edges(n, edges)
        from scipy.sparse.csgraph import shortest_path
        d = shortest_path(metrics.adjacency(n, und), unweighted=True, directed=False)
        e = np.linalg.norm(pos[:, None] - pos[None], axis=2)
        mask = ~np.eye(n, dtype=bool)
        d, e = d[mask], e[mask]
        w = 1 / d**2
        alpha = (w * d * e).sum() / (w * e * e).sum()
        expected = (w * (alpha * e - d) ** 2).sum() / (w * d * d).sum()
        got = metrics.stress(n, metrics.adjacency(n, und), pos, sources=n)
        self.assertAlmostEqual(got, expected, places=10)
        # and alpha is the minimiser
        for f in (0.99, 1.01):
            other = (w * (f * alpha * e - d) ** 2).sum() / (w * d * d).sum()
            self.assertGreater(other, expected)

    def test_grid_layout_beats_random_on_lattice(self):
        n = 1000
        edges = graphs.generate("lattice", n)
        good = metrics.score(n, edges, grid_positions(n))
        bad = metrics.score(n, edges, np.random.default_rng(0).random((n, 3)))
        self.assertEqual(good["neighbourhood_preservation"], 1.0)
        self.assertEqual(good["edge_length_cv"], 0.0)
        self.assertLess(good["stress"], 0.05)
        self.assertGreater(bad["stress"], 4 * good["stress"])
        self.assertLess(bad["neighbourhood_preservation"], 0.05)

    def test_neighbourhood_preservation_partial(self):
        # Star 0-{1,2}: node 0's nearest two points are 1 and 3 -> 1/2.
        edges = np.array([[0, 1], [0, 2]])
        pos = np.array([[0, 0, 0], [1, 0, 0], [5, 0, 0], [0, 1.5, 0]], dtype=float)
        und = metrics.simple_edges(4, edges)
        # node 0: {1,3} vs {1,2} -> 0.5; node 1 (k=1): nearest is 0 -> 1; node 2 (k=1): nearest is 1 -> 0
        self.assertAlmostEqual(metrics.neighbourhood_preservation(4, und, pos), (0.5 + 1 + 0) / 3)

    def test_coincident_points_do_not_count_extra_neighbours(self):
        edges = np.array([[0, 1], [2, 3]])
        pos = np.zeros((4, 3))
        value = metrics.neighbourhood_preservation(4, metrics.simple_edges(4, edges), pos)
        self.assertGreaterEqual(value, 0.0)
        self.assertLessEqual(value, 1.0)

    def test_non_finite_positions_are_reported(self):
        edges = np.array([[0, 1]])
        m = metrics.score(2, edges, np.array([[0, 0, 0], [np.nan, 0, 0]]))
        self.assertIsNone(m["stress"])
        self.assertIn("error", m)


class IoTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def test_edgelist_header_and_comments(self):
        p = self.dir / "g.txt"
        p.write_text("# nodes 5\n# a comment\n0 1\n\n1 2  # trailing\n")
        n, e = metrics.read_edgelist(p)
        self.assertEqual(n, 5)
        self.assertEqual(e.tolist(), [[0, 1], [1, 2]])

    def test_edgelist_errors_name_the_line(self):
        p = self.dir / "g.txt"
        p.write_text("0 1\n1 2 3\n")
        with self.assertRaisesRegex(metrics.InputError, r":2: expected"):
            metrics.read_edgelist(p)
        p.write_text("# nodes 2\n0 5\n")
        with self.assertRaisesRegex(metrics.InputError, "nodes 2"):
            metrics.read_edgelist(p)

    def test_positions_formats(self):
        pos = np.arange(9, dtype=float).reshape(3, 3)
        txt = self.dir / "p.txt"
        metrics.write_positions(txt, pos)
        np.testing.assert_array_equal(metrics.read_positions(txt, 3), pos)
        for payload in (pos.tolist(), pos.ravel().tolist(), {"positions": pos.tolist()}):
            j = self.dir / "p.json"
            j.write_text(json.dumps(payload))
            np.testing.assert_array_equal(metrics.read_positions(j, 3), pos)
        with self.assertRaisesRegex(metrics.InputError, "3 positions for 4 nodes"):
            metrics.read_positions(txt, 4)

    def test_cli(self):
        g = self.dir / "g.txt"
        n = 1000
        metrics.write_edgelist(g, n, graphs.generate("lattice", n))
        p = self.dir / "p.txt"
        metrics.write_positions(p, grid_positions(n))
        import subprocess
        out = subprocess.run([sys.executable, str(Path(metrics.__file__)), str(g), str(p)],
                             capture_output=True, text=True, check=True).stdout
        m = json.loads(out)
        self.assertEqual(m["neighbourhood_preservation"], 1.0)
        bad = subprocess.run([sys.executable, str(Path(metrics.__file__)), str(g), str(g)],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("error", bad.stderr)


class GraphsTest(unittest.TestCase):
    def test_families_exact_size_connected_deterministic(self):
        for fam in graphs.FAMILIES:
            for n in (1000, 10_000):
                e1 = graphs.generate(fam, n, 7)
                e2 = graphs.generate(fam, n, 7)
                np.testing.assert_array_equal(e1, e2)
                self.assertEqual(int(e1.max()) + 1, n, fam)
                und = metrics.simple_edges(n, e1)
                self.assertEqual(len(und), len(e1), f"{fam}: duplicate edges or self-loops")
                ncomp, _ = connected_components(metrics.adjacency(n, und))
                self.assertEqual(ncomp, 1, fam)

    def test_seed_changes_random_families(self):
        for fam in ("ba", "workflow"):
            self.assertFalse(np.array_equal(graphs.generate(fam, 1000, 1), graphs.generate(fam, 1000, 2)))

    def test_ba_degrees(self):
        n = 10_000
        e = graphs.generate("ba", n, 1)
        self.assertEqual(len(e), 3 + 2 * (n - 3))
        deg = np.bincount(e.ravel())
        self.assertEqual(deg.min(), 2)
        self.assertGreater(deg.max(), 100)  # hubs

    def test_lattice_dims(self):
        self.assertEqual(graphs.lattice_dims(1000), (10, 10, 10))
        self.assertEqual(graphs.lattice_dims(100_000), (40, 50, 50))
        a, b, c = graphs.lattice_dims(10_007)  # prime: cube with a partial layer
        self.assertGreaterEqual(a * b * c, 10_007)
        self.assertLessEqual(max(a, b, c) / min(a, b, c), 2)

    def test_workflow_is_a_dag_of_nested_clusters(self):
        n = 5000
        edges, member = graphs.workflow(n, 4)
        self.assertTrue((edges[:, 0] != edges[:, 1]).all())
        # acyclic: ids are issued so that every edge goes forward... or check with a topological sort
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components as cc
        g = csr_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
        nstrong, _ = cc(g, directed=True, connection="strong")
        self.assertEqual(nstrong, n)  # no directed cycle
        sizes = np.bincount(member[:, 0])
        self.assertTrue(((sizes >= 10) & (sizes <= 50)).all())
        same_leaf = member[edges[:, 0], 0] == member[edges[:, 1], 0]
        self.assertGreater(same_leaf.mean(), 0.85)  # inter-cluster edges are sparse
        self.assertGreater(len(np.unique(member[:, 2])), 1)


class SfdpParseTest(unittest.TestCase):
    def test_parses_3d_pos_and_ignores_edges(self):
        text = (
            'graph G {\n\tgraph [bb="0,0,1,1", dim=3, dimen=3];\n\tnode [label="\\N"];\n'
            '\t0\t[height=0.5,\n\t\tpos="27,44.346,-101.81",\n\t\twidth=0.75];\n'
            '\t1\t[height=0.5,\n\t\tpos="28.797,18,-46.249",\n\t\twidth=0.75];\n'
            '\t0 -- 1\t[pos="28.2,26.3 28.2,26.1 28.2,26.0 28.3,25.9"];\n}\n'
        )
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "o.dot"
            p.write_text(text)
            pos = compare.Sfdp(None).positions(p, 2)
        np.testing.assert_allclose(pos, [[27, 44.346, -101.81], [28.797, 18, -46.249]])


class RunnerTest(unittest.TestCase):
    def test_cpu_time_and_timeout(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            busy = [sys.executable, "-c", "import time\nt=time.process_time()\nwhile time.process_time()-t<0.3: pass"]
            r = compare.run_child(busy, 30, d / "o", d / "e")
            self.assertFalse(r["timed_out"])
            self.assertEqual(r["rc"], 0)
            self.assertGreater(r["cpu_s"], 0.25)
            t0 = time.perf_counter()
            r = compare.run_child(["sleep", "20"], 0.5, d / "o", d / "e")
            self.assertTrue(r["timed_out"])
            self.assertLess(time.perf_counter() - t0, 5)
            r = compare.run_child([sys.executable, "-c", "import sys; sys.exit(3)"], 30, d / "o", d / "e")
            self.assertEqual(r["rc"], 3)

    def test_peak_rss_is_the_childs_own(self):
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            big = [sys.executable, "-c", "import time\nb = b\"x\" * (300 << 20)\ntime.sleep(0.3)"]
            r = compare.run_child(big, 30, d / "o", d / "e")
            self.assertGreater(r["maxrss_mb"], 290)
            r = compare.run_child(["sleep", "0.3"], 30, d / "o", d / "e")
            self.assertLess(r["maxrss_mb"], 20)


if __name__ == "__main__":
    unittest.main()
