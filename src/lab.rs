//! A disposable fleet of real OpenSSH `sshd` nodes on loopback (127.0.0.2, 127.0.0.3, …), each
//! with its own data directory, for the demo, the examples and the test suite.
