//! known_hosts matching as OpenSSH does it: hashed names, `[host]:port`, wildcards and
//! negation, `@revoked`, `@cert-authority`; file and line of the entry kept for messages.
