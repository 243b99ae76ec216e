"""Z-order of query points (source/query_order.py) against a bit-by-bit reference."""
import numpy as np

from source.query_order import BITS, spatial_order


def _reference_order(Q):
    """Each point's cell on a 1024^3 grid over the points' bounding cube, its bits interleaved one at a time
    (x to bit 3i, y to 3i + 1, z to 3i + 2), then a stable sort by that code."""
    lo = Q.min(0)
    size = (Q.max(0) - lo).max()
    codes = []
    for q in Q:
        cell = [min(int((q[d] - lo[d]) * ((2**BITS - 1) / size)), 2**BITS - 1) if size > 0 else 0 for d in range(3)]
        codes.append(sum(((cell[d] >> i) & 1) << (3 * i + d) for i in range(BITS) for d in range(3)))
    return np.array(sorted(range(len(Q)), key=lambda i: codes[i]))


def test_spatial_order_is_the_z_order_of_the_grid_cells():
    rng = np.random.default_rng(0)
    clouds = [rng.normal(size=(3000, 3)),
              np.repeat(rng.uniform(size=(300, 3)), 4, axis=0),  # points repeated: ties keep their order
              np.c_[rng.uniform(size=(500, 2)), np.zeros(500)],  # flat along z
              np.ones((5, 3)),  # one point five times: no extent at all
              rng.uniform(size=(1, 3)), np.zeros((0, 3))]
    for Q in clouds:
        order = spatial_order(Q)
        assert order.dtype == np.int64 and len(order) == len(Q)
        if len(Q) > 1:
            np.testing.assert_array_equal(order, _reference_order(Q))


def test_spatial_order_puts_neighbours_next_to_each_other():
    Q = np.random.default_rng(1).uniform(-1, 1, size=(20_000, 3))
    step = lambda P: np.linalg.norm(np.diff(P, axis=0), axis=1).mean()
    # random points in a cube are about 1.3 apart on average; in Z-order a few times the cells' spacing
    assert step(Q[spatial_order(Q)]) < 0.1 * step(Q)
