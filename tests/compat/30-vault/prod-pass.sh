#!/bin/sh
# The prod vault id password, from a script (stdout is the password).
echo prod-vault-pass
