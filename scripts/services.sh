#!/usr/bin/env bash
# Services the test suite needs, installed from Debian's packages when missing and started on
# 127.0.0.1 only. Nothing is needed yet beyond Python; Redis, PostgreSQL and Chromium join
# this script with the issues that use them. With CI=true a missing service is a failure.
set -euo pipefail
echo "services: none required yet"
