"""Great-circle distances."""

import pytest

from solver.geo import km_between

PARIS = (48.8566, 2.3522)  # Hôtel de Ville
LYON = (45.7640, 4.8357)  # Place Bellecour area


def test_paris_to_lyon_is_about_392_km() -> None:
    assert km_between(*PARIS, *LYON) == pytest.approx(392, abs=2)


def test_same_point_is_zero() -> None:
    assert km_between(*PARIS, *PARIS) == 0


def test_symmetric() -> None:
    assert km_between(*PARIS, *LYON) == km_between(*LYON, *PARIS)


def test_one_degree_of_latitude_is_about_111_km() -> None:
    assert km_between(48.0, 2.0, 49.0, 2.0) == pytest.approx(111.195, abs=0.01)
