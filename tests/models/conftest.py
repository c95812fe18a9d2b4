"""Fixtures of the oracle (``tests/oracle.py``): the authors' checkpoints and models, built once."""
import pytest
from oracle import upstream


@pytest.fixture(scope="session")
def oracle_dirs(tmp_path_factory) -> dict:
    """{family: checkpoint directory} of the default tiny build (2 layers, hidden 64, real vocabularies)."""
    return upstream().build(tmp_path_factory.mktemp("upstream"))


@pytest.fixture(scope="session")
def authors(oracle_dirs):
    """The authors' model of a family (fp32 or another dtype), loaded once each."""
    loaded = {}

    def get(family, dtype=None):
        if (family, dtype) not in loaded:
            loaded[family, dtype] = upstream().load_reference(oracle_dirs[family], dtype=dtype)
        return loaded[family, dtype]
    return get
