#!/bin/sh
# Run by the `script` module: drover uploads it to a private temp file on the node.
set -e
echo "installed $1" > "$2"
