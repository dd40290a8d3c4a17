import contextlib
import os
import sys
from pathlib import Path

import pytest

# tests/helpers is importable as `helpers` from every test directory.
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("HYPOTHESIS_PROFILE", "default")


@pytest.fixture
def make_net():
    """Test nets for one test: ``net = make_net(["server", "client"])`` (a helpers.netns.TestNet).
    Skips (fails under APPLIANCE_REQUIRE_INTEGRATION=1) without root and namespaces; every net is
    removed at teardown, whether the test passed or failed."""
    from helpers.netns import TestNet
    from helpers.requirements import require_root_netns

    require_root_netns()
    with contextlib.ExitStack() as stack:
        yield lambda names, **kw: stack.enter_context(TestNet(names, **kw))
