"""What the test modules share: stacks, fakes of the outside world, and the steps of a
conversation. Fixtures are in conftest.py; test modules import helpers from here only."""
