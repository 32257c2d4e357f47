"""Real services for the tests: each starts on a free loopback port in a temp dir and stops by pid."""
